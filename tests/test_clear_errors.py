"""The last unclear errors (issue 23): each bad input is named where it enters, or refused
where a file is written, instead of failing later with someone else's message."""
import re
import warnings

import h5py
import pytest
import torch
from test_fastmri import P, folder  # noqa: F401 - test_fastmri's mock folder and its preset
from test_fastmri import FILES, copy_files, name
from test_kernels import cell, raw_kernels
from test_usrnet_official import official_state_dict

from spadelib import checks, finetune, zoo
from spadelib.checkpoints import CheckpointError
from spadelib.data import MRIMeasurement, fastmri_dataset, fastmri_files
from spadelib.data.common import SampleSet
from spadelib.models import build
from spadelib.models.deq import build_deq
from spadelib.models.usrnet_official import read_official_state_dict
from spadelib.presets import get_preset
from spadelib.pruning import load_pruned, prune, save_pruned
from spadelib.kernels import load_kernels, sr_kernels
from spadelib.tasks import MRI, SR, task_of
from spadelib.training import NonFiniteLossError

KW = dict(device="cpu", progress=False)


# ----------------------------------------------------------------------------- the physics
@pytest.mark.parametrize("task", [MRI, SR])
def test_complex_measurements_are_refused_by_name(task):
    m = task.random_measurement(get_preset("quick").replace(mri_size=(16, 16), mri_coils=2,
                                                            sr_size=48))
    A = m.physics()
    x = torch.zeros_like(A.A_adjoint(m.y))
    complex_y = torch.complex(m.y, m.y)
    for fn in (A.grad, A.data_fidelity, A.residual):
        with pytest.raises(TypeError, match=r"y must be a real floating-point tensor .*got dtype "
                                            r"torch.complex64: pass torch.view_as_real\(y\)"):
            fn(x, complex_y)
    with pytest.raises(TypeError, match="y must be a real floating-point tensor, got dtype "
                                        "torch.int64"):
        A.grad(x, m.y.long())
    with pytest.raises(ValueError, match=r"y must have the shape of A x, \(1, "):
        A.data_fidelity(x, m.y[..., :-1])
    assert A.data_fidelity(x, m.y).dtype == torch.float32       # the right y still works


def test_nan_off_the_mask_is_named_and_the_advice_fits():
    m = MRI.random_measurement(get_preset("quick").replace(mri_size=(16, 16), mri_coils=2))
    off = int((m.mask.reshape(-1) == 0).nonzero()[0])
    kspace = m.kspace.clone()
    kspace[0, 0, 0, off, 0] = float("nan")
    kspace[0, 1, 3, off, 1] = 2.0
    with pytest.raises(ValueError, match=r"k-space holds 1 NaN or Inf entries off the sampling "
                                         r"mask \(2 non-zero entries there in all\).*NaN \* 0 is "
                                         r"NaN.*torch.where\(mask == 0, 0, kspace\)"):
        MRIMeasurement(kspace, m.mask, m.coil_maps)
    fixed = torch.where(m.mask == 0, 0, kspace)                 # the advice, followed
    MRIMeasurement(fixed, m.mask, m.coil_maps)


# ------------------------------------------------------------- self-supervised blow-ups
@pytest.fixture
def tiny():
    P = get_preset("quick").replace(mri_size=(16, 16), mri_coils=2, finetune_epochs=2,
                                    train_batch=2, sr_size=48, sr_scale=2)
    return P


