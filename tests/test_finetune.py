"""SPADE's fine-tuning regimes: each runs and learns, sees only what it may, caches its result."""
import copy
import dataclasses

import pytest
import torch
from torch import nn

from spadelib import finetune as ft
from spadelib.data import MRIMeasurement, mri_dataset, sr_dataset
from spadelib.metrics import count_parameters
from spadelib.models import USRNet, build
from spadelib.physics.mri import MultiCoilMRI
from spadelib.presets import get_preset


@pytest.fixture
def P():
    return get_preset("quick").replace(
        mri_size=(32, 32), mri_subjects=(2, 1, 1), mri_slices_per_subject=2, espirit_calib=12,
        varnet_cascades=1, varnet_chans=4, varnet_pools=1, train_batch=2, train_minutes=None,
        finetune_epochs=1, finetune_lr=1e-3)


@pytest.fixture
def mri(P, data_dir):
    return {"train": mri_dataset("train", P, progress=False),
            "test": mri_dataset("test", P, progress=False)}


@pytest.fixture
def teacher(P):
    torch.manual_seed(0)
    return build("varnet", P).eval()


@pytest.fixture
def pruned(P):
    """A stand-in for a pruned network: the same VarNet, narrower."""
    torch.manual_seed(1)
    return build("varnet", P.replace(varnet_chans=3))


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _changed(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


KW = dict(device="cpu", progress=False)


# ------------------------------------------------------------------------------ the regimes
@pytest.mark.parametrize("regime", ft.REGIMES)
def test_each_regime_learns_and_leaves_the_input_alone(regime, mri, teacher, pruned, P):
    before, teacher_before = _state(pruned), _state(teacher)
    data = mri["train"] if regime == "supervised" else mri["test"].measurements_only()
    net, hist = ft.finetune(pruned, regime, data=data, preset=P, cache=False,
                            teacher=teacher if regime == "school" else None, **KW)
    assert net is not pruned and len(hist.loss) == 1 and hist.loss[0] > 0
    assert _changed(before, _state(net))
    assert not _changed(before, _state(pruned))            # the input network is untouched
    assert not _changed(teacher_before, _state(teacher)) and not teacher.training
    assert not net.training and net.history is hist


def test_sr_regimes_with_usrnet(data_dir):
    P = get_preset("quick").replace(sr_size=36, train_batch=2, train_minutes=None,
                                    finetune_epochs=1, finetune_lr=1e-3)
    data = sr_dataset("test", P, scale=2, kernels=[0, 9])            # 2 photos x 2 kernels
    torch.manual_seed(0)
    teacher = USRNet(channels=(4, 4, 4, 4), blocks=1, iters=2).eval()
    student = USRNet(channels=(2, 2, 2, 2), blocks=1, iters=2)
    before = _state(student)
    for regime in ("school", "self-supervised"):
        net, hist = ft.finetune(student, regime, data=data.measurements_only(), preset=P,
                                teacher=teacher if regime == "school" else None, cache=False,
                                **KW)
        assert _changed(before, _state(net)) and hist.loss[0] > 0
    assert not _changed(before, _state(student))
    with pytest.raises(ValueError, match="exact rotations only"):
        ft.finetune(student, "self-supervised", data=data.measurements_only(), preset=P,
                    rotations="any", cache=False, **KW)
    with pytest.raises(ValueError, match="MRI only"):
        ft.finetune(student, "self-supervised", data=data.measurements_only(), preset=P,
                    rotate_coil_maps=True, cache=False, **KW)


# ------------------------------------------------------------------------------ the rules
def test_ground_truth_is_refused_where_it_may_not_be_seen(mri, teacher, pruned, P):
    with_gt = mri["test"]
    with pytest.raises(ValueError, match=r"school fine-tuning never sees ground truth: pass "
                                         r"split.measurements_only\(\)"):
        ft.finetune(pruned, "school", data=with_gt, teacher=teacher, preset=P, **KW)
    with pytest.raises(ValueError, match="self-supervised fine-tuning never sees ground truth"):
        ft.finetune(pruned, "self-supervised", data=with_gt, preset=P, **KW)
    batch = with_gt.batch([0, 1])                                   # a batch with targets
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.self_supervised_loss(pruned, batch)
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.school_loss(pruned, batch)
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.with_teacher_outputs(with_gt, torch.zeros(len(with_gt), 2, 32, 32))
    with pytest.raises(ValueError, match="needs training pairs with ground truth"):
        ft.finetune(pruned, "supervised", data=with_gt.measurements_only(), preset=P, **KW)


def test_clear_errors(mri, teacher, pruned, P):
    meas = mri["test"].measurements_only()
    with pytest.raises(ValueError, match="school fine-tuning needs teacher="):
        ft.finetune(pruned, "school", data=meas, preset=P, **KW)
    with pytest.raises(ValueError, match="self-supervised .* takes no teacher"):
        ft.finetune(pruned, "self-supervised", data=meas, teacher=teacher, preset=P, **KW)
    with pytest.raises(ValueError, match="supervised fine-tuning .* takes no teacher"):
        ft.finetune(pruned, "supervised", data=mri["train"], teacher=teacher, preset=P, **KW)
    with pytest.raises(ValueError, match=r"unknown fine-tuning regime 'distill'; choose one of "
                                         r"supervised, school, self-supervised"):
        ft.finetune(pruned, "distill", data=meas, preset=P, **KW)
    with pytest.raises(ValueError, match="takes no val_data"):
        ft.finetune(pruned, "school", data=meas, teacher=teacher, val_data=mri["test"],
                    preset=P, **KW)
    with pytest.raises(ValueError, match="takes no val_data"):
        ft.finetune(pruned, "self-supervised", data=meas, val_data=mri["test"], preset=P, **KW)
    with pytest.raises(TypeError, match="data must be a SampleSet"):
        ft.finetune(pruned, "supervised", data=list(mri["train"]), preset=P, **KW)
    with pytest.raises(ValueError, match="unknown rotations '45'"):
        ft.finetune(pruned, "self-supervised", data=meas, rotations="45", preset=P, **KW)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        ft.finetune(pruned, "supervised", data=mri["train"], epochs=0, preset=P, **KW)


def test_supervised_validation_keeps_best_epoch(mri, pruned, P):
    _, hist = ft.finetune(pruned, "supervised", data=mri["train"], val_data=mri["test"],
                          epochs=2, preset=P, cache=False, **KW)
    assert len(hist.val_psnr) == 2 and hist.best_epoch in (0, 1)


# ------------------------------------------------------------------------------ eq. (9)
def test_rotations_are_exact_and_never_the_identity():
    x = torch.randn(5, 2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    angles = ft.draw_rotations(5, (8, 8), "90", gen)
    assert set(angles.tolist()) <= {90.0, 180.0, 270.0}
    y = ft.rotate(x, angles)
    assert torch.equal(ft.rotate(y, -angles), x)                    # bit-exact inverse
    assert torch.equal(ft.rotate(x[:1], 90.0), torch.rot90(x[:1], 1, dims=(-2, -1)))
    assert ft.draw_rotations(3, (8, 6), "90", gen).tolist() == [180.0] * 3
    with pytest.raises(ValueError, match="non-square"):
        ft.rotate(torch.zeros(1, 1, 8, 6), 90.0)
    # bilinear path: same sense as rot90, and a 90-degree grid rotation matches it closely
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 1, 6] = 1.0
    near90 = ft.rotate(img, torch.tensor([90.0 + 1e-7]))
    assert torch.allclose(near90, torch.rot90(img, 1, dims=(-2, -1)), atol=1e-4)
    a = ft.draw_rotations(4, (8, 8), "any", gen)
    assert torch.all((a > 0) & (a < 360))


class _Spy(nn.Module):
    """Records the measurements it is given; returns a fixed image per sample."""

    def __init__(self, images):
        super().__init__()
        self.images = nn.Parameter(images.clone())
        self.seen = []

    def forward(self, m):
        self.seen.append(m)
        return self.images * 1.0


@pytest.mark.parametrize("rotate_maps", [False, True])
def test_self_supervised_uses_each_samples_own_operator(mri, rotate_maps):
    batch = mri["test"].measurements_only().batch([0, 1])
    assert not torch.equal(batch.mask[0], batch.mask[1])              # two different masks
    x = torch.randn(2, 2, 32, 32)
    spy = _Spy(x)
    loss, terms = ft.self_supervised_loss(spy, batch, rotate_coil_maps=rotate_maps,
                                          generator=torch.Generator().manual_seed(3),
                                          return_terms=True)
    assert len(spy.seen) == 2 and spy.seen[0] is batch
    second = spy.seen[1]
    assert isinstance(second, MRIMeasurement) and torch.equal(second.mask, batch.mask)
    x_phi = ft.rotate(x, terms["angles"])
    for j in range(2):                                                # A_j, built alone
        maps = batch.coil_maps[j:j + 1]
        if rotate_maps:
            maps = ft.rotate(maps.movedim(-1, 1), terms["angles"][j:j + 1]).movedim(1, -1)
        own = MultiCoilMRI(maps, batch.mask[j:j + 1]).A(x_phi[j:j + 1])
        assert torch.allclose(second.kspace[j:j + 1], own, atol=1e-6)
        assert torch.equal(second.coil_maps[j:j + 1], maps)
        other = MultiCoilMRI(maps, batch.mask[1 - j:2 - j]).A(x_phi[j:j + 1])
        assert not torch.allclose(second.kspace[j:j + 1], other)
    # the two terms are eq. (9)'s, and the gradient reaches the network through both
    # (the data term is a mean over the measured k-space entries only: sampled lines x coils)
    measured = batch.mask.expand_as(batch.kspace) != 0
    df = (batch.physics().A(x) - batch.kspace)[measured].abs().mean()
    assert torch.allclose(terms["data_fidelity"], df)
    assert measured.float().mean() < 0.5          # so a mean over all entries would differ
    assert not torch.allclose(df, (batch.physics().A(x) - batch.kspace).abs().mean())
    assert torch.allclose(terms["equivariance"], (x - x_phi).abs().mean())
    loss.backward()
    assert spy.images.grad is not None and spy.images.grad.abs().sum() > 0


def test_measured_loss_ignores_unsampled_entries_and_refuses_an_empty_mask():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 4, 5, 2, generator=g)
    mask = torch.zeros(2, 1, 1, 5, 1)
    mask[:, ..., 1, :] = 1
    mask[0, ..., 3, :] = 1
    pred = torch.randn(2, 3, 4, 5, 2, generator=g)
    sel = mask.expand_as(y) != 0
    assert torch.allclose(ft.measured_loss(pred, y, mask), (pred - y)[sel].abs().mean())
    assert torch.allclose(ft.measured_loss(pred, y, mask, "l2"), (pred - y)[sel].pow(2).mean())
    garbage = pred.clone()
    garbage[~sel] = 1e6                                # what lies off the mask never counts
    assert torch.allclose(ft.measured_loss(garbage, y, mask), ft.measured_loss(pred, y, mask))
    with pytest.raises(ValueError, match="samples no k-space entry"):
        ft.measured_loss(pred, y, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="unknown loss"):
        ft.measured_loss(pred, y, mask, "huber")


