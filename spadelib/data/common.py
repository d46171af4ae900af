"""Sample containers shared by the MRI and SR data sets.

Every data set in the book is a :class:`SampleSet`: a few stacked tensors with one row per
sample, returned as small dataclasses. Two kinds of sample exist for each task:

* a *measurement* (``MRIMeasurement``, ``SRMeasurement``): what a scanner or camera gives you,
  the measurements ``y`` and what is needed to build ``A``;
* a *sample* (``MRISample``, ``SRSample``): a measurement plus its ground truth ``target``.

Both measurements offer the same interface, so code that handles measurements never asks which
task it has: ``m.y`` (the measurements, with a batch axis), ``m.physics()`` (the operator A),
``m.with_y(y)`` (the same measurement with other measurements), ``m.measured`` (1 where an
entry of ``y`` was measured) and ``m.measurement_fields`` (the names of its tensor fields).

:meth:`SampleSet.measurements_only` returns a copy that holds measurement fields only: it keeps
no reference to the ground truth (nor to the fully sampled data it came from), so code handed
such a view (the school and self-supervised fine-tuning regimes) cannot reach it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def tensor_fields(cls) -> list[str]:
    """Names of the dataclass fields of ``cls`` that hold tensors (annotated ``Tensor``).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    return [f.name for f in dataclasses.fields(cls) if "Tensor" in str(f.type)]


def center_crop(a: np.ndarray | torch.Tensor, size: Sequence[int],
                axes: tuple[int, int] = (-2, -1)):
    """The centred ``size = (h, w)`` block of array ``a`` along two of its ``axes`` (rows,
    columns); a view, not a copy. When a side does not split evenly, the extra row or column
    is dropped at the end (the top-left corner sits at ``(H - h) // 2, (W - w) // 2``).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    (h, w), (th, tw) = (a.shape[axes[0]], a.shape[axes[1]]), size
    index = [slice(None)] * a.ndim
    index[axes[0]] = slice((h - th) // 2, (h - th) // 2 + th)
    index[axes[1]] = slice((w - tw) // 2, (w - tw) // 2 + tw)
    return a[tuple(index)]


def batch_like(new: Any, batched_view: torch.Tensor, batched: bool, what: str) -> torch.Tensor:
    """``new`` (shaped like a measurement's batched ``y``) in the layout of the stored field:
    as it is for a batched measurement, without its batch axis for a single one. Used by the
    measurements' ``with_y``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    if not isinstance(new, torch.Tensor) or new.shape != batched_view.shape:
        got = tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
        raise ValueError(f"with_y needs {what} shaped like this measurement's y, "
                         f"{tuple(batched_view.shape)}, got {got}")
    return new if batched else new[0]


def has_ground_truth(obj: Any) -> bool:
    """True when ``obj`` (a sample, a batch or a :class:`SampleSet`) carries ground truth.

    Taught in Chapter 5 (``book/05_finetuning.ipynb``).
    """
    if isinstance(obj, SampleSet):
        return "target" in obj.fields
    return dataclasses.is_dataclass(obj) and any(
        f.name == "target" for f in dataclasses.fields(obj))


class SampleSet(Dataset):
    """A data set of ``sample_type`` dataclasses stored as stacked tensors.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        sample_type: the dataclass returned by indexing (e.g. ``MRISample``).
        fields: tensor fields, each with the samples along the first axis.
        constants: non-tensor fields shared by every sample (e.g. the SR ``scale``).
        measurement_type: the ground-truth-free dataclass that :meth:`measurements_only` yields.
        info: free-form description (preset, split, source) shown by ``repr``.
    """

    def __init__(self, sample_type, fields: dict[str, torch.Tensor],
                 constants: dict[str, Any] | None = None, measurement_type=None,
                 info: dict[str, Any] | None = None):
        lengths = {k: len(v) for k, v in fields.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"all fields need the same number of samples, got {lengths}")
        expected = set(tensor_fields(sample_type))
        if set(fields) != expected:
            raise ValueError(f"{sample_type.__name__} needs tensor fields {sorted(expected)}, "
                             f"got {sorted(fields)}")
        self.sample_type = sample_type
        self.fields = dict(fields)
        self.constants = dict(constants or {})
        self.measurement_type = measurement_type or sample_type
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(next(iter(self.fields.values()))) if self.fields else 0

    def __getitem__(self, i: int):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample index {i} out of range for a set of {n} samples")
        return self.sample_type(**{k: v[i] for k, v in self.fields.items()}, **self.constants)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape[1:])}" for k, v in self.fields.items())
        extra = ", ".join(f"{k}={v}" for k, v in {**self.constants, **self.info}.items())
        return f"SampleSet[{self.sample_type.__name__}]({len(self)} samples: {shapes}; {extra})"

    def batch(self, indices: Sequence[int] | slice | None = None):
        """Several samples as one batched dataclass (tensors get a leading batch axis)."""
        if indices is None:
            indices = slice(None)
        if isinstance(indices, slice):
            picked = {k: v[indices] for k, v in self.fields.items()}
        else:
            idx = torch.as_tensor(list(indices), dtype=torch.long)
            picked = {k: v[idx] for k, v in self.fields.items()}
        return self.sample_type(**picked, **self.constants)

    def loader(self, batch_size: int = 4, shuffle: bool = False, seed: int = 0,
               drop_last: bool = False) -> DataLoader:
        """A DataLoader yielding batched dataclasses (seeded when shuffling)."""
        gen = torch.Generator().manual_seed(seed)
        return DataLoader(self, batch_size=batch_size, shuffle=shuffle, generator=gen,
                          collate_fn=collate, drop_last=drop_last)

    def subset(self, indices: Iterable[int]) -> "SampleSet":
        """The samples at ``indices`` as a new set."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return SampleSet(self.sample_type, {k: v[idx] for k, v in self.fields.items()},
                         self.constants, self.measurement_type, self.info)

    def measurements_only(self) -> "SampleSet":
        """A copy holding measurements only: no ground truth, no reference back to this set."""
        keep = tensor_fields(self.measurement_type)
        fields = {k: self.fields[k].clone() for k in keep}
        return SampleSet(self.measurement_type, fields, dict(self.constants),
                         self.measurement_type, {**self.info, "view": "measurements only"})


def to_device(sample, device):
    """A copy of a sample (or batch) dataclass with every tensor field moved to ``device``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    if not dataclasses.is_dataclass(sample):
        raise TypeError(f"expected a sample dataclass, got {type(sample).__name__}")
    moved = {f.name: getattr(sample, f.name).to(device) for f in dataclasses.fields(sample)
             if isinstance(getattr(sample, f.name), torch.Tensor)}
    return dataclasses.replace(sample, **moved)


def collate(samples: list):
    """Stack a list of same-type sample dataclasses into one batched dataclass.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    cls = type(samples[0])
    if any(type(s) is not cls for s in samples):
        raise TypeError("cannot collate samples of different types")
    out = {}
    for f in dataclasses.fields(cls):
        values = [getattr(s, f.name) for s in samples]
        if isinstance(values[0], torch.Tensor):
            out[f.name] = torch.stack(values)
        else:
            if any(v != values[0] for v in values[1:]):
                raise ValueError(f"samples disagree on the constant field {f.name!r}: {values}")
            out[f.name] = values[0]
    return cls(**out)
