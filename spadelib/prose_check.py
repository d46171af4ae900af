"""The book's rules for words read backwards: where does a sentence or a table contradict the
numbers it carries?

:mod:`spadelib.prose` and :func:`spadelib.experiments.intervals.interval_comparison` build the
chapters' words from their numbers; :func:`contradictions` checks the result the other way round,
so a sentence another machine's numbers would make false is caught where it is produced. CI
applies it to every glued sentence and Markdown output of the executed book
(``tests/test_glued_prose.py``).
"""
from __future__ import annotations

import html
import operator
import re

__all__ = ["contradictions", "claims_table_contradictions", "SHARE_BOUNDS"]


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
      and the two to differ at the shown precision, ``≈`` needs them equal at it unless it says
      ``"(difference not resolved)"`` (:func:`~spadelib.experiments.intervals.interval_ranking`);
    * a share word and its percentage, ``"most of the test images (75 %)"`` (:data:`SHARE_BOUNDS`);
    * ``"k of the n"`` needs ``k <= n``; ``"Of the n ..., a are above ..., b below ... and c not
      resolved"`` needs ``a + b + c == n``;
    * a claims table (HTML, :func:`claims_table_contradictions`).
    """
    if text.lstrip().startswith("<"):
        return claims_table_contradictions(text) if "spade-claims" in text else []
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
        if op == "≈" and a != b and not text[m.end():].startswith(" (difference not resolved"):
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


_OPS = {"<": operator.lt, "≤": operator.le, ">": operator.gt, "≥": operator.ge}
_THRESHOLD = re.compile(r"([<≤>≥]) (-?\d+(?:\.\d+)?) (%|dB)")
_ITEM = re.compile(r"(-?\d+(?:\.\d+)?) (%|dB)[^\[\];]*?\[(-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)\]"
                   r"( ✗| \(not resolved\))?")
_TALLY_HOLD = re.compile(r"(\d+) of (\d+) hold")
_VERDICTS = ("does not hold", "not resolved", "cannot be checked", "holds")


def _cells(row: str) -> list[str]:
    return [html.unescape(re.sub(r"<br>", " ", re.sub(r"<(?!br>)[^>]+>", "", c)))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def claims_table_contradictions(table: str) -> list[str]:
    """Contradictions in a claims table (:func:`spadelib.experiments.claims.claims_table`):

    * an item ``"DEQ, 65 %: 5.56 % [4.57, 6.69] ✗"`` against the row's one numeric threshold
      (``"< 4 %"``): no mark when the whole interval meets it, ``✗`` when none of it does,
      ``(not resolved)`` when it straddles the threshold;
    * a verdict against its evidence: ``"k of n hold"`` needs ``k <= n``, and ``holds`` with it
      ``k == n``; where the test asks for *every* case, ``holds`` needs no ``✗`` and no
      ``(not resolved)`` among the items, and an item marked ``✗`` needs ``does not hold``.
    """
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = _cells(row)
        if len(cells) != 4:
            continue
        claim, test = cells[0].split("“")[0].strip(), cells[1]
        thresholds = _THRESHOLD.findall(test)
        every = "every" in test and "one network" not in test and "suffices" not in test
        for cell in cells[2:]:
            verdict = next((v for v in _VERDICTS if cell.startswith(v)), None)
            evidence = cell[len(verdict):] if verdict else cell
            items = evidence.split("; ")
            for m in _TALLY_HOLD.finditer(evidence):
                k, n = int(m[1]), int(m[2])
                if k > n or (verdict == "holds" and every and k != n):
                    found.append(f"{claim}: {verdict!r} with {m[0]!r}")
            if len(thresholds) == 1:
                op, limit, unit = _OPS[thresholds[0][0]], float(thresholds[0][1]), thresholds[0][2]
                for item in items:
                    marks = _ITEM.findall(item)
                    if len(marks) != 1 or marks[0][1] != unit:
                        continue
                    _, _, low, high, mark = marks[0]
                    meets = [op(float(low), limit), op(float(high), limit)]
                    want = "" if all(meets) else " ✗" if not any(meets) else " (not resolved)"
                    if mark != want:
                        found.append(f"{claim}: {item!r} against '{thresholds[0][0]} "
                                     f"{thresholds[0][1]} {unit}' should be marked {want!r}")
            if every and verdict == "holds" and ("✗" in evidence or "(not resolved)" in evidence):
                found.append(f"{claim}: 'holds' beside a case that does not: {evidence[:120]!r}")
            if every and verdict in ("holds", "not resolved") and " ✗" in evidence:
                found.append(f"{claim}: {verdict!r} beside a case marked ✗: {evidence[:120]!r}")
    return found
