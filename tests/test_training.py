"""The trainer: budgets, schedules, resumable checkpoints, refusals."""
import math

import pytest
import torch

from spadelib import get_preset, zoo
from spadelib.data import mri_dataset
from spadelib.metrics import count_parameters
from spadelib.models import NAMES, build, check_name
from spadelib.training import FitConfig, fit, supervised_loss

PAPER_PARAMS = {"deq": 999_428, "varnet": 19_634_712, "e2e-varnet": 20_119_610,
                "usrnet": 17_016_016}



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
    saved = torch.load(ckpt, weights_only=True)   # plain data: loads without running code
    assert saved["epoch"] == 0 and len(saved["history"]["loss"]) == 1
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
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        FitConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        FitConfig(epochs=1, lr=0)
    view = mri_dataset("test", tiny_preset, progress=False).measurements_only()
    with pytest.raises(ValueError, match="needs ground truth"):
        supervised_loss(build("varnet", tiny_preset), view.batch([0, 1]))
