"""spadelib.prose: the sentences the chapters glue into their text."""
import math

import pandas as pd
import pytest

from spadelib.prose import (NOT_MEASURED_TTQ, cosine_agreement, criteria_summary, duration,
                            selfsup_summary, solver_verdicts, time_to_quality_summary)


@pytest.mark.parametrize("seconds, text", [(4.24, "4.2 s"), (42.4, "42 s"), (150, "2.5 min"),
                                           (7199, "120.0 min"), (7560, "2.1 h")])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("c, words", [(0.1, "nearly orthogonal"), (0.5, "loosely aligned"),
                                      (0.9, "well aligned"), (0.99, "almost the same direction"),
                                      (-0.1, "pointing partly against each other"),
                                      (-0.9, "nearly opposite")])
def test_cosine_agreement(c, words):
    assert cosine_agreement(c) == words


def test_solver_verdicts():
    sentence, phrase = solver_verdicts(True, True, False)
    assert sentence == ("So Anderson is ahead up to the training budget, and forward iteration "
                        "after it.")
    assert phrase == "Anderson is ahead up to the training budget, forward iteration after it"
    assert solver_verdicts(False, False, False)[1] == "forward iteration is ahead throughout"
    # a pattern without its own sentence (forward ahead early, Anderson later)
    assert solver_verdicts(False, True, True) == ("So neither solver is ahead throughout.",
                                                  "neither solver is ahead throughout")
    # numpy booleans index the table like Python's
    import numpy as np
    assert solver_verdicts(np.True_, np.True_, np.True_)[1] == "Anderson is ahead throughout"


def _ttq(anderson_speedup, anderson_final=30.0):
    return {"target_psnr": 30.5, "reference_psnr": 31.0,
            "rows": [{"variant": "paper setting", "speedup": 1.0, "final_psnr": 31.0},
                     {"variant": "pruned + forward", "speedup": 2.5, "final_psnr": 30.2},
                     {"variant": "pruned + anderson", "speedup": anderson_speedup,
                      "final_psnr": anderson_final}]}


def test_time_to_quality_summary():
    s = time_to_quality_summary(_ttq(4.5))
    assert s["fastest"] == "pruned + anderson" and s["fastest_x"] == "×4.50"
    assert s["verdict"] == "is met: ×4.50"
    assert s["gap"] == pytest.approx(0.8)
    assert time_to_quality_summary(_ttq(3.0))["verdict"] == \
        "is not met: it reaches the target at ×3.00"
    s = time_to_quality_summary(_ttq(None, anderson_final=29.0))
    assert s["fastest"] == "pruned + forward" and s["fastest_x"] == "×2.50"
    assert s["verdict"] == ("is not met: it never reaches the target, because its final PSNR "
                            "(29.00 dB) stays 1.50 dB below it")


def test_time_to_quality_not_measured():
    s = time_to_quality_summary(None)
    assert s["fastest"] == s["fastest_x"] == s["verdict"] == NOT_MEASURED_TTQ
    assert math.isnan(s["gap"])


def test_criteria_summary():
    nan = float("nan")
    crit = pd.DataFrame([
        {"network": "varnet", "criterion": "l1", "seeds": 3, "psnr": 30.0, "delta_l1": 0.0,
         "beyond_spread": None},
        {"network": "varnet", "criterion": "taylor", "seeds": 3, "psnr": 30.4, "delta_l1": 0.4,
         "beyond_spread": False},
        {"network": "deq", "criterion": "l1", "seeds": 1, "psnr": 28.0, "delta_l1": 0.0,
         "beyond_spread": None},
        {"network": "deq", "criterion": "lamp", "seeds": 1, "psnr": nan, "delta_l1": nan,
         "beyond_spread": None}])
    assert criteria_summary(crit) == (
        "varnet: best taylor at 30.40 dB, +0.40 dB against l1, within the spread over seeds; "
        "deq: best l1 at 28.00 dB, +0.00 dB against l1, with 1 seed per criterion, so no "
        "spread to judge by")
    assert criteria_summary(crit.assign(psnr=nan)) == "no criterion cell in this store"


def test_selfsup_summary():
    nan = float("nan")
    ss = pd.DataFrame({"network": ["deq", "varnet"], "gap_closed": [0.6, 0.3]})
    assert selfsup_summary(ss) == ("deq: 60%, varnet: 30%", "is met on deq only")
    assert selfsup_summary(ss.assign(gap_closed=[0.6, 0.7]))[1] == "is met on every network"
    assert selfsup_summary(ss.assign(gap_closed=[0.1, nan])) == ("deq: 10%", "is not met")
    assert selfsup_summary(ss.assign(gap_closed=[nan, nan])) == ("not measured", "is not met")
