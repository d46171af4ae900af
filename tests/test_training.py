"""The trainer: budgets, schedules, resumable checkpoints, non-finite losses, refusals."""
import math

import pytest
import torch

from spadelib import checkpoints
from spadelib.data import mri_dataset
from spadelib.models import build
from spadelib.training import FitConfig, NonFiniteLossError, _batches, fit, supervised_loss


def _simulated_clock(monkeypatch, step_seconds):
    """Make fit's clock advance only by training steps: step k takes step_seconds(k) s."""
    import types

    import spadelib.training as T

    clock = {"t": 0.0, "steps": 0}
    monkeypatch.setattr(T, "time", types.SimpleNamespace(perf_counter=lambda: clock["t"]))

    def loss(net, batch):
        clock["t"] += step_seconds(clock["steps"])
        clock["steps"] += 1
        return supervised_loss(net, batch)
    return loss, clock


def test_interrupted_training_resumes(tiny_varnet_preset, data_dir, tmp_path):
    data = mri_dataset("train", tiny_varnet_preset, progress=False)
    val = mri_dataset("val", tiny_varnet_preset, progress=False)
    config = FitConfig(epochs=3, batch_size=2, lr=1e-3)
    ckpt = tmp_path / "run.partial"
    calls = {"n": 0}

    def flaky_loss(net, batch):
        calls["n"] += 1
        if calls["n"] == 3:          # the first step of the second epoch
            raise KeyboardInterrupt
        return supervised_loss(net, batch)

    torch.manual_seed(0)
    net = build("varnet", tiny_varnet_preset)
    with pytest.raises(KeyboardInterrupt):
        fit(net, data, flaky_loss, config, val_data=val, checkpoint=ckpt, device="cpu",
            progress=False)
    assert ckpt.exists()                      # epoch 0 survived the interruption
    header, saved = checkpoints.read(ckpt, "partial")   # plain data, loaded weights-only
    assert header["epoch"] == 0 and saved["epoch"] == 0 and len(saved["history"]["loss"]) == 1
    history = fit(net, data, flaky_loss, config, val_data=val, checkpoint=ckpt, device="cpu",
                  progress=False)
    assert len(history.loss) == 3 and len(history.val_psnr) == 3
    assert calls["n"] == 3 + 2 * 2            # epoch 0 was not run again
    assert not ckpt.exists()


def test_cosine_schedule_anneals_over_epochs_or_time():
    flat = FitConfig(epochs=4, lr=0.1)
    assert [flat.lr_at(e) for e in range(4)] == [0.1] * 4
    cos = FitConfig(epochs=4, lr=0.1, schedule="cosine")
    lrs = [cos.lr_at(e) for e in range(4)]
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # under a wall-clock cap the time spent counts when it is the larger fraction
    capped = FitConfig(epochs=100, lr=0.1, schedule="cosine", max_minutes=1.0)
    assert capped.lr_at(1, elapsed_s=30.0) == pytest.approx(0.05)
    assert capped.lr_at(1, elapsed_s=90.0) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown schedule"):
        FitConfig(epochs=1, schedule="step")


def test_fit_uses_the_schedule_and_stops_before_the_cap(tiny_preset, data_dir, monkeypatch):
    """fit sets the scheduled rate at every epoch, and under a cap stops before an epoch it
    expects to end past it (a simulated clock: 2 steps of 20 s per epoch)."""
    import spadelib.training as T

    loss, clock = _simulated_clock(monkeypatch, lambda k: 20.0)
    rates = []
    real_lr_at = T.FitConfig.lr_at

    def lr_at(self, epoch, elapsed_s=0.0):
        rates.append(real_lr_at(self, epoch, elapsed_s))
        return rates[-1]

    monkeypatch.setattr(T.FitConfig, "lr_at", lr_at)
    train = mri_dataset("train", tiny_preset, progress=False)
    assert len(train) == 4                   # 2 steps of batch 2 per epoch
    net = build("varnet", tiny_preset.replace(varnet_cascades=1, varnet_chans=2,
                                              varnet_pools=1))
    config = FitConfig(epochs=50, batch_size=2, lr=0.01, schedule="cosine", max_minutes=2.0)
    seen = []
    history = T.fit(net, train, loss, config, progress=False,
                    before_epoch=lambda n, spent: seen.append((n is net, spent, n.training))
                    or f"phase {len(seen)}")
    # 40 s epochs, 120 s cap: after epoch 2 (80 s) a third would end at 120 s, not past the
    # cap, so it runs; after it (120 s) a fourth would end at 160 s: stop
    assert len(history.loss) == 3 and history.stopped_by == "time"
    assert history.seconds == pytest.approx([40.0, 80.0, 120.0]) and clock["steps"] == 6
    assert rates == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * f))
                                   for f in (0, 1 / 3, 2 / 3)])
    assert seen == [(True, pytest.approx(f), True) for f in (0, 1 / 3, 2 / 3)]
    assert history.phase == ["phase 1", "phase 2", "phase 3"]