def test_self_supervised_loss_vanishes_for_a_consistent_equivariant_net(mri):
    """A network that returns the exact preimage of noiseless data has zero loss: the DF
    term checks A_j f(y_j) = y_j with each sample's own A_j."""
    batch = mri["test"].measurements_only().batch([0, 1])
    x = torch.randn(2, 2, 32, 32)
    clean = dataclasses.replace(batch, kspace=batch.physics().A(x))

    class Oracle(nn.Module):                      # knows x_phi for any re-measurement
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))
            self.calls = 0

        def forward(self, m):
            self.calls += 1
            if self.calls == 1:
                return x * self.w
            # least-squares image from the measurement: recover x_phi exactly by trying the
            # four quarter turns of x (the oracle knows x, not the angle)
            out = []
            for j in range(m.kspace.shape[0]):
                a = MultiCoilMRI(m.coil_maps[j:j + 1], m.mask[j:j + 1])
                cands = [torch.rot90(x[j:j + 1], k, dims=(-2, -1)) for k in range(4)]
                errs = [(a.A(c) - m.kspace[j:j + 1]).abs().sum() for c in cands]
                out.append(cands[int(torch.stack(errs).argmin())])
            return torch.cat(out) * self.w

    loss = ft.self_supervised_loss(Oracle(), clean)
    assert float(loss.detach()) < 1e-6