@pytest.mark.parametrize("task", ["mri", "sr"])
@pytest.mark.parametrize("how", ["lr", "scale"])
def test_self_supervised_blow_up_is_a_nonfinite_loss_naming_epoch_and_step(tiny, task, how,
                                                                          data_dir):
    """lr = 1e30 turns the weights to Inf after the first step; measurements scaled to 1e37
    (finite) overflow inside the network or its re-measurement. Either way the loss is not
    finite, and the user must hear that (epoch, step), not that their measurements are bad."""
    P = tiny
    if task == "mri":
        torch.manual_seed(0)
        net = build_deq(P.replace(deq_blocks=1, deq_features=4), max_iter=3, tol=1e-9)
        data = task_of("deq").random_samples(P, n=4, seed=1).measurements_only()
    else:
        torch.manual_seed(0)
        net = build("usrnet", P.replace(usrnet_channels=(4, 8, 8, 8), usrnet_iters=2))
        data = task_of("usrnet").random_samples(P, n=4, seed=1).measurements_only()
    lr = 1e30 if how == "lr" else None
    if how == "scale":
        field = "kspace" if "kspace" in data.fields else "lr"
        data = SampleSet(data.sample_type, {**data.fields, field: data.fields[field] * 1e37},
                         data.constants, data.measurement_type)
    with pytest.raises(NonFiniteLossError, match=r"at epoch \d+, step \d+") as err:
        finetune.finetune(net, "self-supervised", data=data, preset=P, lr=lr, cache=False,
                          **KW)
    assert not re.search("off the sampling mask|non-finite entries|measurement", str(err.value))


# ----------------------------------------------------------------- files refused at write
@pytest.mark.determinism
def test_weights_of_another_preset_are_refused_when_written(tmp_path):
    torch.manual_seed(0)
    quick = build("deq", "quick")
    with pytest.raises(ValueError, match=r"not those of the 'paper' preset's 'deq' network "
                                         r"\(.* values in its state dict against .* expected; "
                                         r"(missing|unexpected|other shapes)"):
        zoo.save_checkpoint(quick, tmp_path / "deq.pt", "deq", "paper")
    assert not (tmp_path / "deq.pt").exists()
    state = torch.random.get_rng_state()
    zoo.save_checkpoint(quick, tmp_path / "deq.pt", "deq", "quick")       # its own preset
    assert torch.equal(state, torch.random.get_rng_state())    # the check draws no numbers
    assert zoo.load_checkpoint(tmp_path / "deq.pt", "deq", "quick") is not None


def test_a_pruned_network_of_another_preset_is_refused_when_written(tmp_path):
    torch.manual_seed(0)
    pruned, report = prune(build("varnet", "quick"), 0.2)
    with pytest.raises(ValueError, match=r"this pruned 'varnet' network was not built with the "
                                         r"'paper' preset's sizes"):
        save_pruned(pruned, tmp_path / "p.pt", "varnet", "paper", report)
    assert not (tmp_path / "p.pt").exists()
    back = load_pruned(save_pruned(pruned, tmp_path / "p.pt", "varnet", "quick", report))
    assert sum(p.numel() for p in back.parameters()) == report.params_after


# ----------------------------------------------------------- official USRNet weights
def test_official_weights_of_another_size_are_named_and_refused_at_paper(tmp_path, monkeypatch,
                                                                        data_dir):
    """A file of another size than the preset's USRNet (the authors' usrnet_tiny, say): a
    warning with both sizes at quick, a refusal at paper (its tables are the released
    network's)."""
    path = tmp_path / "usrnet_tiny.pth"
    torch.save(official_state_dict(), path)
    monkeypatch.setenv("SPADE_USRNET_WEIGHTS", str(path))
    with pytest.warns(UserWarning, match=r"usrnet_tiny.pth holds a USRNet with channels=.* "
                                         r"parameters\), not the 'quick' preset's USRNet "
                                         r"\(channels=\(16, 32, 64, 128\), blocks=1, iters=4, "
                                         r"[\d,]+ parameters\); using the file's network"):
        net = zoo.pretrained("usrnet", "quick", device="cpu")
    assert net.variant == "official"
    with pytest.raises(CheckpointError, match=r"not the 'paper' preset's USRNet \(channels="
                                              r"\(64, 128, 256, 512\), blocks=2, iters=8, "
                                              r"17,016,016 parameters\).*not usrnet_tiny.pth"):
        zoo.pretrained("usrnet", "paper", device="cpu")


