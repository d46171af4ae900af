"""Super-resolution data: colour photos, blurred with the 12 kernels, decimated, noised.

Every sample is made by the degradation model of :mod:`spadelib.physics.sr`:

    y = S (k * x) + sigma n,    n ~ N(0, I),

with ``x`` a square RGB crop in [0, 1] whose side is a multiple of 12 (so it decimates exactly
at x2, x3 and x4), ``k`` one of :func:`spadelib.kernels.sr_kernels` and ``S`` top-left
decimation. The low-resolution images are *not* clipped to [0, 1] (the model stays linear).

Sources, all offline:

* :func:`builtin_images`: photos shipped with scikit-image, matplotlib and scikit-learn. A
  fixed split, chosen so that the test images are ordinary photos like CBSD68's:

  - ``"train"`` (7): astronaut, rocket, motorcycle (left view of skimage's stereo pair),
    grace_hopper (matplotlib), china and flower (scikit-learn's two sample photos) and
    immunohistochemistry (the last one is the photo
    :meth:`spadelib.tasks.Task.training_data` holds out for validation: its content is unlike
    the test photos, so model selection cannot favour them);
  - ``"test"`` (2): chelsea (the cat), coffee.

  Data version 2 replaced hubble_deep_field and retina (mostly black) with china and flower:
  natural photos teach a prior more about photos like the test ones than black backgrounds
  do. In a short budget, the number of distinct crops drawn per photo
  (``Preset.sr_crops_per_image``) matters more than the choice of photos.

* :func:`load_image_folder`: your own folder of images (e.g. the 68 PNGs of CBSD68).

:func:`sr_dataset` turns them into a :class:`~spadelib.data.common.SampleSet` of
:class:`SRSample`; ``.measurements_only()`` gives the ground-truth-free :class:`SRMeasurement`
view used by the school and self-supervised fine-tuning.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Mapping, Sequence

import numpy as np
import torch

from .. import checks
from ..kernels import KERNEL_NAMES, sr_kernels
from ..physics.sr import SuperResolution, check_scale
from ..presets import Preset, get_preset
from .common import SampleSet, batch_like, center_crop

__all__ = ["SRMeasurement", "SRSample", "TRAIN_IMAGES", "TEST_IMAGES", "builtin_images",
           "sr_dataset", "load_image_folder", "IMAGE_EXTENSIONS"]

#: HR crop sides are multiples of this (lcm of the scales 2, 3, 4)
SIDE_MULTIPLE = 12
#: names of the built-in training photos
TRAIN_IMAGES = ("astronaut", "rocket", "motorcycle", "grace_hopper", "china", "flower",
                "immunohistochemistry")
#: names of the built-in test photos
TEST_IMAGES = ("chelsea", "coffee")
#: file suffixes :func:`load_image_folder` reads (case-insensitive)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

DATA_VERSION = 2  # bump when the degradation or the crops change, so pre-training reruns

_SPLIT_SEED = {"train": 1, "test": 2, "folder": 3}


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
@dataclass
class SRMeasurement:
    """What a camera gives: the low-resolution image and what is needed to build ``A``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Attributes:
        lr: low-resolution RGB image ``(3, h, w)``, or batched ``(B, 3, h, w)``.
        kernel: blur kernel ``(k, k)``, or batched ``(B, k, k)`` (non-negative, sums to 1).
        sigma: noise std, a scalar tensor, or ``(B,)`` when batched.
        scale: decimation factor s (2, 3 or 4), shared by the whole set.
    """

    lr: torch.Tensor
    kernel: torch.Tensor
    sigma: torch.Tensor
    scale: int

    #: the tensor fields of the measurement (no ground truth)
    measurement_fields: ClassVar[tuple[str, ...]] = ("lr", "kernel", "sigma")

    @property
    def batched(self) -> bool:
        """Whether the fields have a leading batch axis."""
        return self.lr.dim() == 4

    @property
    def y(self) -> torch.Tensor:
        """The measurements with a batch axis: ``(B, 3, h, w)`` (``B = 1`` unbatched)."""
        return self.lr if self.batched else self.lr[None]

    @property
    def measured(self) -> torch.Tensor:
        """Ones shaped like :attr:`y` (every LR pixel is measured), without the memory."""
        y = self.y
        return y.new_ones(()).expand(y.shape)

    def with_y(self, y: torch.Tensor) -> "SRMeasurement":
        """A copy holding the LR images ``y`` (shaped like :attr:`y`) and every other field of
        this one (kernel, sigma, scale, and a sample's target).

        Raises:
            ValueError: ``y`` has another shape than :attr:`y`.
        """
        return replace(self, lr=batch_like(y, self.y, self.batched, "an LR image"))

    def physics(self, img_size: Sequence[int] | None = None) -> SuperResolution:
        """The operator ``A = S H`` of this measurement (batched kernels for a batch).

        Args:
            img_size: HR size ``(H, W)``; default ``(h * s, w * s)``.

        Returns:
            A :class:`~spadelib.physics.sr.SuperResolution` on the kernel's device. Apply it to
            batched images ``(B, 3, H, W)`` (``lr[None]`` for a single sample).
        """
        if img_size is None:
            img_size = (self.lr.shape[-2] * self.scale, self.lr.shape[-1] * self.scale)
        return SuperResolution(self.kernel, self.scale, img_size)


@dataclass
class SRSample(SRMeasurement):
    """A measurement plus its ground truth.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Attributes:
        target: the high-resolution RGB image ``(3, H, W)`` in [0, 1], or ``(B, 3, H, W)``.
    """

    target: torch.Tensor

    def physics(self, img_size: Sequence[int] | None = None) -> SuperResolution:
        """As :meth:`SRMeasurement.physics`, with ``img_size`` defaulting to the target's."""
        return super().physics(tuple(self.target.shape[-2:]) if img_size is None else img_size)


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------
def _to_rgb_float(img, name: str) -> np.ndarray:
    """Any image array -> float32 (H, W, 3) in [0, 1]: grey promoted to RGB, alpha dropped."""
    from skimage.util import img_as_float32  # heavy dependency (scikit-image), on first use

    arr = np.asarray(img)
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"image {name!r} has unsupported dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.min() >= 0 and arr.max() <= 255:
        arr = arr.astype(np.uint8)  # e.g. int64 arrays of 8-bit values
    arr = img_as_float32(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] in (1, 2):      # grey, grey + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):      # RGB, RGBA
        arr = arr[:, :, :3]
    else:
        raise ValueError(f"image {name!r} must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got shape {arr.shape}")
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def _load_builtin(name: str) -> np.ndarray:
    # heavy dependencies (scikit-image, matplotlib's sample data, scikit-learn), loaded only
    # when a built-in photo is read (then cached)
    import skimage.data as skd

    if name == "grace_hopper":
        from matplotlib import cbook  # heavy dependencies, as above
        from skimage.io import imread
        return imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if name == "motorcycle":
        return skd.stereo_motorcycle()[0]
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image  # heavy dependency, as above
        return load_sample_image(f"{name}.jpg")
    return getattr(skd, name)()


def builtin_images(split: str) -> dict[str, np.ndarray]:
    """The built-in colour photos of a split (no download: they ship with the packages).

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Args:
        split: ``"train"`` (:data:`TRAIN_IMAGES`, 7 photos), ``"test"``
            (:data:`TEST_IMAGES`: chelsea, coffee) or ``"all"``.

    Returns:
        ``{name: image}`` in a fixed order, each float32 ``(H, W, 3)`` in [0, 1]. Sizes range
        from 300 x 451 (chelsea) to 600 x 512 (grace_hopper).

    Raises:
        ValueError: an unknown split.
    """
    names = {"train": TRAIN_IMAGES, "test": TEST_IMAGES,
             "all": TRAIN_IMAGES + TEST_IMAGES}.get(split if isinstance(split, str) else None)
    if names is None:
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return {n: _to_rgb_float(_load_builtin(n), n) for n in names}


def _named_images(images) -> dict[str, np.ndarray]:
    if isinstance(images, Mapping):
        items = list(images.items())
    elif isinstance(images, (list, tuple)):
        items = [(f"image{i}", im) for i, im in enumerate(images)]
    else:
        raise TypeError(f"images must be a dict {{name: (H, W, 3) array}} or a list of arrays, "
                        f"got {type(images).__name__}")
    if not items:
        raise ValueError("images is empty: give at least one image")
    return {str(n): _to_rgb_float(im, str(n)) for n, im in items}


def _crop_side(requested: int, images: Mapping[str, np.ndarray], kernel_size: int) -> int:
    """Largest multiple of 12 <= ``requested`` that fits in every image (and holds a kernel)."""
    checks.positive_int(requested, "the crop size")
    smallest = min(min(im.shape[:2]) for im in images.values())
    side = min(int(requested), smallest) // SIDE_MULTIPLE * SIDE_MULTIPLE
    if side < kernel_size:
        raise ValueError(f"crop side {side} (from size {requested} and the smallest image side "
                         f"{smallest}) is smaller than the {kernel_size}x{kernel_size} kernels: "
                         f"use larger images or a larger size (>= {kernel_size})")
    return side


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


# --------------------------------------------------------------------------------------------
# degradation
# --------------------------------------------------------------------------------------------
def _kernel_bank(kernels) -> tuple[torch.Tensor, tuple]:
    """``kernels`` argument -> (K, k, k) float32 tensor and the labels of its kernels."""
    if kernels is None:
        return sr_kernels(), KERNEL_NAMES
    if isinstance(kernels, torch.Tensor):
        if kernels.dim() == 2:
            kernels = kernels[None]
        if kernels.dim() != 3 or kernels.shape[0] == 0 or not kernels.is_floating_point():
            raise ValueError(f"custom kernels must be a float tensor (K, k, k) or (k, k), got "
                             f"{tuple(kernels.shape)} {kernels.dtype}")
        return kernels.float(), tuple(f"custom #{i}" for i in range(len(kernels)))
    idx = [kernels] if isinstance(kernels, (int, np.integer)) else list(kernels)
    n = len(KERNEL_NAMES)
    bad = [i for i in idx if not checks.is_int(i) or not 0 <= i < n]
    if bad or not idx:
        raise ValueError(f"kernels must be indices in 0..{n - 1} into sr_kernels() (or a "
                         f"(K, k, k) tensor), got {kernels!r}")
    return sr_kernels()[idx], tuple(KERNEL_NAMES[i] for i in idx)


def _check_sigma(sigma):
    """``sigma`` as a noise std >= 0 (a float) or a range ``(low, high)`` (a pair of floats)."""
    if isinstance(sigma, (tuple, list)):
        try:
            low, high = sigma                       # ValueError unless a pair
            low = checks.real(low, "low", low=0.0)
            return low, checks.real(high, "high", low=low)
        except ValueError:
            raise ValueError(f"a sigma range must be (low, high), two finite numbers with "
                             f"0 <= low <= high, got {sigma!r}") from None
    try:
        return checks.real(sigma, "sigma", low=0.0)
    except ValueError:
        raise ValueError(f"sigma must be a noise std >= 0 (images in [0, 1]) or a range "
                         f"(low, high), got {sigma!r}") from None


def _sigmas(sigma, n: int, gen: torch.Generator) -> torch.Tensor:
    if isinstance(sigma, tuple):
        lo, hi = sigma
        return lo + (hi - lo) * torch.rand(n, generator=gen)
    return torch.full((n,), sigma)


def _degrade(targets: torch.Tensor, kernels: torch.Tensor, scale: int, sigmas: torch.Tensor,
             gen: torch.Generator, chunk: int = 32) -> torch.Tensor:
    """``S (k_i * x_i) + sigma_i n_i`` for every sample i (targets (N, 3, S, S))."""
    clean = torch.cat([
        SuperResolution(kernels[i:i + chunk], scale).A(targets[i:i + chunk])
        for i in range(0, len(targets), chunk)])
    noise = torch.randn(clean.shape, generator=gen)
    return clean + sigmas.view(-1, 1, 1, 1) * noise


def _build(targets, kernels, scale, sigmas, gen, info) -> SampleSet:
    lr = _degrade(targets, kernels, scale, sigmas, gen)
    fields = {"lr": lr, "kernel": kernels.contiguous(), "sigma": sigmas.float(),
              "target": targets}
    return SampleSet(SRSample, fields, constants={"scale": scale},
                     measurement_type=SRMeasurement, info=info)


def _every_kernel(crops: dict[str, np.ndarray], bank: torch.Tensor, scale: int, sigma,
                  gen: torch.Generator, info: dict) -> SampleSet:
    """Each crop degraded with each kernel of the bank (image-major order)."""
    n_img, n_k = len(crops), len(bank)
    targets = torch.stack([_chw(c) for c in crops.values()]).repeat_interleave(n_k, dim=0)
    kernels = bank.repeat(n_img, 1, 1)
    sigmas = _sigmas(sigma, n_img * n_k, gen)
    info = {**info, "layout": f"sample i = image i // {n_k}, kernel i % {n_k}"}
    return _build(targets, kernels, scale, sigmas, gen, info)


def _generator(preset: Preset, what: str) -> torch.Generator:
    return torch.Generator().manual_seed(int(preset.seed) * 1000 + _SPLIT_SEED[what])


def sr_dataset(split: str, preset: Preset | str | None = None, scale: int | None = None,
               sigma: float | tuple[float, float] | None = None, kernels=None,
               images=None) -> SampleSet:
    """A super-resolution data set of :class:`SRSample` built from the built-in photos.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    * ``"test"``: the centre crop of every image, degraded with every kernel: N = images x
      kernels samples, in image-major order (sample i: image ``i // K``, kernel ``i % K``).
    * ``"train"``: ``preset.sr_crops_per_image`` random crops of every image, each degraded
      with a random kernel of the bank.

    Crops are square with side ``preset.sr_size`` rounded down to a multiple of 12 and capped
    by the smallest image. Degradation: ``y = S (k * x) + sigma n`` with a generator seeded
    from ``preset.seed`` and the split, so the same arguments always give the same set.

    Args:
        split: ``"train"`` or ``"test"``.
        preset: a :class:`~spadelib.presets.Preset` or its name; default :func:`get_preset`.
        scale: 2, 3 or 4; default ``preset.sr_scale``.
        sigma: noise std (images in [0, 1]); default ``preset.sr_noise``. A pair
            ``(low, high)`` draws one std per sample uniformly in that range.
        kernels: ``None`` (all 12), indices into :func:`~spadelib.kernels.sr_kernels`, or a
            custom float tensor ``(K, k, k)``.
        images: replaces the built-in photos: ``{name: (H, W, 3) array}`` or a list of arrays
            (uint8 or float in [0, 1]; grey and RGBA accepted).

    Returns:
        ``SampleSet`` of ``SRSample`` with fields ``lr`` (N, 3, S/s, S/s), ``kernel``
        (N, k, k), ``sigma`` (N,), ``target`` (N, 3, S, S) and the constant ``scale``.

    Raises:
        ValueError: bad split, scale, sigma or kernel indices.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    P = get_preset(preset)
    s = check_scale(P.sr_scale if scale is None else scale)
    sigma = _check_sigma(P.sr_noise if sigma is None else sigma)
    bank, labels = _kernel_bank(kernels)
    imgs = builtin_images(split) if images is None else _named_images(images)
    side = _crop_side(P.sr_size, imgs, max(bank.shape[-2:]))
    gen = _generator(P, split)
    info = {"split": split, "preset": P.name, "side": side, "sigma": sigma,
            "images": tuple(imgs), "kernels": labels if len(labels) <= 12 else f"{len(labels)}"}
    if split == "test":
        crops = {n: center_crop(im, (side, side), axes=(0, 1)) for n, im in imgs.items()}
        return _every_kernel(crops, bank, s, sigma, gen, info)

    n_crops = int(P.sr_crops_per_image)
    if n_crops < 1:
        raise ValueError(f"preset.sr_crops_per_image must be >= 1, got {n_crops}")
    crops = []
    for im in imgs.values():
        h, w = im.shape[:2]
        tops = torch.randint(0, h - side + 1, (n_crops,), generator=gen).tolist()
        lefts = torch.randint(0, w - side + 1, (n_crops,), generator=gen).tolist()
        crops += [_chw(im[t:t + side, l:l + side]) for t, l in zip(tops, lefts)]
    targets = torch.stack(crops)
    kidx = torch.randint(0, len(bank), (len(targets),), generator=gen)
    sigmas = _sigmas(sigma, len(targets), gen)
    info["crops_per_image"] = n_crops
    return _build(targets, bank[kidx], s, sigmas, gen, info)


def load_image_folder(folder: str | Path, preset: Preset | str | None = None,
                      scale: int | None = None, sigma: float | tuple[float, float] | None = None,
                      kernels=None, size: int | None = None,
                      extensions: Sequence[str] = IMAGE_EXTENSIONS,
                      max_images: int | None = None) -> SampleSet:
    """Your own images (e.g. CBSD68's PNGs) as an SR test set, like ``sr_dataset("test")``.

    Taught in Chapter 1 (``book/01_inverse_problems.ipynb``).

    Files with a suffix in ``extensions`` are read in sorted order with
    ``skimage.io.imread``; grey images are promoted to RGB and an alpha channel is dropped
    (not composited). The centre square crop of side ``size`` (default ``preset.sr_size``),
    rounded down to a multiple of 12 and capped by the smallest image, of every image is
    degraded with every kernel (image-major order), with a seeded generator. To keep as much
    of each image as possible pass a large ``size`` (for CBSD68's 481 x 321 photos: 312).

    Memory: N = images x kernels samples, each storing its target; restrict ``kernels`` for
    large folders at large sizes.

    Args:
        folder: a directory of images.
        preset, scale, sigma, kernels: as for :func:`sr_dataset`.
        size: requested crop side; default ``preset.sr_size``.
        extensions: file suffixes to read (case-insensitive).
        max_images: read only the first ``max_images`` files (sorted by name).

    Returns:
        ``SampleSet`` of ``SRSample`` (see :func:`sr_dataset`); ``info["images"]`` lists the
        file names.

    Raises:
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: ``folder`` is a file.
        ValueError: no image in the folder, an unreadable image, or bad arguments.
    """
    from skimage.io import imread  # heavy dependency (scikit-image), on first use

    path = Path(folder).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"image folder {str(path)!r} does not exist: check the path "
                                f"(e.g. the folder holding CBSD68's .png files)")
    if not path.is_dir():
        raise NotADirectoryError(f"{str(path)!r} is a file, not a folder of images")
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in exts)
    if max_images is not None:
        files = files[:int(max_images)]
    if not files:
        raise ValueError(f"no images with suffix {', '.join(exts)} in {str(path)!r}: put "
                         f"image files there or change `extensions`")
    P = get_preset(preset)
    s = check_scale(P.sr_scale if scale is None else scale)
    sigma = _check_sigma(P.sr_noise if sigma is None else sigma)
    bank, labels = _kernel_bank(kernels)
    imgs = {}
    for f in files:
        try:
            with warnings.catch_warnings():  # imageio's plugin probing on unreadable files
                warnings.simplefilter("ignore", DeprecationWarning)
                raw = imread(f)
        except Exception as exc:  # noqa: BLE001 (re-raised with the file name)
            raise ValueError(f"could not read image {str(f)!r}: {exc}") from exc
        imgs[f.name] = _to_rgb_float(raw, f.name)
    side = _crop_side(P.sr_size if size is None else size, imgs, max(bank.shape[-2:]))
    crops = {n: center_crop(im, (side, side), axes=(0, 1)) for n, im in imgs.items()}
    info = {"split": "folder", "source": str(path), "preset": P.name, "side": side,
            "sigma": sigma, "images": tuple(imgs),
            "kernels": labels if len(labels) <= 12 else f"{len(labels)}"}
    return _every_kernel(crops, bank, s, sigma, _generator(P, "folder"), info)
