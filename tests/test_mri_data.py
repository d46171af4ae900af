"""Synthetic multi-coil brain data (the fastMRI .h5 loader: tests/test_fastmri.py)."""
import numpy as np
import pytest
import torch

from spadelib.data.common import has_ground_truth
from spadelib.data.mri import MRIMeasurement, MRISample, build_synthetic, mri_dataset


@pytest.fixture
def test_split(tiny_preset, data_dir):
    return mri_dataset("test", tiny_preset, progress=False)


def test_sample_layout(test_split, tiny_preset):
    assert len(test_split) == tiny_preset.mri_split_sizes["test"] == 2
    s = test_split[0]
    assert isinstance(s, MRISample)
    c, (h, w) = tiny_preset.mri_coils, tiny_preset.mri_size
    assert s.kspace.shape == (c, h, w, 2) and s.coil_maps.shape == (c, h, w, 2)
    assert s.mask.shape == (1, 1, w, 1) and s.target.shape == (2, h, w)
    assert torch.isclose(s.target.pow(2).sum(0).sqrt().max(), torch.tensor(1.0), atol=1e-5)
    # unsampled columns hold no data
    assert torch.all(s.kspace[:, :, s.mask.reshape(-1) == 0] == 0)


def test_the_measurement_interface_on_the_data(test_split):
    b = test_split.batch([0, 1])
    assert b.y is b.kspace and torch.equal(test_split[0].y, b.kspace[:1])
    assert torch.equal(b.measured, b.mask) and b.measurement_fields == ("kspace", "mask",
                                                                        "coil_maps")
    # with_y keeps every other field, the ground truth included
    moved = b.with_y(b.physics().A(b.target))
    assert type(moved) is MRISample and torch.equal(moved.target, b.target)
    assert torch.equal(moved.mask, b.mask) and torch.equal(moved.coil_maps, b.coil_maps)
    single = test_split[1]
    assert torch.equal(single.with_y(2 * single.y).kspace, 2 * single.kspace)


def test_kspace_off_the_mask_is_refused(test_split):
    s = test_split[0]
    full = s.kspace + 0.1          # non-zero everywhere
    n_off = int((s.mask == 0).sum()) * s.kspace.numel() // s.mask.numel()
    with pytest.raises(ValueError, match=f"k-space has {n_off} non-zero entries off the "
                                         "sampling mask.*multiply by the mask"):
        MRIMeasurement(full, s.mask, s.coil_maps)
    with pytest.raises(ValueError, match="non-zero entries off the sampling mask"):
        s.with_y((full * 1.0)[None])
    with pytest.raises(ValueError, match="does not broadcast"):
        MRIMeasurement(s.kspace, s.mask[..., :3, :], s.coil_maps)
    MRIMeasurement(full * s.mask, s.mask, s.coil_maps)     # masked: accepted


def test_a_nan_on_a_sampled_line_is_not_called_off_the_mask(test_split):
    s = test_split[0]
    col = int(s.mask.reshape(-1).nonzero()[0])
    kspace = s.kspace.clone()
    kspace[0, 0, col, 0] = float("nan")            # on a measured line
    m = MRIMeasurement(kspace, s.mask, s.coil_maps)  # not refused as "off the mask"
    kspace = kspace.clone()
    kspace[0, 0, int((s.mask.reshape(-1) == 0).nonzero()[0]), 0] = float("inf")
    with pytest.raises(ValueError, match=r"k-space holds 1 NaN or Inf entries off the sampling "
                       r"mask \(1 non-zero .*NaN \* 0 is NaN"):
        MRIMeasurement(kspace, s.mask, s.coil_maps)   # off the mask: counted, once, named
    kspace[0, 0, int((s.mask.reshape(-1) == 0).nonzero()[0]), 0] = 1.0
    with pytest.raises(ValueError, match="k-space has 1 non-zero entries off the sampling"):
        MRIMeasurement(kspace, s.mask, s.coil_maps)   # a finite entry: multiply by the mask
    from spadelib.models import build
    from spadelib.presets import get_preset
    with pytest.raises(ValueError, match="'kspace' holds 1 non-finite"):
        build("varnet", get_preset("quick"))(m)       # the NaN is refused where it is used


def test_measurements_are_consistent_with_ground_truth(test_split):
    b = test_split.batch()
    y = b.kspace
    resid = (b.physics().A(b.target) - y).norm() / y.norm()
    assert resid < 0.05, resid   # noise and the ESPIRiT projection only


