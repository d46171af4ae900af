"""Converged, tuned classical baselines (spadelib.classical) and the report shipped with the
repository: the solver converges, its result does not depend on how slices are grouped, the
report is written with its header and refused when made for other settings.

The tests of the report shipped with the repository (header against the quick preset, a
sample re-solved within TOLERANCE_DB) come with the report itself."""
import numpy as np
import pytest
import torch

from spadelib import classical
from spadelib.data import mri_dataset
from spadelib.metrics import psnr

#: re-solving a shipped cell on another CPU: sums in another order move the solution of a
#: converged solve (relative change < 1e-5 per iteration) by far less than this
TOLERANCE_DB = 0.1


@pytest.fixture
def tiny(tiny_preset, data_dir):
    return mri_dataset("test", tiny_preset, progress=False)


@pytest.mark.parametrize("reg, tau", [("tv", 3e-4), ("l1-wavelet", 1e-4)])
def test_a_converged_solve_reaches_a_lower_objective_than_a_stopped_one(tiny, reg, tau):
    b = tiny.batch()
    done = classical.solve(b, reg, tau, workers=1)
    short = classical.solve(b, reg, tau, workers=1, max_iter=5)
    assert done.converged == [True] and short.converged == [False]
    assert done.rel_change[0][-1] < classical.TOL <= min(short.rel_change[0])
    assert done.objective[0][-1] < short.objective[0][-1]
    assert done.recon.shape == b.target.shape and done.iterations[0] == len(done.objective[0])


def test_warm_start_from_the_solution_converges_sooner(tiny):
    b = tiny.batch()
    done = classical.solve(b, "tv", 3e-4, workers=1)
    again = classical.solve(b, "tv", 3e-4, workers=1, start=done.recon)
    assert again.converged == [True] and again.iterations[0] < done.iterations[0]


def test_slices_are_solved_independently(tiny):
    """The batch is one separable problem: a slice alone gives the same image, within the
    solver's tolerance (not bit for bit: the stopping test sees the whole chunk)."""
    b = tiny.batch()
    both = classical.solve(b, "tv", 3e-4, workers=1, tol=1e-6)
    alone = classical.solve(tiny.batch([1]), "tv", 3e-4, workers=1, tol=1e-6)
    gap = abs(float(psnr(both.recon[1:], b.target[1:], complex_input=True)[0])
              - float(psnr(alone.recon, b.target[1:], complex_input=True)[0]))
    assert gap < 0.01


def test_bad_arguments_are_named(tiny):
    b = tiny.batch()
    with pytest.raises(ValueError, match="regulariser"):
        classical.solve(b, "l2", 1e-3)
    with pytest.raises(ValueError, match="lamda"):
        classical.solve(b, "tv", 0.0)
    with pytest.raises(ValueError, match="tol"):
        classical.solve(b, "tv", 1e-3, tol=-1)


def test_sweep_picks_the_best_weight_and_says_when_it_is_at_an_edge(tiny):
    out = classical.sweep(tiny, "tv", grid=(1e-4, 1e-2, 1.0), workers=1)
    values = [r["psnr"] for r in out["grid"]]
    assert [r["tau"] for r in out["grid"]] == [1e-4, 1e-2, 1.0]
    assert out["tau"] == out["grid"][int(np.argmax(values))]["tau"]
    assert out["at_edge"] == (out["tau"] != 1e-2)


def test_a_report_of_other_settings_is_refused_with_the_command(tmp_path, tiny_preset):
    path = tmp_path / "b.json"
    with pytest.raises(classical.ReportError, match="spade baselines --preset quick"):
        classical.load_report("quick", path=path)
    path.write_text("{not json")
    with pytest.raises(classical.ReportError, match="not a converged-baseline report"):
        classical.load_report("quick", path=path)
    classical.write_report({}, tiny_preset, "spade baselines", 2, 1.0, path=path)
    with pytest.raises(classical.ReportError, match="mri_size"):
        classical.load_report("quick", path=path)
    assert classical.load_report(tiny_preset, path=path)["header"]["command"] == "spade baselines"
    with pytest.raises(classical.ReportError, match="data version"):
        classical.load_report(tiny_preset, data_version=99, path=path)


def test_finished_rates_keeps_a_report_of_todays_settings_only(tmp_path, tiny_preset):
    path = tmp_path / "b.json"
    assert classical.finished_rates(tiny_preset, 2, path) == ({}, 0.0)
    classical.write_report({"0.167": {"tv": {}}}, tiny_preset, "spade baselines", 2, 7.0,
                           path=path)
    assert classical.finished_rates(tiny_preset, 2, path) == ({"0.167": {"tv": {}}}, 7.0)
    assert classical.finished_rates(tiny_preset, 3, path) == ({}, 0.0)   # other data
    grid = dict(classical.GRID)
    try:
        classical.GRID["tv"] = (1.0,)                                        # another grid
        assert classical.finished_rates(tiny_preset, 2, path) == ({}, 0.0)
    finally:
        classical.GRID.update(grid)


