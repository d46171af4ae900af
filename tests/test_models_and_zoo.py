"""The four networks: exact paper sizes, declared priors; the trainer and the checkpoint zoo."""
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


@pytest.mark.parametrize("name", NAMES)
def test_paper_parameter_counts(name):
    assert count_parameters(build(name, "paper")) == PAPER_PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_priors_are_declared_and_run(name):
    net = build(name, "quick")
    priors = net.priors()
    assert priors and net.cnn_applications() >= len(priors)
    for spec in priors:
        assert isinstance(spec.example_inputs, tuple) and spec.example_inputs[0].shape[0] >= 2
        inside = {id(m) for m in spec.module.modules()}
        assert spec.ignored_layers and all(id(m) in inside for m in spec.ignored_layers)
        with torch.no_grad():
            out = spec.module(*spec.example_inputs)
        assert out.shape[0] == spec.example_inputs[0].shape[0]
    if name == "e2e-varnet":   # the sensitivity network is never declared for pruning
        sens = {id(m) for m in net.sens_net.modules()}
        assert all(id(spec.module) not in sens for spec in priors)


def test_unknown_network_is_named():
    with pytest.raises(ValueError, match=r"unknown network 'unet'; choose one of deq, varnet"):
        build("unet")
    assert check_name("E2E_VarNet") == "e2e-varnet"


@pytest.fixture
def tiny_varnet_preset(tiny_preset):
    return tiny_preset.replace(varnet_cascades=1, varnet_chans=4, varnet_pools=1,
                               train_epochs=2, train_batch=2, train_minutes=None)


def test_pretrained_trains_once_then_loads(tiny_varnet_preset, data_dir):
    net = zoo.pretrained("varnet", tiny_varnet_preset, progress=False, device="cpu")
    path = zoo.checkpoint_path("varnet", tiny_varnet_preset)
    assert path.exists() and not path.with_suffix(".partial").exists()
    assert len(net.history.val_psnr) == 2 and not net.training
    stamp = path.stat().st_mtime_ns
    again = zoo.pretrained("varnet", tiny_varnet_preset, progress=False, device="cpu")
    assert path.stat().st_mtime_ns == stamp
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert again.history.val_psnr == net.history.val_psnr


def test_checkpoints_are_keyed_by_their_own_task_only(tiny_varnet_preset):
    P = tiny_varnet_preset
    for mri in ("deq", "varnet", "e2e-varnet"):
        assert zoo.checkpoint_path(mri, P) == zoo.checkpoint_path(
            mri, P.replace(sr_train_lr=0.5, sr_size=48, usrnet_iters=3))
        assert zoo.checkpoint_path(mri, P) != zoo.checkpoint_path(mri, P.replace(train_lr=0.5))
        assert zoo.checkpoint_path(mri, P) != zoo.checkpoint_path(mri, P.replace(mri_noise=0.1))
    assert zoo.checkpoint_path("usrnet", P) == zoo.checkpoint_path(
        "usrnet", P.replace(train_lr=0.5, mri_size=(16, 16), deq_blocks=1))
    assert zoo.checkpoint_path("usrnet", P) != zoo.checkpoint_path(
        "usrnet", P.replace(sr_train_lr=0.5))
    # fields of one network do not key the other networks of its task
    assert zoo.checkpoint_path("varnet", P) == zoo.checkpoint_path(
        "varnet", P.replace(deq_blocks=1, deq_warmup=0.2, sens_chans=2))
    assert zoo.checkpoint_path("e2e-varnet", P) != zoo.checkpoint_path(
        "e2e-varnet", P.replace(sens_chans=2))
    assert zoo.checkpoint_path("deq", P) == zoo.checkpoint_path("deq", P.replace(varnet_chans=2))
    assert zoo.checkpoint_path("deq", P) != zoo.checkpoint_path("deq", P.replace(deq_warmup=0.2))
    # fields both tasks share (seed, budget) key both
    for name in ("varnet", "usrnet"):
        assert zoo.checkpoint_path(name, P) != zoo.checkpoint_path(name, P.replace(seed=3))
        assert zoo.checkpoint_path(name, P) != zoo.checkpoint_path(
            name, P.replace(train_minutes=9))


