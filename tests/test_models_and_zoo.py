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
