"""SPADE's fine-tuning regimes: each runs and learns, sees only what it may, caches its result
(the losses are tested in test_losses.py, the rotations in test_transforms.py)."""
import copy
import dataclasses

import pytest
import torch

from spadelib import checkpoints
from spadelib import finetune as ft
from spadelib import training
from spadelib.data import MRIMeasurement, SampleSet, sr_dataset
from spadelib.metrics import count_parameters
from spadelib.models import USRNet, build
from spadelib.presets import get_preset


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
@pytest.mark.parametrize("regime", list(ft.REGIMES))
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
    P = get_preset("quick").replace(sr_size=36, train_batch=2,
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
    # (the losses refuse batches with ground truth too: test_losses.py)
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


def test_the_regimes_are_a_table():
    assert list(ft.REGIMES) == ["supervised", "school", "self-supervised",
                                "self-supervised-split", "self-supervised-split-held-out"]
    sv, school, ss, split, held_out = ft.REGIMES.values()
    assert [r.equation for r in (sv, school, ss, split, held_out)] == [7, 8, 9, None, None]
    assert split.split and held_out.split and not any(r.split for r in (sv, school, ss))
    assert (split.split_score, held_out.split_score) == ("measured", "held-out")
    for r in (split, held_out):
        assert not (r.ground_truth or r.teacher or r.keeps_best_epoch)
    assert sv.ground_truth and not school.ground_truth and not ss.ground_truth
    assert school.teacher and not sv.teacher and not ss.teacher
    assert sv.keeps_best_epoch and not school.keeps_best_epoch and not ss.keeps_best_epoch
    assert ss.equivariant and not sv.equivariant and not school.equivariant
    with pytest.raises(dataclasses.FrozenInstanceError):
        sv.teacher = True


@dataclasses.dataclass
class _Sneaky(MRIMeasurement):
    """A measurement type that carries the ground truth under another name."""

    clean: torch.Tensor


def test_only_the_bare_measurement_type_is_accepted(mri, teacher, pruned, P):
    test = mri["test"]
    fields = {k: test.fields[k] for k in ("kspace", "mask", "coil_maps")}
    sneaky = SampleSet(_Sneaky, {**fields, "clean": test.fields["target"]})
    for regime in ("school", "self-supervised"):
        with pytest.raises(ValueError, match=f"{regime} fine-tuning never sees ground truth.*"
                                             "_Sneaky.*clean"):
            ft.finetune(pruned, regime, data=sneaky, preset=P, cache=False,
                        teacher=teacher if regime == "school" else None, **KW)
    # a tensor hidden among the constants is refused too
    hidden = SampleSet(MRIMeasurement, fields, constants={"target": test.fields["target"]})
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.finetune(pruned, "self-supervised", data=hidden, preset=P, cache=False, **KW)


def test_nonfinite_data_is_refused_before_training(mri, teacher, pruned, P, monkeypatch):
    monkeypatch.setattr(ft, "fit", lambda *a, **k: pytest.fail("training started"))
    meas = mri["test"].measurements_only()
    maps = meas.fields["coil_maps"].clone()
    maps[0, 0, 0, 0, 0] = float("nan")
    bad = SampleSet(MRIMeasurement, {**meas.fields, "coil_maps": maps})
    with pytest.raises(ValueError, match="data field 'coil_maps' holds 1 non-finite"):
        ft.finetune(pruned, "self-supervised", data=bad, preset=P, **KW)
    with pytest.raises(ValueError, match="data field 'coil_maps' holds 1 non-finite"):
        ft.finetune(pruned, "school", data=bad, teacher=teacher, preset=P, **KW)
    train = mri["train"]
    target = train.fields["target"].clone()
    target[1, 0, 2, 2] = float("inf")
    inf = SampleSet(train.sample_type, {**train.fields, "target": target},
                    measurement_type=train.measurement_type)
    with pytest.raises(ValueError, match="data field 'target' holds 1 non-finite"):
        ft.finetune(pruned, "supervised", data=inf, preset=P, **KW)
    with pytest.raises(ValueError, match="val_data field 'target' holds 1 non-finite"):
        ft.finetune(pruned, "supervised", data=train, val_data=inf, preset=P, **KW)


def test_a_loss_that_turns_nan_stops_the_run_and_caches_nothing(mri, pruned, P, data_dir,
                                                                 monkeypatch):
    real = ft.supervised_loss
    monkeypatch.setattr(ft, "supervised_loss",
                        lambda net, batch, kind: real(net, batch, kind) * float("nan"))
    error = getattr(training, "NonFiniteLossError", FloatingPointError)
    before = _state(pruned)
    with pytest.raises(error, match="epoch 0"):
        ft.finetune(pruned, "supervised", data=mri["train"], preset=P, epochs=2, **KW)
    assert issubclass(error, FloatingPointError)
    assert not list(data_dir.glob("finetune-*.pt")) and not _changed(before, _state(pruned))


# ------------------------------------------------------------------------------ the cache
@pytest.mark.determinism
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


def test_the_cache_file_is_a_checked_finetuned_checkpoint(mri, pruned, P, data_dir):
    net1, h1 = ft.finetune(pruned, "supervised", data=mri["train"], preset=P, **KW)
    (path,) = data_dir.glob("finetune-supervised-*.pt")
    header = checkpoints.read_header(path)
    assert header["kind"] == "finetuned" and header["regime"] == "supervised"
    assert path.name == f"finetune-supervised-{checkpoints.config_key(header['config'])}.pt"
    assert header["config"]["network"] == checkpoints.state_digest(pruned)
    assert header["config"]["data"] == checkpoints.data_digest(mri["train"])


def test_an_unusable_cache_file_is_moved_aside_and_fine_tuned_again(mri, pruned, P, data_dir,
                                                                    monkeypatch):
    net1, h1 = ft.finetune(pruned, "supervised", data=mri["train"], preset=P, **KW)
    (path,) = data_dir.glob("finetune-supervised-*.pt")
    aside = path.with_name(path.name + ".unreadable")
    calls = []
    real = ft.supervised_loss
    monkeypatch.setattr(ft, "supervised_loss",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    for damage in ("flip", "old format", "other network"):
        if damage == "flip":
            raw = bytearray(path.read_bytes())
            raw[-10] ^= 0xFF
            path.write_bytes(bytes(raw))
        elif damage == "old format":                     # what earlier versions wrote
            torch.save({"format": "spadelib-finetune", "state_dict": net1.state_dict()}, path)
        else:                                            # right header, another network
            header, payload = checkpoints.read(path)
            payload["state_dict"] = {"bogus": torch.zeros(1)}
            checkpoints.write(path, "finetuned", payload,
                              {k: v for k, v in header.items() if k != "kind"})
        calls.clear()
        aside.unlink(missing_ok=True)
        with pytest.warns(UserWarning, match="moved it to .*unreadable"):
            net2, h2 = ft.finetune(pruned, "supervised", data=mri["train"], preset=P, **KW)
        assert calls and aside.exists(), damage                                 # trained again
        assert checkpoints.read(path, "finetuned")[0]["regime"] == "supervised"   # rewritten
        assert not _changed(_state(net1), _state(net2)) and h2.loss == h1.loss    # same run


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
