"""The claims: paired bootstrap intervals, verdicts, and every claim on the paper's own numbers."""
import numpy as np
import pytest

from spadelib.experiments import Cell, ResultStore
from spadelib.experiments.claims import FAILS, HOLDS, UNDECIDED, UNRESOLVED, Interval, combine, \
    decide, mean_difference, mri_checks, mri_claims, paired_interval, relative_loss, sr_checks, \
    sr_claims


# ------------------------------------------------------------------------------------------
# the paired bootstrap and the verdicts
# ------------------------------------------------------------------------------------------
def test_paired_interval_is_reproducible_and_keeps_the_pairing():
    rng = np.random.default_rng(1)
    x = rng.normal(30, 3, size=16)              # images differ a lot from one another
    a, b = x + 0.2 + rng.normal(0, 0.05, 16), x
    iv = paired_interval(a, b)
    assert iv == paired_interval(a, b) and iv.n == 16
    assert iv.estimate == pytest.approx(a.mean() - b.mean())
    # paired: the spread between images cancels, the interval is narrow and above 0
    assert 0 < iv.low < iv.estimate < iv.high < 0.4
    # the same values unpaired (b shuffled) give a far wider interval
    wide = paired_interval(a, rng.permutation(b))
    assert wide.high - wide.low > 10 * (iv.high - iv.low)
    # a constant difference has a zero-width interval
    const = paired_interval(x + 1.0, x)
    assert const.low == pytest.approx(1.0) and const.high == pytest.approx(1.0)
    assert paired_interval(a, b, seed=2) != iv


def test_paired_interval_statistics_and_errors():
    a, b = np.array([40.0, 30.0, 20.0]), np.array([39.0, 29.0, 19.0])
    assert paired_interval(a, b, statistic=relative_loss).estimate == pytest.approx(
        100 * 3 / 90)
    three = paired_interval(a, b, b - 1, statistic=lambda p, q, r: mean_difference(p, r))
    assert three.estimate == pytest.approx(2.0)
    for bad in (([1.0, 2.0], [1.0]), ([], [])):
        with pytest.raises(ValueError):
            paired_interval(*bad)
    with pytest.raises(ValueError, match="level"):
        paired_interval(a, b, level=1.5)


def test_decide_and_combine():
    assert decide(Interval(1.0, 0.5, 1.5, 10), ">", 0) == HOLDS
    assert decide(Interval(-1.0, -1.5, -0.5, 10), ">", 0) == FAILS
    assert decide(Interval(0.1, -0.2, 0.4, 10), ">", 0) == UNRESOLVED
    assert decide(Interval(3.9, 3.8, 4.1, 10), "<", 4) == UNRESOLVED
    assert decide(Interval(0.4, 0.4, 0.4), "<=", 0.4) == HOLDS
    assert decide(Interval(1.1, 1.1, 1.1), "<", 1.1) == FAILS
    assert combine([HOLDS, HOLDS]) == HOLDS and combine([HOLDS, UNRESOLVED]) == UNRESOLVED
    assert combine([HOLDS, UNRESOLVED, FAILS]) == FAILS and combine([]) == UNDECIDED
    assert combine([FAILS, HOLDS], every=False) == HOLDS
    assert combine([FAILS, UNRESOLVED], every=False) == UNRESOLVED
    assert combine([FAILS, FAILS], every=False) == FAILS


# ------------------------------------------------------------------------------------------
# every claim on the paper's own numbers
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paper_verdicts(tmp_path_factory):
    empty = ResultStore(tmp_path_factory.mktemp("claims") / "none.spade")
    return {c.claim: c for c in mri_claims("paper", empty) + sr_claims("paper", empty) +
            mri_checks("paper", empty) + sr_checks("paper", empty)}


def test_claims_that_hold_on_the_papers_numbers(paper_verdicts):
    for name in ("Supervised: less than 4 % PSNR lost at 65 % fewer parameters",
                 "×1.06 faster with virtually no PSNR lost at 20 % fewer parameters",
                 "School is competitive with supervised (school ≈ supervised)",
                 "Self-supervised SPADE beats training from scratch by at least 8 dB",
                 "SPADE beats training from scratch with the same loss",
                 "65 % fewer parameters make USRNet ×1.81 faster"):
        c = paper_verdicts[name]
        assert c.claimed and c.paper_verdict == HOLDS, (name, c.paper_evidence)
        assert c.verdict == UNDECIDED            # an empty store decides nothing
    four = paper_verdicts["Supervised: less than 4 % PSNR lost at 65 % fewer parameters"]
    assert four.paper_evidence == "9 of 9 hold"   # 3 networks x 3 sampling rates
    assert "8.54 dB" in paper_verdicts[
        "Self-supervised SPADE beats training from scratch by at least 8 dB"].paper_evidence


