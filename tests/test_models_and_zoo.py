"""The four networks: exact paper sizes, declared priors; the trainer and the checkpoint zoo."""
import dataclasses

import pytest
import torch

from spadelib import Preset, checkpoints, get_preset, zoo
from spadelib.metrics import count_parameters
from spadelib.models import NAMES, NETWORKS, MBDLNetwork, build, check_name, spec
from spadelib.tasks import depends_on

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


@pytest.mark.determinism
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
    # fields both tasks share (seed, batch) key both; each network's epochs key it alone
    for name in ("varnet", "usrnet"):
        assert zoo.checkpoint_path(name, P) != zoo.checkpoint_path(name, P.replace(seed=3))
        assert zoo.checkpoint_path(name, P) != zoo.checkpoint_path(
            name, P.replace(train_batch=4))
    assert zoo.checkpoint_path("varnet", P) != zoo.checkpoint_path(
        "varnet", P.replace(varnet_epochs=3))
    assert zoo.checkpoint_path("varnet", P) == zoo.checkpoint_path(
        "varnet", P.replace(deq_epochs=3, e2e_varnet_epochs=3))


def test_checkpoint_faults_give_clear_errors(tiny_varnet_preset, data_dir, tmp_path):
    P = tiny_varnet_preset
    net = build("varnet", P)
    path = zoo.save_checkpoint(net, tmp_path / "v.pt", "varnet", P)
    header = checkpoints.read_header(path)
    assert header["kind"] == "pretrained" and header["network"] == "varnet"
    assert header["model_version"] == spec("varnet").version
    assert header["data_version"] == zoo.data_version("varnet")
    assert set(header["depends_on"]) == set(depends_on("varnet", P))
    assert isinstance(zoo.load_checkpoint(path, "varnet", P), type(net))
    with pytest.raises(zoo.CheckpointError, match="varnet_chans: file 4 vs wanted 8"):
        zoo.load_checkpoint(path, "varnet", P.replace(varnet_chans=8))
    # a checkpoint made on another version of the data synthesis (or of the model) is refused
    _, payload = checkpoints.read(path)
    for field in ("data_version", "model_version"):
        stale = tmp_path / f"stale-{field}.pt"
        checkpoints.write(stale, "pretrained", payload, {**header, field: header[field] - 1})
        with pytest.raises(zoo.CheckpointError, match=field):
            zoo.load_checkpoint(stale, "varnet", P)
    # an SR-only setting does not concern an MRI network
    assert isinstance(zoo.load_checkpoint(path, "varnet", P.replace(sr_train_lr=0.5)), type(net))
    with pytest.raises(zoo.CheckpointError, match="made for another setup: depends_on"
                                                  r"\.espirit_calib: file 12 vs wanted 24"):
        zoo.load_checkpoint(path, "varnet", "paper")
    with pytest.raises(zoo.CheckpointError, match="holds a 'varnet' network, not 'deq'"):
        zoo.load_checkpoint(path, "deq")
    # without a preset the file's own settings rebuild the network
    again = zoo.load_checkpoint(path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 again.state_dict().values()))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(zoo.CheckpointError, match="corrupted or truncated"):
        zoo.load_checkpoint(broken)
    flipped = bytearray(path.read_bytes())
    flipped[-100] ^= 0x01
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    with pytest.raises(zoo.CheckpointError, match="checksum"):
        zoo.load_checkpoint(tmp_path / "flipped.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(zoo.CheckpointError, match="not a spadelib file"):
        zoo.load_checkpoint(tmp_path / "foreign.pt")
    checkpoints.write(tmp_path / "data.pt", "dataset", {"x": torch.ones(2)}, {})
    with pytest.raises(zoo.CheckpointError, match="holds a 'dataset' file, not a 'pretrained'"):
        zoo.load_checkpoint(tmp_path / "data.pt")
    # settings recorded by another version of spadelib are refused, not guessed
    odd = {**header, "depends_on": {**header["depends_on"], "varnet_depth": 3}}
    checkpoints.write(tmp_path / "odd.pt", "pretrained", payload, odd)
    with pytest.raises(zoo.CheckpointError, match="another version of spadelib"):
        zoo.load_checkpoint(tmp_path / "odd.pt")
    # weights that do not fit the network
    small = {**payload, "state_dict": build("varnet", P.replace(varnet_chans=2)).state_dict()}
    checkpoints.write(tmp_path / "small.pt", "pretrained", small, header)
    with pytest.raises(zoo.CheckpointError, match="does not fit the 'varnet' network"):
        zoo.load_checkpoint(tmp_path / "small.pt")
    with pytest.raises(FileNotFoundError):
        zoo.load_checkpoint(tmp_path / "missing.pt")


def test_save_checkpoint_takes_a_preset_name_and_refuses_bad_input(tmp_path, tiny_preset):
    net = build("usrnet", "quick")
    path = zoo.save_checkpoint(net, tmp_path / "u.pt", "usrnet", "quick")
    assert checkpoints.read_header(path)["depends_on"]["name"] == "quick"
    assert isinstance(zoo.load_checkpoint(path, "usrnet", "quick"), type(net))
    with pytest.raises(ValueError, match="unknown preset 'quik'"):
        zoo.save_checkpoint(net, tmp_path / "x.pt", "usrnet", "quik")
    with pytest.raises(ValueError, match="this is a 'usrnet' network, not 'deq'"):
        zoo.save_checkpoint(net, tmp_path / "x.pt", "deq", "quick")
    with pytest.raises(TypeError, match="net must be an nn.Module"):
        zoo.save_checkpoint({"w": 1}, tmp_path / "x.pt", "usrnet", "quick")
    with pytest.raises(TypeError, match="preset must be a Preset or a preset name"):
        zoo.save_checkpoint(net, tmp_path / "x.pt", "usrnet", 3)
    bad = build("varnet", tiny_preset)
    with torch.no_grad():
        next(bad.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        zoo.save_checkpoint(bad, tmp_path / "nan.pt", "varnet", tiny_preset)
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "nan.pt").exists()


def test_an_unusable_cached_checkpoint_is_moved_aside_and_retrained(tiny_varnet_preset,
                                                                    data_dir):
    P = tiny_varnet_preset.replace(varnet_epochs=1)
    first = zoo.pretrained("varnet", P, progress=False, device="cpu")
    path = zoo.checkpoint_path("varnet", P)
    raw = bytearray(path.read_bytes())
    raw[-50] ^= 0xFF                                      # one flipped byte
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="moved it to .*unreadable"):
        again = zoo.pretrained("varnet", P, progress=False, device="cpu")
    assert path.with_name(path.name + ".unreadable").exists() and path.exists()
    checkpoints.read(path, "pretrained")                  # a sound file again
    assert len(again.history.loss) == len(first.history.loss) == 1


