"""Measurement splitting (SSDU) as a fine-tuning regime: the splits are disjoint and cover the
mask, the network sees the input set only, the loss scores every measured entry (or, as SSDU,
the held-out ones only), the regime sees test measurements only (no ground truth, no teacher,
MRI only), and the paper's regimes keep their cache keys."""
import copy

import pytest
import torch
from conftest import Spy

from spadelib import finetune as ft
from spadelib.checkpoints import config_key, data_digest, state_digest
from spadelib import splitting as selfsup  # measurement splitting, a regime of the core
from spadelib.data import MRIMeasurement
from spadelib.models import build
from spadelib.models.deq import build_deq
from spadelib.physics.masks import cartesian_mask
from spadelib.presets import get_preset
from spadelib.tasks import task_of

KW = dict(device="cpu", progress=False)
REGIME = "self-supervised-split"


@pytest.fixture
def P():
    return get_preset("quick").replace(mri_size=(16, 16), mri_coils=2, finetune_epochs=1,
                                       train_batch=2, finetune_lr=1e-3)


@pytest.fixture
def samples(P):
    """Four random 16x16 two-coil samples (with a random "ground truth")."""
    return task_of("deq").random_samples(P, n=4, seed=3)


def _tiny_deq(P):
    torch.manual_seed(0)
    return build_deq(P.replace(deq_blocks=1, deq_features=4), max_iter=5, tol=1e-9)


def _tiny_varnet(P):
    torch.manual_seed(0)
    return build("varnet", P.replace(varnet_cascades=1, varnet_chans=2, varnet_pools=1))


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


class _Stop(Exception):
    pass


def _masks(width=32, batch=3):
    """1D Cartesian masks at 16.7 % with different offsets, ``(B, 1, 1, W, 1)``."""
    return torch.stack([cartesian_mask(width, 0.167, seed=s) for s in range(batch)])


# ------------------------------------------------------------------------------ the split
@pytest.mark.parametrize("unit", ["points", "lines"])
@pytest.mark.parametrize("keep_centre", [True, False])
def test_the_two_sets_are_disjoint_cover_the_mask_and_are_drawn_afresh(unit, keep_centre):
    mask, h = _masks(), 16
    gen = torch.Generator().manual_seed(0)
    theta, lam = selfsup.split_mask(mask, h, 0.4, unit, keep_centre, gen)
    rows = 1 if unit == "lines" else h
    assert theta.shape == lam.shape == (3, 1, rows, 32, 1) and theta.dtype == mask.dtype
    omega = torch.broadcast_to(mask != 0, theta.shape)
    assert not (theta.bool() & lam.bool()).any()                     # disjoint
    assert torch.equal(theta.bool() | lam.bool(), omega)              # together: the mask
    centre = torch.broadcast_to(selfsup.centre_lines(mask), theta.shape)
    assert centre[:, 0, 0, :, 0].sum(1).tolist() == [3, 3, 3]        # 10 % of 32 columns
    free = omega & ~centre if keep_centre else omega
    for b in range(3):                                                # round(0.4 n) scored on
        assert lam[b].sum() == round(0.4 * int(free[b].sum()))
    if keep_centre:
        assert theta.bool()[centre].all() and not lam.bool()[centre].any()
    else:
        assert lam.bool()[centre].any()
    # seeded, and a fresh split at every draw
    again = selfsup.split_mask(mask, h, 0.4, unit, keep_centre, torch.Generator().manual_seed(0))
    assert torch.equal(again[1], lam)
    draws = [selfsup.split_mask(mask, h, 0.4, unit, keep_centre, gen)[1] for _ in range(3)]
    assert any(not torch.equal(d, lam) for d in draws)


def test_a_mask_too_sparse_to_split_is_refused_with_a_way_out():
    mask = torch.zeros(1, 1, 1, 16, 1)
    mask[..., 7:9, :] = 1                                            # the centre only
    mask[..., 12, :] = 1                                             # one outer line
    with pytest.raises(ValueError, match=r"too few sampled lines to split \(1 with "
                                         "keep_centre=True.*split_unit='points' or "
                                         "keep_centre=False"):
        selfsup.split_mask(mask, 16, unit="lines")
    theta, lam = selfsup.split_mask(mask, 16, unit="points")         # 16 entries of that line
    assert lam.sum() == round(0.4 * 16) and lam[..., 7:9, :].sum() == 0
    with pytest.raises(ValueError, match="split_fraction must be a finite number in"):
        selfsup.split_mask(mask, 16, fraction=1.0)
    with pytest.raises(ValueError, match="unknown split_unit 'rows'"):
        selfsup.split_mask(mask, 16, unit="rows")


