"""No sentence of the book contradicts the numbers it carries, on any machine.

The chapters build their words from the numbers (``spadelib.prose``, ``interval_comparison``,
``classical_summary``); :func:`spadelib.prose_check.contradictions` reads those rules backwards. Here it
is shown to catch each kind of contradiction, then applied to

* the prose built from second, third ... sets of numbers: random per-image PSNRs, a results
  store whose rows are perturbed against the shipped converged TV (Chapters 5 and 6's table and
  sentence), random regime values for the rankings, random solver summaries for Chapter 5's
  convergence sentence;
* every glued sentence and Markdown output of the executed book. CI runs this after
  ``pytest --nbmake --overwrite`` with ``SPADE_EXECUTED_BOOK=1`` (a chapter without outputs then
  fails instead of being skipped), so each CI machine checks the words its own numbers produced.
"""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from spadelib import classical
from spadelib.experiments.baselines_view import classical_markdown, classical_rows, classical_summary
from spadelib.experiments.intervals import interval_comparison, interval_ranking, paired_interval
from spadelib.experiments.grid import Cell
from spadelib.experiments.store import ResultStore
from spadelib.prose import convergence_sentence, ranking
from spadelib.prose_check import contradictions
from spadelib.tasks import MRI

BOOK = Path(__file__).resolve().parents[1] / "book"
#: the outputs that carry the book's words: glued values, displayed Markdown, HTML (the claims
#: tables; other HTML is not read)
TEXT_TYPES = ("text/markdown", "application/papermill.record/text/plain",
              "application/papermill.record/text/markdown", "text/html")


@pytest.mark.parametrize("text", [
    "VarNet is 0.85 dB above the converged TV (95 % interval -1.43 to -0.28 dB over 16 test images)",
    "VarNet is 0.85 dB below TV (95 % interval -1.43 to 0.28 dB over 16 test images)",
    "VarNet is 2.85 dB below TV (95 % interval -1.43 to -0.28 dB over 16 test images)",
    "no difference resolved between VarNet and TV (0.50 dB, 95 % interval 0.20 to 0.80 dB over 16 "
    "test images)",
    "| DEQ | 0 | none | 27.60 | 0.897 | -1.70 (-2.06 to -1.34) | above TV |",
    "| DEQ | 0 | none | 27.60 | 0.897 | -1.70 (-2.06 to 0.34) | below TV |",
    "at 39 % pruned, school 27.47 dB > supervised 27.50 dB",
    "school 27.50 dB ≈ supervised 27.47 dB",
    "self-supervised 27.47 dB > school 27.47 dB",
    "the DEQ reaches it on most of the test images (25 %)",
    "the DEQ reaches it on all of the test images (94 %)",
    "the DEQ reaches it on none of the test images (6 %)",
    "So 7 of the 6 pruned DEQs are slower than the unpruned one",
    "Of the 13 network cells at this rate, 0 are above the converged TV, 12 below it and 0 not "
    "resolved from it",
])
def test_each_kind_of_contradiction_is_found(text):
    assert contradictions(text)


@pytest.mark.parametrize("text", [
    "VarNet is 0.85 dB below the converged TV (95 % interval -1.43 to -0.28 dB over 16 test images)",
    "no difference resolved between VarNet and TV (0.10 dB, 95 % interval -0.20 to 0.40 dB over "
    "16 test images)",
    "| DEQ | 0 | none | 27.60 | 0.897 | -1.70 (-2.06 to -1.34) | below TV |",
    "at 39 % pruned, school 27.50 dB > supervised 27.47 dB ≈ self-supervised 27.47 dB",
    "the DEQ reaches it on about half of the test images (44 %)",
    "So 2 of the 6 pruned DEQs are slower than the unpruned one",
    "Of the 13 network cells at this rate, 0 are above the converged TV, 13 below it and 0 not "
    "resolved from it",
])
def test_consistent_sentences_pass(text):
    assert contradictions(text) == []


def _claims_row(test, ours, paper="holds 3 of 3 hold"):
    def cell(text):
        verdict, _, evidence = text.partition(" ")
        for v in ("does not hold", "not resolved", "cannot be checked"):
            if text.startswith(v):
                verdict, evidence = v, text[len(v) + 1:]
        return f"<td><span>{verdict}</span><br>{evidence}</td>"
    return (f'<table class="spade-claims"><tbody><tr><td><b>A claim</b><br>“quote”</td>'
            f"<td>{test}</td>{cell(ours)}{cell(paper)}</tr></tbody></table>")