# ------------------------------------------------------------------------------ the cache
def test_cache_returns_identical_weights_without_training(mri, teacher, pruned, P, data_dir,
                                                          monkeypatch):
    meas = mri["test"].measurements_only()
    net1, h1 = ft.finetune(pruned, "school", data=meas, teacher=teacher, preset=P, **KW)
    files = list(data_dir.glob("finetune-school-*.pt"))
    assert len(files) == 1 and not list(data_dir.glob("*.partial"))
    stamp = files[0].stat().st_mtime_ns
    calls, teacher_runs = [], []
    real_loss, real_teacher = ft.school_loss, ft.teacher_outputs
    monkeypatch.setattr(ft, "school_loss",
                        lambda *a, **k: calls.append(1) or real_loss(*a, **k))
    monkeypatch.setattr(ft, "teacher_outputs",
                        lambda *a, **k: teacher_runs.append(1) or real_teacher(*a, **k))
    net2, h2 = ft.finetune(pruned, "school", data=meas, teacher=teacher, preset=P, **KW)
    assert not calls and not teacher_runs and files[0].stat().st_mtime_ns == stamp
    assert not _changed(_state(net1), _state(net2)) and h2.loss == h1.loss
    assert net2 is not pruned and not _changed(_state(pruned), _state(copy.deepcopy(pruned)))
    # another option, budget or teacher -> another file, trained afresh
    ft.finetune(pruned, "school", data=meas, teacher=teacher, preset=P, loss="l2", **KW)
    ft.finetune(pruned, "school", data=meas, teacher=teacher, preset=P, epochs=2, **KW)
    other_teacher = copy.deepcopy(teacher)
    with torch.no_grad():
        next(other_teacher.parameters()).add_(1.0)
    ft.finetune(pruned, "school", data=meas, teacher=other_teacher, preset=P, **KW)
    assert len(teacher_runs) == 3 and len(list(data_dir.glob("finetune-school-*.pt"))) == 4