def test_the_split_measurement_holds_the_input_set_only(samples):
    m = samples.measurements_only().batch([0, 1])
    m_theta, lam = selfsup.split_measurement(m, generator=torch.Generator().manual_seed(1))
    assert type(m_theta) is MRIMeasurement and m_theta.coil_maps is m.coil_maps
    theta = m_theta.mask.bool().expand_as(m.kspace)
    assert torch.equal(m_theta.kspace[theta], m.kspace[theta])
    assert not m_theta.kspace[~theta].any()                           # nothing of Lambda
    assert m.kspace[lam.bool().expand_as(m.kspace)].abs().sum() > 0   # ... which holds data


# ------------------------------------------------------------------------------ the loss
def test_the_loss_scores_every_measured_entry_by_default_with_the_samples_own_operator(
        samples):
    m = samples.measurements_only().batch([0, 1, 2])
    x = torch.randn(3, 2, 16, 16)
    spy = Spy(x)
    loss, terms = selfsup.split_loss(spy, m, "l1", generator=torch.Generator().manual_seed(2),
                                     return_terms=True)
    (seen,) = spy.seen                                     # one forward pass, from Theta only
    assert torch.equal(seen.mask, terms["input_mask"]) and terms["equivariance"] is None
    assert not torch.equal(seen.mask.expand_as(m.kspace), m.mask.expand_as(m.kspace))
    assert torch.equal(terms["loss_mask"], m.mask)          # scored on all of Omega ...
    residual = m.physics().A(x) - m.kspace
    omega = m.mask.bool().expand_as(m.kspace)
    assert torch.allclose(loss, residual[omega].abs().mean())
    assert not torch.allclose(loss, residual.abs().mean())  # ... and on nothing else
    assert not torch.equal(terms["held_out_mask"][0], terms["held_out_mask"][1])  # per sample
    loss.backward()
    assert spy.images.grad.abs().sum() > 0
    # = the input entries (eq. 9's data fidelity) and the held-out ones (the prediction task),
    # each weighted by its count
    theta = terms["input_mask"].bool().expand_as(m.kspace)
    lam = terms["held_out_mask"].bool().expand_as(m.kspace)
    assert lam.any() and theta.any() and torch.equal(theta | lam, omega)
    on_theta, on_lam = residual[theta].abs(), residual[lam].abs()
    assert torch.allclose(loss, (on_theta.sum() + on_lam.sum()) / (theta.sum() + lam.sum()))


def test_the_held_out_scoring_scores_lambda_only(samples):
    m = samples.measurements_only().batch([0, 1, 2])
    x = torch.randn(3, 2, 16, 16)
    gen = dict(generator=torch.Generator().manual_seed(2))
    loss, terms = selfsup.split_loss(Spy(x), m, "l1", score="held-out", return_terms=True,
                                     **gen)
    measured, mterms = selfsup.split_loss(Spy(x), m, "l1", return_terms=True,
                                          generator=torch.Generator().manual_seed(2))
    # the same split (same generator state), only the scored set differs
    assert torch.equal(terms["input_mask"], mterms["input_mask"])
    assert torch.equal(terms["loss_mask"], terms["held_out_mask"])
    lam = terms["held_out_mask"].bool().expand_as(m.kspace)
    residual = m.physics().A(x) - m.kspace
    assert torch.allclose(loss, residual[lam].abs().mean())
    assert not torch.allclose(loss, measured)
    theta = terms["input_mask"].bool().expand_as(m.kspace)
    assert not (lam & theta).any()                           # none of what the net was given
    l2 = selfsup.split_loss(Spy(x), m, "l2", score="held-out",
                            generator=torch.Generator().manual_seed(2))
    assert torch.allclose(l2, residual[lam].pow(2).mean())
    with pytest.raises(ValueError, match="unknown split_score 'input'"):
        selfsup.split_loss(Spy(x), m, score="input")


def test_the_equivariance_term_adds_a_pass_with_the_full_operator(samples):
    m = samples.measurements_only().batch([0, 1, 2])
    x = torch.randn(3, 2, 16, 16)
    spy2 = Spy(x)
    loss2, terms2 = selfsup.split_loss(spy2, m, "l1", ei_weight=0.5, return_terms=True,
                                       generator=torch.Generator().manual_seed(2))
    assert len(spy2.seen) == 2 and torch.equal(spy2.seen[1].mask, m.mask)
    assert torch.allclose(loss2, terms2["split"] + 0.5 * terms2["equivariance"])


def test_the_loss_refuses_ground_truth_before_the_network_runs(samples, P):
    spy = Spy(torch.zeros(2, 2, 16, 16))
    with pytest.raises(ValueError, match=f"{REGIME} fine-tuning never sees ground truth"):
        selfsup.split_loss(spy, samples.batch([0, 1]))                # a batch with targets
    sr = task_of("usrnet").random_samples(
        P.replace(sr_size=16, sr_scale=2), n=2).measurements_only()
    with pytest.raises(ValueError, match="applies to MRI only"):
        selfsup.split_loss(spy, sr.batch([0, 1]))
    assert not spy.seen