@pytest.mark.parametrize("ours, paper, bad", [
    ("holds DEQ, 35 %: 0.40 % [-0.41, 1.16]; VarNet, 35 %: 1.00 % [0.50, 1.50]", "holds 3 of 3 hold", False),
    ("holds DEQ, 35 %: 0.40 % [-0.41, 3.16]", "holds 3 of 3 hold", True),          # straddles 3
    ("does not hold DEQ, 35 %: 5.40 % [4.41, 6.16]", "holds 3 of 3 hold", True),    # ✗ missing
    ("does not hold DEQ, 35 %: 5.40 % [4.41, 6.16] ✗", "holds 3 of 3 hold", False),
    ("holds DEQ, 35 %: 5.40 % [4.41, 6.16] ✗", "holds 3 of 3 hold", True),         # holds beside ✗
    ("does not hold DEQ, 35 %: 5.40 % [4.41, 6.16] ✗", "holds 2 of 3 hold", True),  # 2 of 3
    ("does not hold DEQ, 35 %: 5.40 % [4.41, 6.16] ✗", "does not hold 4 of 3 hold", True),
])
def test_claims_table_rows_against_their_threshold(ours, paper, bad):
    table = _claims_row("school: PSNR degradation < 3 % at every network and ratio", ours, paper)
    assert bool(contradictions(table)) == bad, contradictions(table)


@pytest.mark.parametrize("seed", range(5))
def test_interval_words_from_other_numbers(seed):
    rng = np.random.default_rng(seed)
    for shift in (-2.0, -0.05, 0.0, 0.05, 2.0):
        a = 28 + rng.normal(0, 1, 16)
        b = a - shift + rng.normal(0, 0.3, 16)
        text = interval_comparison("VarNet", "TV", paired_interval(a, b))
        assert "interval" in text and contradictions(text) == [], text


@pytest.mark.parametrize("seed", range(5))
def test_rankings_and_convergence_words_from_other_numbers(seed):
    rng = np.random.default_rng(seed)
    values = {k: float(v) for k, v in zip(("supervised", "school", "self-supervised"),
                                          np.round(27 + rng.normal(0, 0.02, 3), 3))}
    text = "at 39 % pruned, " + ranking(values)
    assert contradictions(text) == [], text
    shares = rng.choice([0.0, 1 / 16, 0.25, 7 / 16, 0.75, 15 / 16, 1.0], size=4)
    summaries = {f"network {i}": {"converged_share": float(s), "diverging_share": 0.0,
                                  "residual_rate": float(rng.uniform(0.5, 1.1)),
                                  "residual_median": float(rng.uniform(1e-4, 1e-1))}
                 for i, s in enumerate(shares)}
    text = convergence_sentence(summaries, 1e-3, 20)
    assert contradictions(text) == [], text


@pytest.mark.parametrize("seed", range(5))
def test_interval_rankings_from_other_numbers(seed):
    """Chapter 5's orderings of the regimes: a pair whose paired interval reaches zero is not
    ranked, and the text never contradicts its numbers."""
    rng = np.random.default_rng(seed)
    base = 27 + rng.normal(0, 1, 16)
    per_image = {"supervised": base + rng.normal(0, 0.05, 16),
                 "school": base + rng.normal(0, 0.05, 16),               # a toss-up with it
                 "self-supervised": base - 2 + rng.normal(0, 0.3, 16)}   # clearly below both
    text = interval_ranking(per_image)
    assert contradictions(text) == [], text
    assert text.endswith(" > self-supervised " + f"{np.mean(per_image['self-supervised']):.2f} dB")
    a, b = per_image["supervised"], per_image["school"]
    resolved = min(paired_interval(a, b).high, paired_interval(b, a).high) < -0.005
    assert ("(difference not resolved)" in text) != resolved, text


@pytest.mark.parametrize("seed", range(4))
def test_chapters_5_and_6_tables_from_a_perturbed_store(tmp_path, seed):
    """The store's rows moved against the shipped converged TV (some clearly above, some level,
    some below): the table's verdicts and the sentence that counts them agree with their
    intervals."""
    P = MRI.with_setting("quick", 0.167)
    tv = np.array(classical.load_report("quick", data_version=MRI.data_version())
                  ["rates"]["0.167"]["tv"]["test"]["psnr"])
    rng = np.random.default_rng(seed)
    store = ResultStore(tmp_path / "store.spade")
    shifts = rng.permutation([-3.0, -0.4, 0.0, 0.0, 0.3, 1.5])
    for i, shift in enumerate(shifts):
        ratio = (0.0, 0.2, 0.4)[i // 2]
        cell = Cell(("deq", "varnet")[i % 2], P.mri_rate, ratio, "none" if ratio == 0 else "supervised")
        per_image = tv + shift + rng.normal(0, 0.5, len(tv))
        store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok",
                   "psnr": float(per_image.mean()), "ssim": 0.8, "psnr_per_sample": list(per_image)})
    frame = classical_rows("quick", store, P.mri_rate, networks=("deq", "varnet"),
                           data_version=MRI.data_version())
    table = classical_markdown(frame, {"deq": "DEQ", "varnet": "VarNet"})
    summary = classical_summary(frame, {"deq": "DEQ", "varnet": "VarNet"})
    checked = len(re.findall(r"\(\S+ to \S+\) \| (?:above TV|below TV|no difference resolved) \|",
                             table))
    assert checked == len(shifts) + 1                                  # + the wavelet's row
    assert contradictions(table) == [] and contradictions(summary) == [], (table, summary)
    assert summary.startswith(f"Of the {len(shifts)} network cells")


