"""The book's rules for words read backwards: where does a sentence or a table contradict the
numbers it carries?

:mod:`spadelib.prose` and :func:`spadelib.experiments.intervals.interval_comparison` build the
chapters' words from their numbers; :func:`contradictions` checks the result the other way round,
so a sentence another machine's numbers would make false is caught where it is produced. CI
applies it to every glued sentence and Markdown output of the executed book
(``tests/test_glued_prose.py``).
"""
from __future__ import annotations

import re

__all__ = ["contradictions", "SHARE_BOUNDS"]


_NUM = r"([+-]?\d+(?:\.\d+)?)"
_INTERVAL_SIDE = re.compile(r"is " + _NUM + r"(?: dB| %)? (above|below) [^()]*?\(95 % interval "
                            + _NUM + " to " + _NUM)
_INTERVAL_LEVEL = re.compile(r"no difference resolved between [^()]*?\(" + _NUM
                             + r"(?: dB| %)?, 95 % interval " + _NUM + " to " + _NUM)
_TABLE_INTERVAL = re.compile(r"\| *" + _NUM + r" \(" + _NUM + " to " + _NUM
                             + r"\) *\| *(above|below|no difference resolved)")
_RANKED = re.compile(r"(\d+\.\d+)( dB| %|) ([>≈]) [^\d>≈;,()]*?(\d+\.\d+)\2(?![\d.])")
_SHARE = re.compile(r"\b(almost all|all|most|about half|some|little|none) of (?:the )?"
                    r"[^()]{0,60}?\((\d+(?:\.\d+)?) %\)")
_OF_THE = re.compile(r"\b(\d+) of the (\d+)\b")
_TALLY = re.compile(r"Of the (\d+) [^,]*?, (\d+) are above [^,]*?, (\d+) below [^,]*? and (\d+) "
                    r"not resolved")
#: the shares (in %) a share word may describe: loose bounds that only catch a word that
#: plainly disagrees with its number (share_word's exact thresholds are tested elsewhere)
SHARE_BOUNDS = {"all": (99.5, 100.5), "almost all": (85, 100), "most": (50, 100),
                "about half": (30, 70), "some": (0.5, 99.5), "little": (0.5, 25),
                "none": (-0.5, 0.5)}


def contradictions(text: str) -> list[str]:
    """The places where ``text`` (a glued sentence or a Markdown table) contradicts the numbers
    it carries, one line each; ``[]`` when none is found. The rules read the book's own wording
    backwards:

    * ``"is 0.85 dB below X (95 % interval -1.43 to -0.28 dB ...)"``: *above* needs the whole
      interval above zero, *below* below it, and the estimate inside the interval;
      ``"no difference resolved ... (0.10 dB, 95 % interval -0.2 to 0.4 ...)"`` needs zero
      inside it; a table cell ``| -4.32 (-4.68 to -3.97) | below TV |`` likewise;
    * a ranking ``"a 27.50 dB > b 27.47 dB ≈ c 27.47 dB"``: ``>`` needs the larger value first
      and the two to differ at the shown precision, ``≈`` needs them equal at it;
    * a share word and its percentage, ``"most of the test images (75 %)"`` (:data:`SHARE_BOUNDS`);
    * ``"k of the n"`` needs ``k <= n``; ``"Of the n ..., a are above ..., b below ... and c not
      resolved"`` needs ``a + b + c == n``.
    """
    found = []
    for m in _INTERVAL_SIDE.finditer(text):
        size, side, low, high = float(m[1]), m[2], float(m[3]), float(m[4])
        est = size if side == "above" else -size
        if (side == "above" and not low > 0) or (side == "below" and not high < 0):
            found.append(f"'{side}' with an interval that reaches zero: {m[0]!r}")
        if not low - 0.005 <= est <= high + 0.005:
            found.append(f"estimate outside its interval: {m[0]!r}")
    for m in _INTERVAL_LEVEL.finditer(text):
        est, low, high = float(m[1]), float(m[2]), float(m[3])
        if not low <= 0 <= high:
            found.append(f"'no difference resolved' with an interval off zero: {m[0]!r}")
        if not low - 0.005 <= est <= high + 0.005:
            found.append(f"estimate outside its interval: {m[0]!r}")
    for m in _TABLE_INTERVAL.finditer(text):
        est, low, high, word = float(m[1]), float(m[2]), float(m[3]), m[4]
        ok = {"above": low > 0, "below": high < 0,
              "no difference resolved": low <= 0 <= high}[word]
        if not ok or not low - 0.005 <= est <= high + 0.005:
            found.append(f"table cell against its interval: {m[0]!r}")
    for m in _RANKED.finditer(text):
        a, op, b = m[1], m[3], m[4]
        if op == ">" and not (float(a) > float(b) and a != b):
            found.append(f"'>' between values not in that order: {m[0]!r}")
        if op == "≈" and a != b:
            found.append(f"'≈' between values that differ at the shown precision: {m[0]!r}")
    for m in _SHARE.finditer(text):
        low, high = SHARE_BOUNDS[m[1]]
        if not low <= float(m[2]) <= high:
            found.append(f"'{m[1]} of' for {m[2]} %: {m[0]!r}")
    for m in _OF_THE.finditer(text):
        if int(m[1]) > int(m[2]):
            found.append(f"more than the whole: {m[0]!r}")
    for m in _TALLY.finditer(text):
        if int(m[2]) + int(m[3]) + int(m[4]) != int(m[1]):
            found.append(f"the parts do not add up to the whole: {m[0]!r}")
    return found