# ------------------------------------------------------------------------------ the regime
def test_the_regime_refuses_ground_truth_a_teacher_val_data_and_sr(samples, P, data_dir):
    deq = _tiny_deq(P)
    meas = samples.measurements_only()
    with pytest.raises(ValueError, match=f"{REGIME} fine-tuning never sees ground truth: pass "
                                         r"split.measurements_only\(\)"):
        ft.finetune(deq, REGIME, data=samples, preset=P, **KW)
    with pytest.raises(ValueError, match=f"{REGIME} fine-tuning assumes no pre-trained model "
                                         "is available and takes no teacher"):
        ft.finetune(deq, REGIME, data=meas, teacher=copy.deepcopy(deq), preset=P, **KW)
    with pytest.raises(ValueError, match="takes no val_data"):
        ft.finetune(deq, REGIME, data=meas, val_data=samples, preset=P, **KW)
    sr = task_of("usrnet").random_samples(P.replace(sr_size=16, sr_scale=2), n=2)
    with pytest.raises(ValueError, match="applies to MRI only.*regime='self-supervised'"):
        ft.finetune(deq, REGIME, data=sr.measurements_only(), preset=P, **KW)
    with pytest.raises(ValueError, match="split_fraction must be"):
        ft.finetune(deq, REGIME, data=meas, split_fraction=0, preset=P, **KW)
    with pytest.raises(ValueError, match="unknown split_score 'lambda'"):
        ft.finetune(deq, REGIME, data=meas, split_score="lambda", preset=P, **KW)
    assert not list(data_dir.glob("finetune-*"))                     # nothing ran


@pytest.mark.parametrize("network", ["deq", "varnet"])
def test_the_regime_learns_from_measurements_only(network, samples, P, data_dir):
    net = _tiny_deq(P) if network == "deq" else _tiny_varnet(P)
    before = _state(net)
    meas = samples.measurements_only()              # what runner.cell_network passes it
    tuned, hist = ft.finetune(net, REGIME, data=meas, preset=P, **KW)
    assert len(hist.loss) == 1 and hist.loss[0] > 0 and not tuned.training
    assert any(not torch.equal(before[k], v) for k, v in _state(tuned).items())
    assert all(torch.equal(before[k], v) for k, v in _state(net).items())   # input untouched
    (path,) = data_dir.glob(f"finetune-{REGIME}-*.pt")
    again, _ = ft.finetune(net, REGIME, data=meas, preset=P, **KW)           # from the cache
    assert all(torch.equal(v, _state(again)[k]) for k, v in _state(tuned).items())


@pytest.mark.determinism
def test_the_split_options_enter_the_key(samples, P, data_dir, monkeypatch):
    keys = []

    def spy(path, pruned, config):
        keys.append(path.name)
        raise _Stop

    monkeypatch.setattr(ft, "_from_cache", spy)
    meas, deq = samples.measurements_only(), _tiny_deq(P)
    for options in ({}, {"split_fraction": 0.25}, {"split_unit": "lines"},
                    {"keep_centre": False}, {"ei_weight": 1.0}, {"split_score": "held-out"},
                    {"rotations": "any"}, {"split_score": "measured"}):
        with pytest.raises(_Stop):
            ft.finetune(deq, REGIME, data=meas, preset=P, **options, **KW)
    assert all(k.startswith(f"finetune-{REGIME}-") for k in keys)
    assert len(set(keys[:6])) == 6                          # each option changes the key
    assert keys[6] == keys[0] and keys[7] == keys[0]    # rotations: not its; "measured": default


def test_the_held_out_regime_scores_as_ssdu_and_refuses_the_other_scoring(samples, P, data_dir,
                                                                          monkeypatch):
    """``self-supervised-split-held-out`` is the split regime with SSDU's scoring: its loss gets
    ``score="held-out"`` unasked, and ``split_score="measured"`` is refused."""
    from spadelib import splitting as selfsup  # measurement splitting, a regime of the core

    scores, keys = [], []

    def spy(path, pruned, config):
        keys.append(path.name)
        return None                                      # not cached: fine-tune

    def fit(net, data, loss_fn, config, **kw):
        loss_fn(net, data.batch(range(2)))
        raise _Stop

    real = selfsup.split_loss
    monkeypatch.setattr(selfsup, "split_loss", lambda *a, score, **k: scores.append(score)
                        or real(*a, score=score, **k))
    monkeypatch.setattr(ft, "_from_cache", spy)
    monkeypatch.setattr(ft, "fit", fit)
    meas, deq = samples.measurements_only(), _tiny_deq(P)
    for regime in (selfsup.HELD_OUT_REGIME, REGIME):
        with pytest.raises(_Stop):
            ft.finetune(deq, regime, data=meas, preset=P, **KW)
    assert scores == ["held-out", "measured"]
    assert keys[0].startswith(f"finetune-{selfsup.HELD_OUT_REGIME}-") and keys[0] != keys[1]
    with pytest.raises(ValueError, match="held-out entries"):
        ft.finetune(deq, selfsup.HELD_OUT_REGIME, data=meas, preset=P, split_score="measured",
                    **KW)


