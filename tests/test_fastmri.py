"""The fastMRI multi-coil brain loader (spadelib.data.fastmri) on mock files in the release
layout, and SVD coil compression (spadelib.data.coils)."""
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch

from spadelib.data import coils as cc
from spadelib.data.fastmri import (EDGE_SLICES, _contrast_of_header, _contrast_of_text,
                                   fastmri_dataset, fastmri_files, fastmri_slice_kspace)
from spadelib.data.mri import MRISample
from spadelib.presets import get_preset

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <measurementInformation>
    <measurementID>mock</measurementID>
    <patientPosition>HFS</patientPosition>
    <protocolName>{protocol}</protocolName>
  </measurementInformation>
  <acquisitionSystemInformation><receiverChannels>{coils}</receiverChannels>
  </acquisitionSystemInformation>
</ismrmrdHeader>"""

# (slices, coils, H, W, acquisition attribute, ismrmrd protocol name): readout oversampled by
# two (H = 2W) and otherwise (file 6), odd widths, 4..14 coils, five contrasts, one file with
# no attribute whose header names the contrast. Names carry no contrast: the loader must read it.
FILES = [(8, 4, 64, 32, "AXT2", None), (6, 14, 74, 37, "AXT2", None),
         (7, 6, 70, 35, "AXT1POST", None), (8, 8, 66, 33, "AXT2", None),
         (6, 10, 80, 40, "AXFLAIR", None), (7, 12, 68, 34, None, "AX T2 FSE"),
         (6, 5, 96, 41, "AXT2", None), (6, 7, 72, 36, "AXT1", None)]
AXT2 = [0, 1, 3, 5, 6]   # sorted by name: train 0, 1, 3; val 5; test 6


def name(i):
    return f"file_brain_{i:03d}.h5"


def mock_volume(slices, coils, height, width, seed):
    """Complex k-space (slices, coils, H, W) of a smooth blob object that grows and brightens
    with the slice index (so slices are told apart), seen by coils whose maps are mixtures of
    three smooth birdcage maps plus a small full-rank part (low-rank coil structure, like real
    arrays), with a little noise."""
    import sigpy as sp
    import sigpy.mri as mr

    rng = np.random.default_rng(seed)
    base = mr.birdcage_maps((3, height, width), r=1.5, nzz=3)
    mix = rng.standard_normal((coils, 3)) + 1j * rng.standard_normal((coils, 3))
    maps = np.einsum("cr,rhw->chw", mix, base) / np.sqrt(3)
    maps = maps + 0.05 * mr.birdcage_maps((coils, height, width), r=1.2, nzz=coils)
    y, x = np.mgrid[0:height, 0:width]
    v, u = (y - height / 2) / (width / 2), (x - width / 2) / (width / 2)
    k = np.zeros((slices, coils, height, width), np.complex64)
    for z in range(slices):
        s = 0.45 + 0.05 * z
        r = np.sqrt((v / (1.15 * s)) ** 2 + (u / s) ** 2)
        obj = 1 / (1 + np.exp((r - 1) / 0.08)) + 0.6 * np.exp(
            -((v - 0.15) ** 2 + (u + 0.1) ** 2) / 0.02)
        obj = brightness(z) * obj * np.exp(1j * (0.4 * u + 0.3 * v))
        kz = sp.fft(maps * obj, axes=(-2, -1))
        k[z] = kz + 1e-3 * np.abs(kz).max() * (rng.standard_normal(kz.shape)
                                               + 1j * rng.standard_normal(kz.shape))
    return k


def brightness(z):
    return 0.5 + 0.1 * z


def write_file(path, slices, coils, height, width, acquisition="AXT2", protocol=None, seed=0,
               kspace=None):
    """One file in the release layout: kspace, reconstruction_rss, attributes, header."""
    import sigpy as sp

    k = mock_volume(slices, coils, height, width, seed) if kspace is None else kspace
    side = min(k.shape[-2:])
    rss = cc.rss(sp.ifft(k, axes=(-2, -1)))
    rss = rss[..., (k.shape[-2] - side) // 2:(k.shape[-2] - side) // 2 + side,
              (k.shape[-1] - side) // 2:(k.shape[-1] - side) // 2 + side].astype("f4")
    with h5py.File(path, "w") as fh:
        fh.create_dataset("kspace", data=k)
        fh.create_dataset("reconstruction_rss", data=rss)
        if acquisition is not None:
            fh.attrs["acquisition"] = acquisition
        if protocol is not None:
            fh.create_dataset("ismrmrd_header",
                              data=HEADER.format(protocol=protocol, coils=coils).encode())
        fh.attrs.update({"max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                         "patient_id": f"mock{seed}"})


@pytest.fixture(scope="module")
def P():
    return get_preset("quick").replace(mri_size=(32, 32), mri_coils=4, mri_subjects=(3, 1, 1),
                                       mri_slices_per_subject=2, espirit_calib=12,
                                       mri_train_slices_per_subject=None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("multicoil_val")
    for i, (s, c, h, w, acq, protocol) in enumerate(FILES):
        write_file(f / name(i), s, c, h, w, acq, protocol, seed=i)
    return f


@pytest.fixture(scope="module")
def sets(folder, P, tmp_path_factory):
    """The three AXT2 splits, built once for the module (in a private cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPADE_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
        return {s: fastmri_dataset(folder, s, P, progress=False) for s in ("train", "val", "test")}


def copy_files(src, dst, indices):
    dst.mkdir(parents=True, exist_ok=True)
    for i in indices:
        shutil.copy(src / name(i), dst / name(i))
    return dst


def full_rss(folder, i, z, size=(32, 32)):
    """The root-sum-of-squares image of slice z of file i with *all* its coils, brought to
    ``size`` like the loader does: what coil compression should preserve."""
    import sigpy as sp

    with h5py.File(folder / name(i), "r") as fh:
        k = fastmri_slice_kspace(fh["kspace"][z], size)
    return cc.rss(sp.ifft(k, axes=(-2, -1)))


def magnitude(target):
    return target.pow(2).sum(-3).sqrt().numpy()


# ------------------------------------------------------------------------ coil compression
def smooth_coil_images(coils, rank, seed, size=32, noise=0.0):
    import sigpy.mri as mr

    rng = np.random.default_rng(seed)
    base = mr.birdcage_maps((rank, size, size), r=1.5, nzz=rank)
    mix = rng.standard_normal((coils, rank)) + 1j * rng.standard_normal((coils, rank))
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    obj = np.exp(-(x ** 2 + y ** 2) / 0.08) * np.exp(1j * 3 * x)
    img = np.einsum("cr,rhw->chw", mix, base) * obj
    img = img + noise * np.abs(img).max() * (rng.standard_normal(img.shape)
                                             + 1j * rng.standard_normal(img.shape))
    return np.stack([img, 0.7 * img[:, ::-1]])            # a two-slice "volume" (2, C, H, W)


def test_compression_to_the_same_count_preserves_rss_exactly():
    x = smooth_coil_images(6, 6, seed=1, noise=0.1)
    m = cc.compression_matrix(x, 6)
    assert m.shape == (6, 6)
    assert np.allclose(m @ m.conj().T, np.eye(6), atol=1e-5)     # unitary
    y = cc.compress_coils(x, m)
    assert y.shape == x.shape and y.dtype == np.complex64
    err = np.abs(cc.rss(y) - cc.rss(x)).max() / cc.rss(x).max()
    assert err < 1e-5, err
    assert cc.retained_energy(x, m) == pytest.approx(1.0, abs=1e-5)


def test_compressing_12_low_rank_coils_to_8_preserves_rss():
    x = smooth_coil_images(12, 6, seed=2, noise=1e-3)     # rank 6 + noise
    m = cc.compression_matrix(x, 8)
    assert m.shape == (8, 12) and np.allclose(m @ m.conj().T, np.eye(8), atol=1e-5)
    y = cc.compress_coils(x, m)
    assert y.shape == (2, 8, 32, 32)
    rel = np.linalg.norm(cc.rss(y) - cc.rss(x)) / np.linalg.norm(cc.rss(x))
    assert rel < 2e-3, rel
    assert cc.retained_energy(x, m) > 0.999
    # the dominant components come first: keeping fewer than the rank loses signal
    few = cc.compress_coils(x, cc.compression_matrix(x, 3))
    assert np.linalg.norm(cc.rss(few) - cc.rss(x)) / np.linalg.norm(cc.rss(x)) > 10 * rel
    # each virtual coil has a fixed phase: its largest weight is real and positive
    big = m[np.arange(8), np.abs(m).argmax(1)]
    assert np.allclose(big.imag, 0, atol=1e-6) and np.all(big.real > 0)


def test_compression_matrix_errors():
    x = smooth_coil_images(4, 4, seed=3)
    with pytest.raises(ValueError, match="cannot compress 4 coils to 6: compression only "
                                         "reduces the coil count"):
        cc.compression_matrix(x, 6)
    with pytest.raises(ValueError, match=r"does not fit data with 4 coils"):
        cc.compress_coils(x, np.eye(3, 5))


# ------------------------------------------------------------------------ contrasts
@pytest.mark.parametrize("text, contrast", [
    ("AX T2", "AXT2"), ("AX T2 FSE", "AXT2"), ("ax_t2_tse", "AXT2"), ("AX FLAIR", "AXFLAIR"),
    ("AX T2 FLAIR", "AXFLAIR"), ("AX T1 POST", "AXT1POST"), ("AX T1 +C", "AXT1POST"),
    ("AX T1 PRE", "AXT1PRE"), ("AX T1", "AXT1"), ("SAG T1", None), ("COR T2", None),
    ("AX T2 CORRECTED", "AXT2"), ("localizer", None),
    ("", None)])
def test_contrast_from_protocol_names(text, contrast):
    assert _contrast_of_text(text) == contrast


def test_contrast_from_the_ismrmrd_header():
    assert _contrast_of_header(HEADER.format(protocol="AX T1 POST", coils=8).encode()) == \
        "AXT1POST"
    assert _contrast_of_header(np.bytes_(HEADER.format(protocol="AX FLAIR", coils=8))) == \
        "AXFLAIR"
    # seriesDescription is the fallback when the protocol name names no contrast
    xml = HEADER.format(protocol="head routine", coils=8).replace(
        "</measurementInformation>", "<seriesDescription>AX T2</seriesDescription>"
        "</measurementInformation>")
    assert _contrast_of_header(xml.encode()) == "AXT2"
    assert _contrast_of_header(HEADER.format(protocol="AX T2", coils=8)) == "AXT2"   # str
    assert _contrast_of_header(b"<not xml") is None
    assert _contrast_of_header(HEADER.format(protocol="localizer", coils=8)) is None


# ------------------------------------------------------------------------ the loader
def test_only_the_t2_files_are_subjects_split_by_name(folder, P):
    files = fastmri_files(folder, P)
    assert {s: [f.path.name for f in v] for s, v in files.items()} == {
        "train": [name(0), name(1), name(3)], "val": [name(5)], "test": [name(6)]}
    assert all(f.contrast == "AXT2" for v in files.values() for f in v)   # file 5: from header
    assert [f.coils for f in files["train"]] == [4, 14, 8]
    # the same files in another folder, written in another order: the same split
    other = folder.parent / "reversed"
    for i in reversed(range(len(FILES))):
        copy_files(folder, other, [i])
    again = fastmri_files(other, P)
    assert {s: [f.path.name for f in v] for s, v in again.items()} == \
        {s: [f.path.name for f in v] for s, v in files.items()}


def test_contrast_choice(folder, P):
    # "all" takes every file: the preset's 3 + 1 + 1 of the 8, by name
    files = fastmri_files(folder, P, contrast="all")
    assert [f.path.name for f in files["train"]] == [name(0), name(1), name(2)]
    assert [f.contrast for f in files["val"] + files["test"]] == ["AXT2", "AXFLAIR"]
    # a tuple of contrasts; case does not matter. 3 files < 5: split in proportion
    files = fastmri_files(folder, P, contrast=("axt1post", "AXFLAIR", "AXT1"))
    assert [[f.path.name for f in files[s]] for s in ("train", "val", "test")] == [
        [name(2)], [name(4)], [name(7)]]
    # fewer files than the preset's counts: the same proportions (8:1:1 of 5 -> 3 / 1 / 1)
    files = fastmri_files(folder, P.replace(mri_subjects=(8, 1, 1)))
    assert [len(files[s]) for s in ("train", "val", "test")] == [3, 1, 1]
    with pytest.raises(ValueError, match=r"unknown contrast 'T2'; choose one of AXT1, AXT1PRE, "
                                         r"AXT1POST, AXT2, AXFLAIR"):
        fastmri_files(folder, P, contrast="T2")
    with pytest.raises(ValueError, match="'all' cannot be combined"):
        fastmri_files(folder, P, contrast=("all", "AXT2"))
    with pytest.raises(ValueError, match="contrast must be one of"):
        fastmri_files(folder, P, contrast=2)
    with pytest.raises(ValueError, match=r"no AXT1PRE file in .*multicoil_val.*: found "
                                         r"AXFLAIR \(1\), AXT1 \(1\), AXT1POST \(1\), AXT2 \(5\)"):
        fastmri_dataset(folder, "train", P, contrast="AXT1PRE", progress=False)


def test_samples_are_like_the_synthetic_ones(sets, P):
    assert [len(sets[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert sets["train"].info["contrast"] == "AXT2"
    s = sets["test"][0]
    assert isinstance(s, MRISample)
    assert s.kspace.shape == (4, 32, 32, 2) and s.coil_maps.shape == (4, 32, 32, 2)
    assert s.mask.shape == (1, 1, 32, 1) and s.target.shape == (2, 32, 32)
    assert torch.all(s.kspace[:, :, s.mask.reshape(-1) == 0] == 0)
    # files of 4, 14 and 8 coils batch together, and the data fit the forward model
    b = sets["train"].batch()
    assert b.kspace.shape == (6, 4, 32, 32, 2)
    resid = (b.physics().A(b.target) - b.kspace).norm() / b.kspace.norm()
    assert resid < 0.05, resid
    # the ESPIRiT maps have unit norm on their support, as for the synthetic data
    norm = b.coil_maps.pow(2).sum((-1, 1))
    on = norm > 1e-6
    assert on.float().mean() > 0.2
    assert torch.allclose(norm[on], torch.ones_like(norm[on]), atol=1e-4)


def test_coil_compression_preserves_the_coil_combined_image(sets, folder, P):
    """The ESPIRiT-combined ground truth of the compressed data (4 virtual coils) matches the
    RSS image of the file's full coil set: 14, 8 and 4 coils (train), 12 (val), 5 (test)."""
    for split, files in (("train", [0, 1, 3]), ("val", [5]), ("test", [6])):
        info = fastmri_files(folder, P)[split]
        for j, (i, f) in enumerate(zip(files, info)):
            assert f.path.name == name(i)
            ref = np.stack([full_rss(folder, i, z) for z in f.taken])
            ref = ref / ref.max()                                   # per volume, like the loader
            got = magnitude(sets[split].fields["target"][2 * j:2 * j + 2])
            support = ref > 0.2
            rel = np.linalg.norm((got - ref)[support]) / np.linalg.norm(ref[support])
            assert rel < 5e-3, (name(i), rel)   # keeping the first 4 coils: up to 0.045


def test_edge_slices_are_never_taken(sets, folder, P):
    assert EDGE_SLICES == 2             # the documented margin at each end of a volume
    files = fastmri_files(folder, P)
    for f in (f for v in files.values() for f in v):
        n = f.slices
        assert all(EDGE_SLICES <= z < n - EDGE_SLICES for z in f.taken)
        assert len(f.taken) == P.mri_slices_per_subject
        centre = (n - 1) / 2                              # the central ones
        assert abs(np.mean(f.taken) - centre) <= 0.5
    # and the data are those slices: each target matches its own slice of the file best
    for split, v in files.items():
        for j, f in enumerate(v):
            i = int(f.path.stem.rsplit("_", 1)[1])
            refs = [full_rss(folder, i, z).ravel() for z in range(f.slices)]
            for t, z in zip(sets[split].fields["target"][2 * j:2 * j + 2], f.taken):
                mag = magnitude(t).ravel()
                errs = [np.linalg.norm(mag / mag.max() - r / r.max()) for r in refs]
                assert int(np.argmin(errs)) == z, (f.path.name, errs)
    # a volume with too few slices once the edges are dropped: an error naming the file
    short = copy_files(folder, folder.parent / "short", [0, 3, 6])
    write_file(short / "file_brain_001.h5", 5, 6, 64, 32, seed=9)
    with pytest.raises(ValueError, match=rf"file_brain_001\.h5: 5 slices, 1 once the "
                                         rf"{EDGE_SLICES} first and last .*dropped.*"
                                         r"mri_slices_per_subject = 2"):
        fastmri_files(short, P)


def test_one_scale_per_volume(sets, folder, P):
    files = fastmri_files(folder, P)
    peaks = []
    for split, v in files.items():
        mags = magnitude(sets[split].fields["target"])
        for j, f in enumerate(v):
            vol = mags[2 * j:2 * j + 2]
            assert vol.max() == pytest.approx(1.0, abs=1e-5)      # the volume peaks at 1
            peaks.append(vol.max((1, 2)))
            # the slices keep the brightness ratio they were acquired with
            z0, z1 = f.taken
            assert vol[0].max() / vol[1].max() == pytest.approx(
                brightness(z0) / brightness(z1), rel=0.03)
    assert min(p.min() for p in peaks) < 0.95    # not every slice is scaled to peak 1


def test_networks_run_on_the_data(sets, P):
    from spadelib.models import build

    tiny = P.replace(varnet_cascades=1, varnet_chans=4, varnet_pools=1)
    b = sets["train"].batch([0, 2, 4])                 # files of 4, 14 and 8 coils
    for net_name in ("varnet", "e2e-varnet"):
        torch.manual_seed(0)
        net = build(net_name, tiny).eval()
        with torch.no_grad():
            out = net(b)
        assert out.shape == (3, 2, 32, 32) and torch.isfinite(out).all()


def test_the_data_are_cached_by_contrast_and_files(folder, P, data_dir, monkeypatch):
    from spadelib.data import fastmri

    built = []
    real = fastmri._volume_rows
    monkeypatch.setattr(fastmri, "_volume_rows", lambda info, p: built.append(info.path.name)
                        or real(info, p))
    a = fastmri_dataset(folder, "test", P, progress=False)
    b = fastmri_dataset(folder, "test", P, progress=False)            # from the cache
    assert built == [name(6)]
    assert torch.equal(a.fields["target"], b.fields["target"])
    fastmri_dataset(folder, "test", P, contrast="all", progress=False)   # another key
    assert built == [name(6), name(4)]
    assert len(list(data_dir.glob("mri-fastmri-test-*.pt"))) == 2


# ------------------------------------------------------------------------ skipped files
def test_a_file_of_unknown_contrast_is_skipped_with_a_warning(folder, tmp_path, P):
    f = copy_files(folder, tmp_path / "unknown", range(len(FILES)))
    write_file(f / "file_brain_002.h5", 6, 6, 64, 32, acquisition=None, seed=2)   # no header
    write_file(f / "file_brain_004.h5", 6, 6, 64, 32, acquisition=None, protocol="localizer",
               seed=4)
    with pytest.warns(UserWarning, match=r"skipped 2 file\(s\) .* whose contrast is unknown.*"
                                         r"file_brain_002\.h5, file_brain_004\.h5"):
        files = fastmri_files(f, P)
    assert [x.path.name for x in files["train"]] == [name(0), name(1), name(3)]
    # "all" needs no contrast: no warning, every file counts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [x.path.name for x in fastmri_files(f, P, "all")["train"]] == \
            [name(0), name(1), name(2)]


def test_a_file_with_fewer_coils_than_the_preset_is_left_out(folder, tmp_path, P):
    f = copy_files(folder, tmp_path / "coils", AXT2)
    write_file(f / "file_brain_002.h5", 6, 3, 64, 32, seed=2)     # an AXT2 file of 3 coils
    with pytest.warns(UserWarning, match=r"skipped 1 AXT2 file\(s\) .* fewer coils than the "
                                         r"preset's mri_coils = 4.*file_brain_002\.h5 \(3 coils\)"):
        files = fastmri_files(f, P)
    assert name(2) not in [x.path.name for v in files.values() for x in v]
    # a preset of 10 coils keeps the 12- and 14-coil files only: too few for val and test
    with pytest.warns(UserWarning, match=r"file_brain_000\.h5 \(4 coils\).*"
                                         r"file_brain_006\.h5 \(5 coils\)"):
        with pytest.raises(ValueError, match=r"only 2 usable AXT2 file\(s\) in .*coils: not "
                                             r"enough for a 'val' split"):
            fastmri_dataset(f, "val", P.replace(mri_coils=10), progress=False)


# ------------------------------------------------------------------------ errors
def test_the_loader_is_exported_where_it_was():
    import spadelib.data
    import spadelib.data.mri
    from spadelib.data import fastmri

    assert spadelib.data.fastmri_dataset is fastmri.fastmri_dataset
    assert spadelib.data.mri.fastmri_dataset is fastmri.fastmri_dataset
    assert spadelib.data.mri.fastmri_slice_kspace is fastmri_slice_kspace


def test_folder_errors(tmp_path, P, data_dir):
    with pytest.raises(FileNotFoundError, match="fastMRI data folder not found"):
        fastmri_dataset(tmp_path / "nowhere", "train", P)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .h5 files"):
        fastmri_dataset(tmp_path / "empty", "train", P)
    with pytest.raises(ValueError, match="unknown split 'training'"):
        fastmri_dataset(tmp_path / "empty", "training", P)


@pytest.mark.parametrize("case, message", [
    ("html", r"file_brain_003\.h5 is not an HDF5 file"),
    ("no-kspace", r"file_brain_003\.h5 has no 'kspace' dataset"),
    ("single-coil", r"file_brain_003\.h5: expected multi-coil kspace \(slices, coils, H, W\)"),
    ("real", r"file_brain_003\.h5: kspace must be complex"),
    ("small", r"file_brain_003\.h5: cannot bring k-space of size 40 x 20 .* up to the preset's "
              r"mri_size \(32, 32\)"),
])
def test_errors_name_the_file(folder, tmp_path, P, data_dir, case, message):
    f = copy_files(folder, tmp_path / case, [0, 1, 5, 6])
    bad = f / name(3)
    if case == "html":          # an interrupted download, a renamed file
        bad.write_bytes(b"<html>404 not found</html>")
    elif case == "small":
        write_file(bad, 6, 4, 40, 20, seed=3)
    else:
        with h5py.File(bad, "w") as fh:
            if case == "single-coil":
                fh.create_dataset("kspace", data=np.zeros((6, 48, 48), np.complex64))
            elif case == "real":
                fh.create_dataset("kspace", data=np.zeros((6, 4, 64, 32), np.float32))
            else:
                fh.create_dataset("image", data=np.zeros((2, 2)))
            fh.attrs["acquisition"] = "AXT2"
    with pytest.raises(ValueError, match=message):
        fastmri_dataset(f, "train", P, progress=False)


def test_slice_kspace_crops_readout_oversampling_and_odd_widths():
    import sigpy as sp

    # an image of 37 x 37 inside a readout-oversampled 74 x 37 field of view, 3 coils
    k = mock_volume(1, 3, 74, 37, seed=5)[0]
    out = fastmri_slice_kspace(k, (32, 32))
    assert out.shape == (3, 32, 32) and out.dtype == np.complex64
    # the k-space centre stays the centre: each coil's DC term is that of the 37 x 37 image
    # (the orthonormal FFT's DC term is the image sum over sqrt(37 * 37))
    img = sp.ifft(k, axes=(-2, -1))[:, 18:18 + 37]
    dc = img.sum((-2, -1)) / 37
    assert np.allclose(out[:, 16, 16], dc, rtol=1e-3)
    with pytest.raises(ValueError, match=r"cannot bring k-space of size \(74, 37\) up to "
                                         r"\(48, 48\)"):
        fastmri_slice_kspace(k, (48, 48))
    with pytest.raises(ValueError, match="expected one complex multi-coil slice"):
        fastmri_slice_kspace(np.abs(k), (32, 32))


def test_training_volumes_give_up_to_the_train_slice_count(folder, P):
    """``mri_train_slices_per_subject`` is an upper bound for real volumes: a training file
    gives its usable central slices, up to that count; validation and test files are those of
    the preset without it."""
    more = fastmri_files(folder, P.replace(mri_train_slices_per_subject=4))
    base = fastmri_files(folder, P)
    assert [f.taken for f in more["val"]] == [f.taken for f in base["val"]]
    assert [f.taken for f in more["test"]] == [f.taken for f in base["test"]]
    for f in more["train"]:                    # FILES' train volumes hold 8, 6 and 8 slices
        usable = f.slices - 4                  # two edge slices at each end
        assert len(f.taken) == min(4, usable) and f.taken[0] >= 2 and f.taken[-1] < f.slices - 2
    assert [len(f.taken) for f in more["train"]] == [4, 2, 4]