def test_the_papers_own_exceptions_are_documented(paper_verdicts):
    """Claims the paper makes in words that its own printed numbers contradict."""
    school = paper_verdicts["School: less than 3 % PSNR lost at every ratio and network"]
    # every network at 65 % at every sampling rate, and E2E-VarNet at 35 % at 16.7 %
    assert school.paper_verdict == FAILS and school.paper_evidence.startswith("26 of 36 hold")
    assert school.paper_evidence.count("✗") == 10
    assert "DEQ at 16.7 %, 65 % (r = 0.4): 5.08 % ✗" in school.paper_evidence
    assert "E2E-VarNet at 16.7 %, 35 % (r = 0.2): 3.57 % ✗" in school.paper_evidence
    deq = paper_verdicts["The DEQ gains more speed than the unrolled networks at the same ratio"]
    # at 20 % the DEQ's printed x1.06 ties VarNet's
    assert deq.paper_verdict == FAILS and deq.paper_evidence.startswith("9 of 12 hold")
    assert "20 %: DEQ ×1.06 against VarNet ×1.06" in deq.paper_evidence
    tenth = paper_verdicts["Supervised: up to 0.4 dB lost at 65 % fewer parameters "
                           "(10 % sampling)"]
    assert tenth.paper_verdict == FAILS and "DEQ, 65 % (r = 0.4): 0.40 dB;" in \
        tenth.paper_evidence and "VarNet, 65 % (r = 0.4): 0.82 dB ✗" in tenth.paper_evidence
    x23 = paper_verdicts["School keeps USRNet within 1 % of its PSNR and SSIM at ×2 and ×3"]
    assert x23.paper_verdict == FAILS
    assert x23.paper_evidence == "15 of 16 hold; SSIM USRNet at ×3, 65 % (r = 0.4): 1.10 % ✗"
    x4 = paper_verdicts["School keeps USRNet within 1.1 % of its PSNR at ×4"]
    # Table 6 prints 98.9 %: a 1.1 % degradation, not less than 1.1 %
    assert x4.paper_verdict == FAILS and x4.paper_evidence.count("✗") == 1
    assert "65 % (r = 0.4): 1.10 % ✗" in x4.paper_evidence


def test_our_own_checks_are_not_claims(paper_verdicts):
    order = paper_verdicts["Supervised ≥ school ≥ self-supervised"]
    assert not order.claimed and order.paper_verdict == FAILS
    assert "VarNet at 16.7 %, 10 % (r = 0.05)" in order.paper_evidence    # 38.86 < 39.11
    recover = paper_verdicts["Fine-tuning recovers most of the PSNR that pruning loses"]
    assert not recover.claimed and recover.paper_verdict == UNDECIDED
    assert "no pruned network without fine-tuning" in recover.paper_evidence


# ------------------------------------------------------------------------------------------
# our cells: paired intervals over per-image values decide
# ------------------------------------------------------------------------------------------
def _add(store, net, setting, ratio, regime, per_image, time_ms=100.0):
    cell = Cell(net, setting, ratio, regime)
    p = np.asarray(per_image, dtype=float)
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": float(p.mean()),
               "ssim": 0.9, "time_ms": time_ms, "params": 1000, "psnr_per_sample": p.tolist(),
               "ssim_per_sample": [0.9] * len(p)})


def test_verdicts_on_per_image_values(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(30.0, 2.0, size=16)
    s = ResultStore(tmp_path / "results-quick.spade")
    _add(s, "deq", 0.167, 0.0, "none", x, 200.0)
    _add(s, "varnet", 0.167, 0.0, "none", x - 1, 20.0)
    for r in (0.2, 0.4):
        # DEQ supervised loses about 1 %: clearly < 4 %; school 2.9 % +- noise: unresolved
        _add(s, "deq", 0.167, r, "supervised", x * 0.99, 150.0)
        _add(s, "deq", 0.167, r, "school", x * 0.971 + rng.normal(0, 0.6, 16), 150.0)
        _add(s, "deq", 0.167, r, "self-supervised", x * 0.9)
        _add(s, "varnet", 0.167, r, "supervised", (x - 1) * 0.99, 19.0)
        _add(s, "varnet", 0.167, r, "school", (x - 1) * 0.98, 19.0)
    # speed-ups come from the paper-size bench rows (experiments.speed), not the store's times
    bench = [{"network": n, "ratio": r, "speedup": sp} for n, r, sp in
             (("deq", 0.2, 1.3), ("deq", 0.4, 1.5), ("varnet", 0.2, 1.05), ("varnet", 0.4, 1.2))]
    claims = {c.claim: c for c in mri_claims("quick", s, speed=bench)}
    four = claims["Supervised: less than 4 % PSNR lost at 65 % fewer parameters"]
    assert four.verdict == HOLDS and "DEQ, 65 % (r = 0.4): 1.00 % [1.00, 1.00]" in four.evidence
    school = claims["School: less than 3 % PSNR lost at every ratio and network"]
    assert school.verdict == UNRESOLVED and "(not resolved)" in school.evidence
    close = claims["School is competitive with supervised (school ≈ supervised)"]
    assert close.verdict == HOLDS
    speed = claims["The DEQ gains more speed than the unrolled networks at the same ratio"]
    assert speed.verdict == HOLDS
    # same numbers, same verdicts: the bootstrap's seed is fixed
    assert [c.evidence for c in mri_claims("quick", s, speed=bench)] == [
        c.evidence for c in claims.values()]
    # without the bench rows no speed claim is decided on ours
    bare = {c.claim: c for c in mri_claims("quick", s)}
    assert bare["The DEQ gains more speed than the unrolled networks at the same ratio"
                ].verdict == UNDECIDED