def test_official_weights_of_the_presets_size_load_without_a_word(tmp_path, monkeypatch,
                                                                  data_dir):
    P = get_preset("quick")
    sd = official_state_dict(channels=P.usrnet_channels, nb=P.usrnet_blocks,
                             iters=P.usrnet_iters)
    torch.save(sd, tmp_path / "usrnet.pth")
    monkeypatch.setenv("SPADE_USRNET_WEIGHTS", str(tmp_path / "usrnet.pth"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.pretrained("usrnet", "quick", device="cpu")


def test_an_unreadable_weights_file_gives_torchs_reason_whole_and_plain(tmp_path):
    bad = tmp_path / "usrnet.pth"
    torch.save({"p.m_head.weight": torch.nn.Linear(2, 2)}, bad)    # a pickled module
    with pytest.raises(CheckpointError) as err:
        read_official_state_dict(bad)
    text = str(err.value)
    assert "\x1b" not in text and "\n" not in text
    assert "weights_only" in text and "pass the official usrnet.pth" in text
    reason = text[text.index("(UnpicklingError: ") + 1:text.rindex("); pass")]
    assert reason.endswith((".", " ...")), reason                 # never cut mid-word


def test_reason_strips_colours_and_cuts_at_a_sentence():
    err = RuntimeError("\x1b[1mFirst sentence here.\x1b[0m Second one is long. " + "x " * 300)
    text = checks.reason(err, limit=60)
    assert text == "RuntimeError: First sentence here. Second one is long. ..."
    assert checks.reason(ValueError("")) == "ValueError"


# ----------------------------------------------------------------------- fastMRI folders
def test_one_unreadable_file_fails_only_its_split_named_once(folder, P, tmp_path,  # noqa: F811
                                                             data_dir):
    f = copy_files(folder, tmp_path / "broken", [0, 1, 5, 6])
    (f / name(3)).write_bytes(b"<html>404 not found</html>")    # sorted into the train split
    splits = fastmri_files(f, P)
    assert [i.path.name for i in splits["train"]] == [name(0), name(1), name(3)]
    assert splits["train"][2].error is not None
    assert fastmri_dataset(f, "val", P, progress=False).fields["kspace"].shape[0] == 2
    assert fastmri_dataset(f, "test", P, progress=False).fields["kspace"].shape[0] == 2
    with pytest.raises(ValueError) as err:
        fastmri_dataset(f, "train", P, progress=False)
    text = str(err.value)
    assert text.startswith("the 'train' split cannot be built: ")
    assert text.count(name(3)) == 1 and "is not an HDF5 file" in text
    assert "the other splits do not use this file" in text
    assert FILES[3][4] == "AXT2"          # the file it stands for would be a subject


def test_a_folder_with_only_unreadable_files_of_the_contrast_says_so(folder, P,  # noqa: F811
                                                                    tmp_path):
    f = copy_files(folder, tmp_path / "others", [2, 4])          # AXT1POST, AXFLAIR
    with h5py.File(f / name(9), "w") as fh:
        fh.create_dataset("image", data=[1.0])
    with pytest.raises(ValueError, match=r"no AXT2 file in .*: found AXFLAIR \(1\), AXT1POST "
                                         r"\(1\), unreadable \(1\)"):
        fastmri_files(f, P)


# ------------------------------------------------------------------------- SR kernels
def test_random_sr_measurements_use_the_official_kernels_where_named(tmp_path, monkeypatch):
    import scipy.io

    path = tmp_path / "kernels_12.mat"
    scipy.io.savemat(path, {"kernels": cell(raw_kernels())})
    assert torch.equal(SR.random_measurement("quick").kernel[0], sr_kernels()[0])
    monkeypatch.setenv("SPADE_USRNET_KERNELS", str(path))
    official = load_kernels(path)
    assert not torch.allclose(official[0], sr_kernels()[0])
    assert torch.equal(SR.random_measurement("quick", batch=2).kernel,
                       official[0].expand(2, -1, -1))