def test_changing_one_regulariser_re_solves_that_one_only(tmp_path, tiny_preset, monkeypatch):
    path = tmp_path / "b.json"
    cells = {"0.167": {"tv": {"tau": 1e-5}, "l1-wavelet": {"tau": 3e-5}}}
    classical.write_report(cells, tiny_preset, "spade baselines", 2, 7.0, path=path)
    assert classical.finished_rates(tiny_preset, 2, path) == (cells, 7.0)
    monkeypatch.setitem(classical.SOLVERS, "l1-wavelet", {"solver": "another"})
    assert classical.finished_rates(tiny_preset, 2, path) == ({"0.167": {"tv": {"tau": 1e-5}}}, 7.0)
    monkeypatch.setitem(classical.MAX_ITER, "tv", 10)                   # now neither is kept
    assert classical.finished_rates(tiny_preset, 2, path) == ({}, 0.0)


def test_the_restarted_fista_reaches_the_tolerance_and_lowers_the_objective(tiny):
    """The l1-wavelet solver: the objective at the end is below the start's and the last
    relative change is under tol; a warm start from the solution stops at once."""
    b = tiny.batch()
    out = classical.solve(b, "l1-wavelet", 1e-3, workers=1, max_iter=3000)
    assert all(out.converged) and out.rel_change[0][-1] < classical.TOL
    assert out.objective[0][-1] < out.objective[0][0]
    again = classical.solve(b, "l1-wavelet", 1e-3, workers=1, start=out.recon)
    assert all(again.converged) and max(again.iterations) <= 5


def test_spade_baselines_resumes_after_an_interruption(tmp_path, monkeypatch):
    """Each rate is written when it is done; a second run solves only the missing ones."""
    from spadelib import cli
    from spadelib.cli import main
    from spadelib.tasks import TASKS

    task, solved = TASKS["mri"], []
    # no data is built: the task (a frozen dataclass) hands out stand-ins
    monkeypatch.setattr(type(task), "training_data", lambda self, Q, progress=True: ([], "val"))
    monkeypatch.setattr(type(task), "test_data", lambda self, Q: "test")

    def report(splits, regularisers=classical.REGULARISERS, workers=None, progress=None,
               sweeps=None):
        (rate,) = splits
        if len(solved) == 1 and interrupt:
            raise KeyboardInterrupt
        solved.append(rate)
        return {f"{rate:g}": {reg: {"tau": 1e-5} for reg in regularisers}}

    monkeypatch.setattr(classical, "baseline_report", report)
    controls = []                     # Chapter 1's control, once its rate's TV weight is known

    def control(full, tau, workers=None):
        controls.append(tau)
        return {**classical.CONTROL, "tau": tau, "test": {"psnr": [20.0]}}

    monkeypatch.setattr(classical, "control_report", control)
    monkeypatch.setattr(cli, "build_synthetic", lambda split, P, progress=True: "full")
    out = tmp_path / "b.json"
    interrupt = True
    assert main(["baselines", "--out", str(out)]) == 130
    first = classical.load_report("quick", path=out)
    assert list(first["rates"]) == [f"{solved[0]:g}"]
    assert "--rates" in first["header"]["command"] and "control" not in first
    interrupt = False
    assert main(["baselines", "--out", str(out)]) == 0
    assert len(solved) == 3 and len(set(solved)) == 3            # the first rate not again
    done = classical.load_report("quick", path=out)
    assert done["header"]["command"] == "spade baselines --preset quick"
    assert controls == [1e-5] and classical.shipped_control(done)["tau"] == 1e-5
    assert main(["baselines", "--out", str(out)]) == 0           # nothing left to solve
    assert len(solved) == 3 and controls == [1e-5]
    assert classical.shipped_control(classical.load_report("quick", path=out)) is not None


