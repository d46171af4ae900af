"""Per-method metrics as a markdown table: :func:`metrics_table`."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["metrics_table"]

_COLUMN_NAMES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "latency_ms": "latency (ms)",
                 "params": "params", "speedup": "speed-up"}
_COLUMN_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "latency_ms": "{:.2f}",
                   "speedup": "{:.2f}x"}


def metrics_table(results: Mapping[str, Mapping[str, Any]],
                  columns: list[str] | None = None) -> str:
    """A small markdown table of per-method metrics, for ``IPython.display.Markdown``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        results: ``{method: {metric: value}}``, e.g.
            ``{"zero-filled": {"psnr": 27.1, "ssim": 0.81}}``. Metric keys are matched
            case-insensitively; ``psnr``, ``ssim``, ``latency_ms``, ``params``, ``speedup`` get
            headers and formats, others are shown as given. Array values (per-image metrics)
            are averaged.
        columns: the metric keys to show, in order (default: ``psnr``, ``ssim``, then every
            other key in order of first appearance).

    Returns:
        The table as a markdown string, one row per method; missing values show as "–".

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("metrics_table: results is empty")
    rows = {m: {str(k).lower(): v for k, v in vals.items()} for m, vals in results.items()}
    if columns is None:
        keys: list[str] = []
        for vals in rows.values():
            keys += [k for k in vals if k not in keys]
        columns = [k for k in ("psnr", "ssim") if k in keys] + [
            k for k in keys if k not in ("psnr", "ssim")]
    columns = [str(c).lower() for c in columns]

    def fmt(key: str, value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, (np.ndarray, list, tuple)):
            value = float(np.mean(value))
        if isinstance(value, (bool, np.bool_)):
            return str(bool(value))
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            if np.isinf(value):
                return "inf"
            return _COLUMN_FORMATS.get(key, "{:.4g}").format(float(value))
        return str(value)

    header = ["method"] + [_COLUMN_NAMES.get(c, c) for c in columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(columns)) + "|"]
    for method, vals in rows.items():
        cells = [str(method)] + [fmt(c, vals.get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