def test_check_name_runs_once_per_public_call(tiny_varnet_preset, monkeypatch):
    import spadelib.models as models

    calls = []
    real = models.check_name
    monkeypatch.setattr(models, "check_name", lambda name: calls.append(name) or real(name))
    zoo.checkpoint_path("E2E_VarNet", tiny_varnet_preset)
    assert calls == ["E2E_VarNet"]
    calls.clear()
    zoo.fit_config("usrnet", tiny_varnet_preset)
    assert calls == ["usrnet"]


def test_registry_lists_each_network_once():
    assert set(NETWORKS) == set(NAMES) == {"deq", "varnet", "e2e-varnet", "usrnet"}
    for name, s in NETWORKS.items():
        assert s.name == name and spec(name) is s and spec(s) is s
        assert s.task in ("mri", "sr") and s.version >= 1
        assert isinstance(build(name, "quick"), MBDLNetwork)
        fields = {f.name for f in dataclasses.fields(Preset)}
        assert set(s.fields) <= fields and len(set(s.fields)) == len(s.fields)
    assert spec("E2E_VarNet") is NETWORKS["e2e-varnet"]
    with pytest.raises(ValueError, match="unknown network 'unet'"):
        spec("unet")


def test_fit_config_follows_the_task(tiny_preset):
    assert zoo.fit_config("varnet", tiny_preset).lr == tiny_preset.train_lr
    assert zoo.fit_config("usrnet", tiny_preset).lr == tiny_preset.sr_train_lr
    c = zoo.fit_config("deq", tiny_preset)
    assert (c.epochs, c.batch_size, c.max_minutes, c.seed, c.schedule) == (
        tiny_preset.deq_epochs, tiny_preset.train_batch, None,
        tiny_preset.seed, tiny_preset.train_schedule)
    assert zoo.fit_config("e2e-varnet", tiny_preset).epochs == tiny_preset.e2e_varnet_epochs


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
    with pytest.raises(ValueError, match=r"deq_warmup must be a finite number in \[0.0, 1.0\)"):
        zoo.pretraining_phases("deq", P.replace(deq_warmup=1.0))
    with pytest.raises(ValueError, match="deq_warmup_steps"):
        zoo.pretraining_phases("deq", P.replace(deq_warmup_steps=0))


def test_pretrained_deq_runs_its_warm_up_and_returns_a_plain_deq(tiny_preset, data_dir,
                                                                  monkeypatch):
    P = tiny_preset.replace(deq_blocks=1, deq_features=4, deq_max_iter=5, deq_epochs=2,
                            deq_warmup=0.5, deq_warmup_steps=2)
    solvers = []
    real = zoo._phases

    def recording(s, preset):
        hook = real(s, preset)

        def before_epoch(net, spent):
            label = hook(net, spent)
            solvers.append(net.unrolled_steps)
            return label
        return before_epoch

    monkeypatch.setattr(zoo, "_phases", recording)
    net = zoo.pretrained("deq", P, progress=False, device="cpu")
    assert solvers == [2, None]                   # epoch 0 unrolled, epoch 1 as a DEQ
    assert net.unrolled_steps is None and len(net.history.loss) == 2
    assert net.history.phase == ["unrolled x2", "deq"]
    loaded = zoo.load_checkpoint(zoo.checkpoint_path("deq", P), "deq", P)
    assert loaded.unrolled_steps is None and loaded.history.phase == ["unrolled x2", "deq"]