def test_maps_are_phase_referenced_to_the_calibration_image(test_split):
    """The ground truth is nearly real (the smooth phase lives in the maps), the maps keep unit
    norm on their support, and the reference changes only the phase of the ground truth."""
    t = test_split.fields["target"]
    assert t[:, 1].pow(2).sum() / t.pow(2).sum() < 0.02
    m = test_split.fields["coil_maps"]
    rss = m.pow(2).sum((-1, 1))
    on = rss > 1e-6
    assert torch.allclose(rss[on], torch.ones_like(rss[on]), atol=1e-4)


def test_calibration_phase_recovers_a_smooth_phase():
    import sigpy as sp

    from spadelib.data.mri import calibration_phase

    yy, xx = np.mgrid[-1:1:48j, -1:1:48j]
    mag = np.exp(-(xx ** 2 + yy ** 2) / 0.3)
    phi = 1.2 * xx - 0.8 * yy ** 2 + 0.5
    image = mag * np.exp(1j * phi)
    maps = np.stack([np.full((48, 48), 0.6), np.full((48, 48), 0.8j)])   # unit norm
    kspace = sp.fft(maps * image, axes=(-2, -1))
    phase = calibration_phase(kspace, maps, 16)
    assert phase.shape == (48, 48) and np.allclose(np.abs(phase), 1, atol=1e-5)
    inside = mag > 0.3
    err = np.angle(phase[inside] * np.exp(-1j * phi[inside]))
    assert np.abs(err).max() < 0.15, np.abs(err).max()   # low-resolution estimate
    # referenced maps make the combined image real and keep its magnitude
    combined = np.sum(np.conj(maps * phase) * sp.ifft(kspace, axes=(-2, -1)), axis=0)
    assert np.allclose(np.abs(combined), mag, atol=1e-6)
    assert np.abs(combined.imag[inside]).max() < 0.15 * mag.max()


def test_splits_are_disjoint_by_subject(tiny_preset, data_dir):
    subjects = {s: set(build_synthetic(s, tiny_preset, progress=False)["subject"].tolist())
                for s in ("train", "val", "test")}
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert len(subjects["train"]) == tiny_preset.mri_subjects[0]


def test_measurement_only_view_cannot_reach_ground_truth(test_split):
    view = test_split.measurements_only()
    assert has_ground_truth(test_split) and not has_ground_truth(view)
    m = view[0]
    assert type(m) is MRIMeasurement and not hasattr(m, "target")
    assert set(view.fields) == {"kspace", "mask", "coil_maps"}
    assert not has_ground_truth(view.batch([0, 1]))
    # a copy, not a window on the original storage
    assert view.fields["kspace"].data_ptr() != test_split.fields["kspace"].data_ptr()


@pytest.mark.determinism
def test_cached_and_deterministic(tiny_preset, data_dir):
    a = build_synthetic("val", tiny_preset, progress=False)
    files = sorted(data_dir.glob("mri-synthetic-val-*.pt"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    b = build_synthetic("val", tiny_preset, progress=False)
    assert files[0].stat().st_mtime_ns == stamp            # read, not rebuilt
    assert torch.equal(a["target"], b["target"])
    other = build_synthetic("val", tiny_preset.replace(seed=1), progress=False)
    assert not torch.equal(a["target"], other["target"])   # another key, another file
    assert len(list(data_dir.glob("mri-synthetic-val-*.pt"))) == 2


def test_rates_change_masks_only(tiny_preset, data_dir):
    a = mri_dataset("test", tiny_preset, rate=0.167, progress=False)
    b = mri_dataset("test", tiny_preset, rate=0.1, progress=False)
    assert torch.equal(a.fields["target"], b.fields["target"])
    assert a.fields["mask"].mean() > b.fields["mask"].mean()


def test_bad_split_and_rate(tiny_preset, data_dir):
    with pytest.raises(ValueError, match="unknown split 'training'"):
        mri_dataset("training", tiny_preset)
    with pytest.raises(ValueError, match="no mask is defined for sampling rate 0.5"):
        mri_dataset("test", tiny_preset, rate=0.5)
    assert not any(data_dir.glob("*.pt")) if data_dir.exists() else True


@pytest.mark.determinism
def test_building_on_several_processes_gives_the_same_data(tiny_preset, tmp_path, monkeypatch):
    from spadelib.data.mri import build_synthetic

    built = []
    for workers in (1, 2):
        monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / f"w{workers}"))
        built.append(build_synthetic("train", tiny_preset, progress=False, workers=workers))
    assert set(built[0]) == set(built[1])
    for key in built[0]:
        assert torch.equal(built[0][key], built[1][key]), key