def _executed_texts(path, kinds=TEXT_TYPES):
    """The chapter's texts of these kinds; a chapter without outputs is skipped, or fails
    where CI has executed the book (SPADE_EXECUTED_BOOK=1)."""
    texts = list(_texts(path, kinds))
    if not texts:
        if os.environ.get("SPADE_EXECUTED_BOOK") == "1":
            pytest.fail(f"{path.name} has no outputs: run pytest --nbmake --overwrite first")
        pytest.skip("the chapter is not executed (CI checks it after pytest --nbmake --overwrite)")
    return texts


def _texts(path, kinds=TEXT_TYPES):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            for kind in kinds:
                if kind in out.get("data", {}):
                    value = out["data"][kind]
                    yield i, "".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_the_executed_book_contradicts_none_of_its_numbers(path):
    texts = _executed_texts(path)
    found = [f"cell {i}: {c}" for i, text in texts for c in contradictions(text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_the_executed_book_glues_no_markdown_as_plain_text(path):
    """A value glued as plain text ({glue:text} in the chapter) renders as it is, and so does
    an HTML output (the paper's tables and their captions): a Markdown backtick in either
    would show on the page. Code in such a sentence goes without backticks, or the cell
    displays a Markdown object instead."""
    texts = _executed_texts(path, ("application/papermill.record/text/plain", "text/html"))
    found = [f"cell {i}: {text}" for i, text in texts if "`" in text]
    assert not found, "\n".join(found)


def _perturbed(row, rng):
    """A store row with its numbers moved as another machine or seed might move them: PSNR by
    a per-row offset (per image and mean together), SSIM and times by a few per cent."""
    row = dict(row)
    if row.get("status") != "ok" or not row.get("psnr_per_sample"):
        return row
    shift = float(rng.normal(0, 1.0))
    row["psnr_per_sample"] = [v + shift for v in row["psnr_per_sample"]]
    row["psnr"] = float(np.mean(row["psnr_per_sample"]))
    if row.get("ssim_per_sample"):
        scale = float(np.clip(1 + rng.normal(0, 0.03), 0.8, 1.05))
        row["ssim_per_sample"] = [min(1.0, v * scale) for v in row["ssim_per_sample"]]
        row["ssim"] = float(np.mean(row["ssim_per_sample"]))
    if row.get("time_ms_all"):
        factor = float(np.exp(rng.normal(0, 0.2)))
        row["time_ms_all"] = [v * factor for v in row["time_ms_all"]]
        row["time_ms"] = float(np.median(row["time_ms_all"]))
    return row


def test_chapter_6_rebuilt_from_a_perturbed_store(tmp_path, monkeypatch):
    """Chapter 6 executed again on copies of the results stores whose rows are moved (PSNR by
    about 1 dB per cell, SSIM and times by a few per cent): the quick store the book runs and
    the shipped ``medium`` store its paper tables read (through ``SPADE_SHIPPED_DIR``). Every
    sentence and table it then writes agrees with the numbers it carries. Run by CI after the
    book is executed (it needs the store and networks the chapters built, and 2 minutes)."""
    import nbformat
    from nbclient import NotebookClient

    from spadelib.checkpoints import SHIPPED, cache_dir
    from spadelib.experiments.store import store_path

    if os.environ.get("SPADE_EXECUTED_BOOK") != "1":
        pytest.skip("run by CI after pytest --nbmake (SPADE_EXECUTED_BOOK=1)")
    monkeypatch.setenv("SPADE_PRESET", "quick")
    store, tables = store_path("quick"), store_path("medium")
    assert store.exists(), f"no results store at {store}: execute the book first"
    assert tables.exists() and tables.parent == SHIPPED, tables
    rng = np.random.default_rng(7)

    def moved_copy(source: Path, into: Path, store: Path) -> ResultStore:
        into.mkdir()
        for f in source.iterdir():                    # everything else shared, by link
            if f != store and not f.name.endswith(".lock"):
                (into / f.name).symlink_to(f.resolve())
        moved = ResultStore(into / store.name)
        for row in ResultStore(store).rows():
            moved.add(_perturbed(row, rng))
        return moved

    moved_copy(cache_dir(), tmp_path / "data", store)
    moved = moved_copy(SHIPPED, tmp_path / "shipped", tables)
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPADE_SHIPPED_DIR", str(tmp_path / "shipped"))
    nb = nbformat.read(BOOK / "06_cs_mri.ipynb", as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(BOOK)}}).execute()
    path = tmp_path / "06_cs_mri.ipynb"
    nbformat.write(nb, path)
    texts = list(_texts(path))
    assert sum("spade-claims" in t for _, t in texts) == 2
    vs_tv = [t for _, t in texts if "| against TV |" in t]       # at 16.7 %, and at every rate
    assert len(vs_tv) == 2, len(vs_tv)
    (unpruned,) = [r for r in moved.rows() if r["cell"]["network"] == "deq"    # the chapter
                   and r["cell"]["ratio"] == 0 and r["cell"]["setting"] == 0.167]  # read the
    assert all(f"| {unpruned['psnr']:.2f} |" in t for t in vs_tv)                 # moved rows
    found = [f"cell {i}: {c}" for i, text in texts for c in contradictions(text)]
    assert not found, "\n".join(found)