def test_a_control_made_otherwise_is_not_read(tmp_path, tiny_preset, monkeypatch):
    """shipped_control reads a report's control only where it was solved as CONTROL says, at
    the weight the report tuned for its rate, with today's solver."""
    path = tmp_path / "b.json"
    cells = {"0.125": {"tv": {"tau": 1e-5}, "l1-wavelet": {"tau": 3e-5}}}
    control = {**classical.CONTROL, "tau": 1e-5, "test": {"psnr": [20.0]}}
    classical.write_report(cells, tiny_preset, "spade baselines", 2, 7.0, path=path,
                           control=control)
    report = classical.load_report(tiny_preset, path=path)
    assert classical.shipped_control(report) == control
    assert classical.shipped_control({**report, "control": {**control, "tau": 3e-5}}) is None
    assert classical.shipped_control({**report, "control": {**control, "acs_of": 0.167}}) is None
    assert classical.shipped_control({k: v for k, v in report.items() if k != "control"}) is None
    monkeypatch.setitem(classical.SOLVERS, "tv", {"solver": "another"})
    assert classical.shipped_control(report) is None


def test_the_control_masks_keep_the_rates_lines_with_the_smaller_acs_block():
    """Chapter 1's control: slice i's mask is the 12.5 % mask of seed i with the 10 % rate's
    ACS fraction: as many lines in all as the 12.5 % masks (within one), the ACS block of the
    10 % masks."""
    from spadelib.physics.masks import cartesian_mask, mask_spec

    n, width = 6, 64
    full = {"kspace_full": torch.ones(n, 2, 8, width, 2), "coil_maps": torch.ones(n, 2, 8, width, 2),
            "target": torch.zeros(n, 8, width, 2)}
    masks = classical.control_sample(full).mask
    assert masks.shape == (n, 1, 1, width, 1)
    acs = mask_spec(0.1).center_fraction
    for i in range(n):
        assert torch.equal(masks[i], cartesian_mask(width, 0.125, seed=i, center_fraction=acs))
        own = cartesian_mask(width, 0.125, seed=i)
        assert abs(int(masks[i].sum()) - int(own.sum())) <= 1
    assert acs < mask_spec(0.125).center_fraction
    with pytest.raises(ValueError, match="center_fraction"):
        cartesian_mask(width, 0.125, center_fraction=1.5)


def test_a_preset_that_trains_as_another_takes_its_validation_sweeps(tmp_path, monkeypatch):
    """medium trains as quick (same training and validation subjects): `spade baselines
    --preset medium` hands baseline_report quick's weights, read from quick's shipped report
    and marked so, and builds no validation split; quick itself reuses nothing."""
    from spadelib.cli import main
    from spadelib.tasks import MRI

    quick = classical.load_report("quick")["rates"]
    reused = classical.reusable_sweeps("quick", MRI.data_version())
    assert set(reused) == set(quick)
    for rate, cells in reused.items():
        for reg, sw in cells.items():
            assert sw["tau"] == quick[rate][reg]["tau"] and sw["grid"] == quick[rate][reg]["grid"]
            assert sw["sweep_from"] == "shipped/baselines-quick.json" and "test" not in sw
    assert classical.reusable_sweeps("quick", MRI.data_version() + 1) == {}   # other data

    given = []
    monkeypatch.setattr(type(MRI), "training_data", lambda self, Q, progress=True: (
        pytest.fail("a validation split was built")))
    monkeypatch.setattr(type(MRI), "test_data", lambda self, Q: "test")

    def report(splits, regularisers=classical.REGULARISERS, workers=None, progress=None,
               sweeps=None):
        given.append(sweeps)
        (rate,) = splits
        return {f"{rate:g}": {reg: {"tau": 1.0} for reg in regularisers}}

    monkeypatch.setattr(classical, "baseline_report", report)
    assert main(["baselines", "--preset", "medium", "--rates", "0.1",
                 "--out", str(tmp_path / "b.json")]) == 0
    assert given == [{"0.1": reused["0.1"]}]
    given.clear()
    monkeypatch.setattr(type(MRI), "training_data", lambda self, Q, progress=True: ([], "val"))
    assert main(["baselines", "--preset", "quick", "--rates", "0.1",
                 "--out", str(tmp_path / "q.json")]) == 0
    assert given == [{"0.1": {}}]


def test_a_given_sweep_is_not_solved_again(tiny, monkeypatch):
    """baseline_report with ``sweeps`` solves the test split only, at the given weight."""
    def no_sweep(*a, **k):
        raise AssertionError("swept again")

    monkeypatch.setattr(classical, "sweep", no_sweep)
    given = {"grid": [{"tau": 1e-3, "psnr": 0.0}], "tau": 1e-3, "at_edge": True,
             "sweep_from": "elsewhere"}
    out = classical.baseline_report({0.25: (None, tiny)}, ["tv"], workers=1,
                                    sweeps={"0.25": {"tv": given}})["0.25"]["tv"]
    assert out["tau"] == 1e-3 and out["sweep_from"] == "elsewhere"
    assert len(out["test"]["psnr"]) == len(tiny) and all(out["test"]["converged"])
