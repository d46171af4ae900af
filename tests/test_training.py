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


def test_cosine_schedule_anneals_over_epochs():
    flat = FitConfig(epochs=4, lr=0.1)
    assert [flat.lr_at(e) for e in range(4)] == [0.1] * 4
    cos = FitConfig(epochs=4, lr=0.1, schedule="cosine")
    lrs = [cos.lr_at(e) for e in range(4)]
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # a time limit is a safety net only: it changes neither the schedule nor the budget key
    capped = FitConfig(epochs=4, lr=0.1, schedule="cosine", max_minutes=1.0)
    assert [capped.lr_at(e) for e in range(4)] == lrs
    assert capped.budget() == cos.budget() and "max_minutes" not in cos.budget()
    with pytest.raises(ValueError, match="unknown schedule"):
        FitConfig(epochs=1, schedule="step")


def test_fit_uses_the_schedule_and_the_whole_budget(tiny_preset, data_dir, monkeypatch):
    """fit sets the scheduled rate at every epoch and runs every epoch, however slow the
    steps are (a simulated clock: 2 steps of 20 s per epoch, no limit)."""
    import spadelib.training as T

    loss, clock = _simulated_clock(monkeypatch, lambda k: 20.0)
    rates = []
    real_lr_at = T.FitConfig.lr_at

    def lr_at(self, epoch):
        rates.append(real_lr_at(self, epoch))
        return rates[-1]

    monkeypatch.setattr(T.FitConfig, "lr_at", lr_at)
    train = mri_dataset("train", tiny_preset, progress=False)
    assert len(train) == 4                   # 2 steps of batch 2 per epoch
    net = build("varnet", tiny_preset.replace(varnet_cascades=1, varnet_chans=2,
                                              varnet_pools=1))
    config = FitConfig(epochs=3, batch_size=2, lr=0.01, schedule="cosine")
    seen = []
    history = T.fit(net, train, loss, config, progress=False,
                    before_epoch=lambda n, spent: seen.append((n is net, spent, n.training))
                    or f"phase {len(seen)}")
    assert len(history.loss) == 3 and clock["steps"] == 6
    assert history.seconds == pytest.approx([40.0, 80.0, 120.0])
    assert rates == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * f))
                                   for f in (0, 1 / 3, 2 / 3)])
    assert seen == [(True, pytest.approx(f), True) for f in (0, 1 / 3, 2 / 3)]
    assert history.phase == ["phase 1", "phase 2", "phase 3"]


def test_a_time_limit_stops_with_an_error_and_the_run_resumes(tiny_preset, data_dir, tmp_path,
                                                             monkeypatch):
    """Past max_minutes a run saves its state and raises; the same call without the limit
    resumes and ends with exactly the network of a run that was never stopped."""
    from spadelib.training import TimeLimitError

    train = mri_dataset("train", tiny_preset, progress=False)
    small = tiny_preset.replace(varnet_cascades=1, varnet_chans=2, varnet_pools=1)
    config = FitConfig(epochs=4, batch_size=2, lr=0.01, schedule="cosine")
    torch.manual_seed(0)
    reference = build("varnet", small)
    fit(reference, train, supervised_loss, config, progress=False)

    loss, clock = _simulated_clock(monkeypatch, lambda k: 20.0)    # 40-s epochs
    torch.manual_seed(0)
    net = build("varnet", small)
    ckpt = tmp_path / "run.partial"
    limited = FitConfig(epochs=4, batch_size=2, lr=0.01, schedule="cosine", max_minutes=1.0)
    with pytest.raises(TimeLimitError, match=r"after epoch 2 of 4, past its limit of "
                                             r"max_minutes=1\.0.*run the same call again"):
        fit(net, train, loss, limited, checkpoint=ckpt, progress=False)
    assert clock["steps"] == 4 and checkpoints.read_header(ckpt)["epoch"] == 1
    history = fit(net, train, loss, config, checkpoint=ckpt, progress=False)
    assert len(history.loss) == 4 and clock["steps"] == 8 and not ckpt.exists()
    for k, v in reference.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


def _busy(stop):
    x = 0
    while not stop.is_set():
        x += 1


@pytest.mark.determinism
def test_a_loaded_machine_gives_the_same_numbers_as_an_idle_one(tiny_varnet_preset, data_dir):
    """The budget is a count of epochs: the per-epoch validation PSNR and the weights are the
    same whether the CPU is idle or two other processes keep it busy."""
    import multiprocessing as mp

    train = mri_dataset("train", tiny_varnet_preset, progress=False)
    val = mri_dataset("val", tiny_varnet_preset, progress=False)
    config = FitConfig(epochs=3, batch_size=2, lr=3e-3, schedule="cosine", seed=5)

    def run():
        torch.manual_seed(1)
        net = build("varnet", tiny_varnet_preset)
        history = fit(net, train, supervised_loss, config, val_data=val, progress=False)
        return history, net.state_dict()

    idle_history, idle_weights = run()
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    load = [ctx.Process(target=_busy, args=(stop,)) for _ in range(2)]
    for p in load:
        p.start()
    try:
        busy_history, busy_weights = run()
    finally:
        stop.set()
        for p in load:
            p.join()
    assert len(busy_history.val_psnr) == len(idle_history.val_psnr) == 3
    assert busy_history.val_psnr == idle_history.val_psnr
    assert busy_history.loss == idle_history.loss
    assert all(torch.equal(busy_weights[k], v) for k, v in idle_weights.items())


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