# ------------------------------------------------------------------------------ Table 3
def test_scratch_baseline_reinitialises_the_same_architecture(mri, pruned, P):
    trained = copy.deepcopy(pruned)
    with torch.no_grad():
        for cascade in trained.cascades:
            cascade.dc_weight.fill_(3.0)
    fresh = ft.reinitialise(trained, seed=0)
    assert count_parameters(fresh) == count_parameters(trained)
    assert _changed(_state(trained), _state(fresh))
    assert all(c.dc_weight.item() == 1.0 for c in fresh.cascades)       # constructor value
    assert not _changed(_state(fresh), _state(ft.reinitialise(trained, seed=0)))   # seeded
    net, hist = ft.scratch_baseline(trained, "supervised", data=mri["train"], preset=P,
                                    cache=False, **KW)
    assert count_parameters(net) == count_parameters(pruned) and len(hist.loss) == 1


def test_reinitialise_resets_deq_scalars_to_constructor_defaults(P):
    deq = build("deq", P.replace(deq_blocks=1, deq_features=4))
    with torch.no_grad():
        deq.gamma.fill_(3.0)
        deq.alpha.fill_(0.9)
    fresh = ft.reinitialise(deq, seed=0)
    assert fresh.gamma.item() == 1.0 and fresh.alpha.item() == 0.5
    assert deq.gamma.item() == 3.0