def test_checkpoint_faults_give_clear_errors(tiny_varnet_preset, data_dir, tmp_path):
    net = build("varnet", tiny_varnet_preset)
    path = zoo.save_checkpoint(net, tmp_path / "v.pt", "varnet", tiny_varnet_preset)
    assert isinstance(zoo.load_checkpoint(path, "varnet", tiny_varnet_preset), type(net))
    with pytest.raises(zoo.CheckpointError, match="varnet_chans"):
        zoo.load_checkpoint(path, "varnet", tiny_varnet_preset.replace(varnet_chans=8))
    # a checkpoint made on another version of the data synthesis is refused
    stale = torch.load(path, weights_only=True)
    stale["data_version"] = zoo.data_version("varnet") - 1
    torch.save(stale, tmp_path / "stale.pt")
    with pytest.raises(zoo.CheckpointError, match="data version"):
        zoo.load_checkpoint(tmp_path / "stale.pt", "varnet", tiny_varnet_preset)
    # an SR-only setting does not concern an MRI network
    assert isinstance(zoo.load_checkpoint(path, "varnet", tiny_varnet_preset.replace(
        sr_train_lr=0.5)), type(net))
    with pytest.raises(zoo.CheckpointError, match="other settings than the 'paper' preset"):
        zoo.load_checkpoint(path, "varnet", "paper")
    with pytest.raises(zoo.CheckpointError, match="holds a 'varnet' network, not 'deq'"):
        zoo.load_checkpoint(path, "deq")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(zoo.CheckpointError, match="truncated or corrupted"):
        zoo.load_checkpoint(broken)
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(zoo.CheckpointError, match="not a spadelib checkpoint"):
        zoo.load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        zoo.load_checkpoint(tmp_path / "missing.pt")


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


def test_deq_pretraining_warms_up_unrolled_then_trains_the_fixed_point(tiny_preset):
    """The DEQ's pre-training hook switches from the unrolled warm-up to the DEQ once
    deq_warmup of the budget is spent; no other network has a hook; bad settings are refused."""
    P = tiny_preset.replace(deq_warmup=0.5, deq_warmup_steps=2)
    hook = zoo.pretraining_phases("deq", P)
    net = build("deq", P)
    assert hook(net, 0.0) == "unrolled x2" and net.unrolled_steps == 2
    assert hook(net, 0.49) == "unrolled x2" and net.unrolled_steps == 2
    assert hook(net, 0.5) == "deq" and net.unrolled_steps is None
    for name in ("varnet", "e2e-varnet", "usrnet"):
        assert zoo.pretraining_phases(name, P) is None
    assert zoo.pretraining_phases("deq", P.replace(deq_warmup=0.0)) is None
    assert get_preset("paper").deq_warmup == 0.0          # the paper's recipe: DEQ throughout
    with pytest.raises(ValueError, match="deq_warmup must be in"):
        zoo.pretraining_phases("deq", P.replace(deq_warmup=1.0))
    with pytest.raises(ValueError, match="deq_warmup_steps"):
        zoo.pretraining_phases("deq", P.replace(deq_warmup_steps=0))


def test_pretrained_deq_runs_its_warm_up_and_returns_a_plain_deq(tiny_preset, data_dir,
                                                                  monkeypatch):
    P = tiny_preset.replace(deq_blocks=1, deq_features=4, deq_max_iter=5, train_epochs=2,
                            train_minutes=None, deq_warmup=0.5, deq_warmup_steps=2)
    solvers = []
    real = zoo.pretraining_phases

    def recording(name, preset):
        hook = real(name, preset)

        def before_epoch(net, spent):
            label = hook(net, spent)
            solvers.append(net.unrolled_steps)
            return label
        return before_epoch

    monkeypatch.setattr(zoo, "pretraining_phases", recording)
    net = zoo.pretrained("deq", P, progress=False, device="cpu")
    assert solvers == [2, None]                   # epoch 0 unrolled, epoch 1 as a DEQ
    assert net.unrolled_steps is None and len(net.history.loss) == 2
    assert net.history.phase == ["unrolled x2", "deq"]
    loaded = zoo.load_checkpoint(zoo.checkpoint_path("deq", P), "deq", P)
    assert loaded.unrolled_steps is None and loaded.history.phase == ["unrolled x2", "deq"]


def test_fit_config_and_supervised_loss_refuse_bad_input(tiny_preset, data_dir):
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        FitConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        FitConfig(epochs=1, lr=0)
    view = mri_dataset("test", tiny_preset, progress=False).measurements_only()
    with pytest.raises(ValueError, match="needs ground truth"):
        supervised_loss(build("varnet", tiny_preset), view.batch([0, 1]))
