"""The converged classical baselines shipped with the repository (``shipped/baselines-quick.json``
and ``shipped/baselines-medium.json``, written by ``spade baselines --preset quick|medium``): each
header matches its preset and today's solver settings, every rate the book runs is in it and
every solve reached the tolerance (Chapter 1's control too), medium's weights are quick's (the same validation split), and
CI re-solves a sample of the cells and checks they agree within TOLERANCE_DB."""
import numpy as np
import pytest

from spadelib import classical, get_preset
from spadelib.metrics import psnr
from spadelib.tasks import MRI

#: re-solving a shipped cell on another CPU, and in another chunk of slices (the stopping test
#: sees the whole chunk): a converged solve (relative change < 1e-5) moves by far less than this
TOLERANCE_DB = 0.1


def _shipped(preset="quick"):
    return classical.load_report(preset, data_version=MRI.data_version())


@pytest.mark.parametrize("preset", ["quick", "medium"])
def test_the_shipped_report_matches_its_preset_and_is_complete(preset):
    report = _shipped(preset)
    header, P = report["header"], get_preset(preset)
    assert header["command"] == f"spade baselines --preset {preset}"
    assert set(header["versions"]) >= {"torch", "sigpy", "numpy"} and header["machine"]["cpus"]
    # made with today's solvers, tolerance, caps and grid (else `spade baselines` re-solves)
    assert classical.finished_rates(P, MRI.data_version())[0] == report["rates"]
    assert set(report["rates"]) == {f"{MRI.with_setting(P, r).mri_rate:g}" for r in MRI.settings}
    n_test = P.mri_split_sizes["test"]
    for rate in report["rates"].values():
        for reg in ("tv", "l1-wavelet"):
            cell = rate[reg]
            assert len(cell["test"]["psnr"]) == len(cell["test"]["ssim"]) == n_test
            # the chosen weight's solves reached the tolerance, on validation and on test (a
            # weight far from it may stop at the cap: Chapter 1's table says which)
            chosen = next(r for r in cell["grid"] if r["tau"] == cell["tau"])
            assert all(cell["test"]["converged"]) and all(chosen["converged"])
            assert [r["tau"] for r in cell["grid"]] == sorted(classical.GRID[reg])
            assert cell["tau"] == max(cell["grid"], key=lambda r: r["psnr"])["tau"]
    # Chapter 1's control (classical.CONTROL): quick's report holds it, solved at its rate's
    # weight with today's solver, on every test slice, converged; medium's need not
    control = classical.shipped_control(report)
    if preset == "quick" or "control" in report:
        assert control is not None
        assert len(control["test"]["psnr"]) == n_test and all(control["test"]["converged"])


@pytest.mark.parametrize("reg", ["tv", pytest.param("l1-wavelet", marks=pytest.mark.xfail(
    strict=True, reason="known defect (measured 2026-12-06): the restarted FISTA stops on a "
    "fixed-point residual below 1e-5 that is not yet the minimiser; re-solving 2 slices instead "
    "of the shipped chunk of 8 moves their PSNR by 0.25-0.27 dB. A stricter stopping test (or a "
    "longer cap) and a re-made report are needed"))])
def test_a_sample_of_the_shipped_report_re_solves_within_tolerance(data_dir, reg):
    """Each regulariser at the preset's rate on two test slices, at the shipped weight, against
    the shipped per-slice PSNR (the data are rebuilt here, from the preset's seed)."""
    P = get_preset("quick")
    cell = _shipped()["rates"][f"{P.mri_rate:g}"][reg]
    b = MRI.test_data(P).batch([0, 1])
    got = np.atleast_1d(psnr(classical.solve(b, reg, cell["tau"], workers=1).recon, b.target,
                             complex_input=True))
    assert np.abs(got - np.array(cell["test"]["psnr"][:2])).max() < TOLERANCE_DB


def test_a_sample_of_the_shipped_control_re_solves_within_tolerance(data_dir):
    """Chapter 1's control on its first two test slices (the masks of seeds 0 and 1), at the
    shipped weight, against the shipped per-slice PSNR."""
    from spadelib.data import build_synthetic

    P = get_preset("quick")
    control = classical.shipped_control(_shipped())
    full = build_synthetic("test", P, progress=False)
    b = classical.control_sample({k: full[k][:2] for k in ("kspace_full", "coil_maps", "target")})
    got = np.atleast_1d(psnr(classical.solve(b, control["regulariser"], control["tau"],
                                             workers=1).recon, b.target, complex_input=True))
    assert np.abs(got - np.array(control["test"]["psnr"][:2])).max() < TOLERANCE_DB


def test_medium_solves_its_test_split_at_the_weights_quick_tuned():
    """medium's 48 test slices at quick's weights: the sweep is quick's, read and marked so,
    and the first 16 slices are quick's 16 (the same subjects first), solved again in other
    chunks within the tolerance."""
    quick, medium = _shipped("quick")["rates"], _shipped("medium")["rates"]
    for rate, cells in medium.items():
        for reg, cell in cells.items():
            assert cell["sweep_from"] == "shipped/baselines-quick.json"
            assert cell["tau"] == quick[rate][reg]["tau"]
            assert cell["grid"] == quick[rate][reg]["grid"]
            q = np.array(quick[rate][reg]["test"]["psnr"])
            assert np.abs(np.array(cell["test"]["psnr"][:len(q)]) - q).max() < TOLERANCE_DB, (
                rate, reg)