# ------------------------------------------------------------------------------ cache keys
@pytest.mark.determinism
def test_the_paper_regimes_keep_their_cache_keys(samples, P, data_dir, monkeypatch):
    """Adding the split regime must not send any cached run of the paper's regimes to be
    fine-tuned again. A key hashes the digests of the network and the data, whose float bits
    differ between CPUs, so the test pins what is exact on every machine: each key is the hash
    of its configuration; the digests in it are those of this call's network, data and teacher;
    and with the digests replaced by fixed names, the configurations and their hashes are those
    of spadelib/finetune.py as it was before the split regime was added (commit d0c969f)."""
    seen = []

    def spy(path, pruned, config):
        seen.append((path.name, config))
        raise _Stop

    monkeypatch.setattr(ft, "_from_cache", spy)
    deq = _tiny_deq(P)
    torch.manual_seed(5)
    teacher = build_deq(P.replace(deq_blocks=1, deq_features=4), max_iter=5, tol=1e-9)
    meas = samples.measurements_only()
    for regime, kw in [("supervised", dict(data=samples)),
                       ("school", dict(data=meas, teacher=teacher)),
                       ("self-supervised", dict(data=meas)),
                       ("self-supervised", dict(data=meas, rotations="any", loss="l2"))]:
        with pytest.raises(_Stop):
            ft.finetune(deq, regime, preset=P, **kw, **KW)
    names = {state_digest(deq): "NET", state_digest(teacher): "TEACHER",
             data_digest(samples): "SAMPLES", data_digest(meas): "MEASUREMENTS", None: None}
    fixed = []
    for path, config in seen:
        assert path == f"finetune-{config['regime']}-{config_key(config)}.pt"
        fixed.append({k: names[v] if k in ("network", "data", "val", "teacher") else v
                      for k, v in config.items()})
    budget = {"epochs": 1, "batch_size": 2, "lr": 0.001, "seed": 0, "grad_clip": 1.0,
              "schedule": "constant"}
    ei = {"rotations": "90", "rotate_coil_maps": True, "data_fidelity": "measured entries"}
    assert fixed == [
        {"v": 1, "regime": "supervised", "network": "NET", "options": {"loss": "l1"},
         "budget": budget, "data": "SAMPLES", "val": None, "teacher": None},
        {"v": 1, "regime": "school", "network": "NET", "options": {"loss": "l1"},
         "budget": budget, "data": "MEASUREMENTS", "val": None, "teacher": "TEACHER"},
        {"v": 1, "regime": "self-supervised", "network": "NET", "options": {"loss": "l1", **ei},
         "budget": budget, "data": "MEASUREMENTS", "val": None, "teacher": None},
        {"v": 1, "regime": "self-supervised", "network": "NET",
         "options": {"loss": "l2", **ei, "rotations": "any"}, "budget": budget,
         "data": "MEASUREMENTS", "val": None, "teacher": None}]
    # JSON and SHA-1 of exact values: the same hex on every machine
    assert [config_key(c) for c in fixed] == ["671aa4066df7", "4dd97df536ad", "69838a34bb75",
                                              "6cd5ce306684"]


def test_runner_cell_network_hands_the_regime_measurements_only(tiny_varnet_preset, data_dir,
                                                               monkeypatch):
    """The grid runs the regime through cell_network unchanged: it gets the test split's
    measurements only, no teacher, and the preset's fine-tuning epochs (as self-supervised)."""
    import spadelib.experiments.grid as G
    import spadelib.experiments.runner as R
    from spadelib import zoo
    from spadelib.tasks import MRI

    P, seen = tiny_varnet_preset, {}

    def fake(net, regime, *, data, epochs=None, **kwargs):
        seen[regime] = (data.sample_type, len(data), epochs, kwargs.get("teacher"))
        return net, None

    torch.manual_seed(0)
    monkeypatch.setattr(zoo, "pretrained", lambda *a, **k: build("varnet", P).eval())
    monkeypatch.setattr(ft, "finetune", fake)
    monkeypatch.setattr(G, "REGIMES", tuple(dict.fromkeys((*G.REGIMES, REGIME))))
    for regime in (REGIME, "self-supervised"):
        R.cell_network(G.Cell("varnet", 0.167, 0.4, regime), P, device="cpu")
    assert seen[REGIME] == (MRIMeasurement, len(MRI.test_data(P)), None, None)
    assert seen[REGIME] == seen["self-supervised"]