def test_fit_cuts_an_epoch_that_runs_past_the_cap(tiny_preset, data_dir, monkeypatch):
    """A slower phase the cap rule could not foresee (steps of 10 s, then of 50 s from the
    third epoch) is cut after the step that crossed the cap, validated, and kept."""
    loss, clock = _simulated_clock(monkeypatch, lambda k: 10.0 if k < 4 else 50.0)
    train = mri_dataset("train", tiny_preset, progress=False)
    val = mri_dataset("val", tiny_preset, progress=False)
    net = build("varnet", tiny_preset.replace(varnet_cascades=1, varnet_chans=2,
                                              varnet_pools=1))
    config = FitConfig(epochs=50, batch_size=2, lr=0.01, max_minutes=1.0)
    history = fit(net, train, loss, config, val_data=val, progress=False)
    # epochs of 20 s, 20 s; the third starts at 40 s, and its first 50-s step ends at 90 s,
    # past the 60-s cap: the epoch stops there instead of running to 140 s
    assert clock["steps"] == 5 and history.stopped_by == "time"
    assert history.seconds == pytest.approx([20.0, 40.0, 90.0])
    assert len(history.loss) == len(history.val_psnr) == 3


def test_fit_config_and_supervised_loss_refuse_bad_input(tiny_preset, data_dir):
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        FitConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be a finite number in"):
        FitConfig(epochs=1, lr=0)
    for bad in ({"epochs": True}, {"epochs": 2.0}, {"batch_size": 0}, {"lr": float("nan")},
                {"max_minutes": 0}, {"seed": 1.5}, {"grad_clip": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FitConfig(**{"epochs": 1, **bad})
    view = mri_dataset("test", tiny_preset, progress=False).measurements_only()
    with pytest.raises(ValueError, match="needs ground truth"):
        supervised_loss(build("varnet", tiny_preset), view.batch([0, 1]))


# --------------------------------------------------------------------------------------------
# the batches fit sees, and what it does with a non-finite loss
# --------------------------------------------------------------------------------------------
def test_fit_sees_the_loaders_batches_and_knows_their_samples(tiny_preset, data_dir):
    train = mri_dataset("train", tiny_preset, progress=False)
    for seed in (0, 17):
        expected = [b.target for b in train.loader(3, shuffle=True, seed=seed)]
        got = list(_batches(train, 3, seed))
        assert len(got) == len(expected)
        for target, (batch, indices) in zip(expected, got):
            assert torch.equal(batch.target, target)
            assert torch.equal(train.batch(list(indices)).target, target)


def _tiny_varnet(preset):
    torch.manual_seed(0)
    return build("varnet", preset.replace(varnet_cascades=1, varnet_chans=2, varnet_pools=1))


class _Stop(Exception):
    pass


def _all_finite(obj) -> bool:
    return all(bool(torch.isfinite(t).all()) for _, t in checkpoints._tensors(obj)
               if t.is_floating_point())


def test_a_nan_loss_stops_fit_with_the_last_good_weights(tiny_preset, data_dir, tmp_path):
    """The loss of the fourth step (epoch 1, step 1) is NaN: fit names the epoch, the step and
    the batch's samples, the network holds the weights after the third step (a reference run
    stopped there), and the partial checkpoint on disk holds epoch 0, all finite."""
    train = mri_dataset("train", tiny_preset, progress=False)
    config = FitConfig(epochs=3, batch_size=2, lr=1e-2)

    def stopping_loss(net, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise _Stop
        return supervised_loss(net, batch)

    calls = {"n": 0}
    reference = _tiny_varnet(tiny_preset)
    with pytest.raises(_Stop):
        fit(reference, train, stopping_loss, config, device="cpu", progress=False)

    seen = {}

    def nan_loss(net, batch):
        calls["n"] += 1
        loss = supervised_loss(net, batch)
        if calls["n"] == 4:
            seen["target"] = batch.target
            return loss * float("nan")
        return loss

    calls = {"n": 0}
    net = _tiny_varnet(tiny_preset)
    ckpt = tmp_path / "run.partial"
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 1") as info:
        fit(net, train, nan_loss, config, checkpoint=ckpt, device="cpu", progress=False)
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert (err.epoch, err.step) == (1, 1) and len(err.indices) == 2
    assert str(list(err.indices)) in str(err)
    assert torch.equal(train.batch(list(err.indices)).target, seen["target"])
    for (name, a), b in zip(net.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    assert all(p.grad is None for p in net.parameters())
    header, saved = checkpoints.read(ckpt, "partial")
    assert saved["epoch"] == 0 and _all_finite(saved)


def test_a_nan_gradient_with_a_finite_loss_is_caught_too(tiny_preset, data_dir):
    """sqrt at 0: a finite loss whose gradient is NaN; without the check Adam would write NaN
    into every weight."""
    train = mri_dataset("train", tiny_preset, progress=False)
    net = _tiny_varnet(tiny_preset)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    weight = next(net.parameters())

    def loss(model, batch):
        return supervised_loss(model, batch) + (weight - weight.detach()).abs().sum().sqrt()

    for clip in (1.0, None):
        with pytest.raises(NonFiniteLossError, match=r"gradient norm is nan at epoch 0, step 0"):
            fit(net, train, loss, FitConfig(epochs=1, batch_size=2, grad_clip=clip),
                device="cpu", progress=False)
        for k, v in net.state_dict().items():
            assert torch.equal(v, before[k]), k


def test_an_unusable_partial_checkpoint_is_moved_aside_and_training_restarts(
        tiny_preset, data_dir, tmp_path):
    train = mri_dataset("train", tiny_preset, progress=False)
    config = FitConfig(epochs=2, batch_size=2, lr=1e-2)
    expected = _tiny_varnet(tiny_preset)
    clean = fit(expected, train, supervised_loss, config, device="cpu", progress=False)
    ckpt = tmp_path / "run.partial"
    other = FitConfig(epochs=3, batch_size=2, lr=1e-2)   # another run's file
    for content in (b"not a checkpoint at all", None):
        if content is None:
            with pytest.raises(_Stop):
                calls = {"n": 0}

                def stop_in_epoch_1(net, batch, calls=calls):
                    calls["n"] += 1
                    if calls["n"] == 3:
                        raise _Stop
                    return supervised_loss(net, batch)

                fit(_tiny_varnet(tiny_preset), train, stop_in_epoch_1, other, checkpoint=ckpt,
                    device="cpu", progress=False)
            assert checkpoints.read_header(ckpt)["epoch"] == 0
        else:
            ckpt.write_bytes(content)
        net = _tiny_varnet(tiny_preset)
        with pytest.warns(UserWarning, match="moved it to run.partial.unreadable"):
            history = fit(net, train, supervised_loss, config, checkpoint=ckpt, device="cpu",
                          progress=False)
        assert history.loss == clean.loss and not ckpt.exists()
        assert (tmp_path / "run.partial.unreadable").exists()
        for a, b in zip(net.state_dict().values(), expected.state_dict().values()):
            assert torch.equal(a, b)
        (tmp_path / "run.partial.unreadable").unlink()


def test_a_damaged_partial_checkpoint_is_not_resumed(tiny_preset, data_dir, tmp_path):
    train = mri_dataset("train", tiny_preset, progress=False)
    config = FitConfig(epochs=2, batch_size=2, lr=1e-2)
    ckpt = tmp_path / "run.partial"
    calls = {"n": 0}

    def stop_in_epoch_1(net, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Stop
        return supervised_loss(net, batch)

    with pytest.raises(_Stop):
        fit(_tiny_varnet(tiny_preset), train, stop_in_epoch_1, config, checkpoint=ckpt,
            device="cpu", progress=False)
    raw = bytearray(ckpt.read_bytes())
    raw[-10] ^= 0xFF                                   # one flipped byte in the weights
    ckpt.write_bytes(bytes(raw))
    calls["n"] = 0

    def counting(net, batch):
        calls["n"] += 1
        return supervised_loss(net, batch)

    with pytest.warns(UserWarning, match="checksum"):
        history = fit(_tiny_varnet(tiny_preset), train, counting, config, checkpoint=ckpt,
                      device="cpu", progress=False)
    assert calls["n"] == 4 and len(history.loss) == 2      # both epochs ran again
