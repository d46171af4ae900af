"""USRNet: the unfolded super-resolution network of the SPADE paper's SR experiments (taught in
Chapter 2, ``book/02_mbdl_networks.ipynb``).

USRNet (Zhang, Van Gool and Timofte, CVPR 2020) unfolds ``K`` half-quadratic-splitting
iterations for the degradation model ``y = S (k * x) + n`` of :mod:`spadelib.physics.sr`.
Starting from the nearest-neighbour upsampling ``x_0`` of the low-resolution image, step
``k = 1..K`` alternates

* the **data module**, the exact minimiser

  .. math::

      z_k = \\arg\\min_x \\|S H x - y\\|^2 + \\alpha_k \\|x - x_{k-1}\\|^2

  computed in closed form with FFTs (:meth:`~spadelib.physics.sr.SuperResolution.data_step`);
* the **prior module**, one *shared* CNN denoiser :class:`ResUNet` applied to ``z_k`` and a
  constant noise-level map ``beta_k``:  ``x_k = R([z_k, beta_k 1])``;

with the hyper-parameters ``(alpha_k, beta_k)_{k=1..K}`` predicted from the noise level and
the scale by a tiny network, :class:`HyPaNet`. The prior is the only part SPADE prunes; it is
applied ``K`` times per reconstruction.

At the paper's size (``channels=(64, 128, 256, 512)``, ``blocks=2``, ``iters=8``) the network
has exactly 17,016,016 parameters: 17,010,624 in the ResUNet and 5,392 in HyPaNet.

Two variants share these modules and this parameter count (:data:`VARIANTS`):

* ``"zoo"`` (the default, the networks this package trains): a *residual* prior step
  ``x_k = z_k + R(...)`` whose output conv starts at zero, and HyPaNet fed normalised inputs
  (``sigma / 0.05, s / 4``), so that training from scratch starts from a sensible network;
* ``"official"``: the equations of the authors' released network, so that its published
  weights can be loaded (:mod:`spadelib.models.usrnet_official`): ``x_k = R(...)``, the
  output conv default-initialised, HyPaNet fed the raw ``(sigma, s)`` with a ``1e-6`` floor.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from ..data.sr import SRMeasurement
from ..physics.sr import check_scale, nearest_upsample
from ..presets import Preset, get_preset
from .base import MBDLNetwork, PriorSpec

__all__ = ["ResBlock", "ResUNet", "HyPaNet", "USRNet", "build_usrnet", "VARIANTS"]

#: the USRNet variants: ``"zoo"`` (ours, trained from scratch) and ``"official"`` (the
#: authors' equations, for their published weights); see :class:`USRNet`
VARIANTS = ("zoo", "official")


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)


# --------------------------------------------------------------------------------------------
# the prior: a bias-free residual U-Net
# --------------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    """Bias-free residual block ``x + conv(relu(conv(x)))`` (3x3 convs, C -> C channels).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        channels: C.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv3x3(channels, channels), nn.ReLU(inplace=False),
                                  _conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResUNet(nn.Module):
    """USRNet's prior: a bias-free residual U-Net with additive skip connections.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    With widths ``c_0..c_3`` and ``n`` = ``blocks``:

    * ``head``: 3x3 conv ``in -> c_0``, giving ``e_0``;
    * ``down[i]`` (i = 0, 1, 2): ``n`` :class:`ResBlock` at ``c_i``, then a 2x2 stride-2 conv
      ``c_i -> c_{i+1}`` (halves H and W), giving ``e_{i+1}``;
    * ``body``: ``n`` ResBlocks at ``c_3``;
    * ``up[j]`` (j = 0, 1, 2, i.e. level i = 2 - j): its input is the previous output **plus**
      the encoder feature of the same level, ``t + e_{i+1}``; a 2x2 stride-2 transposed conv
      ``c_{i+1} -> c_i`` (doubles H and W), then ``n`` ResBlocks at ``c_i``;
    * ``tail``: 3x3 conv ``c_0 -> out`` applied to ``t + e_0`` (left unpruned by SPADE).

    Every conv is bias-free (so the network is positively homogeneous in its weights) and
    every activation is ``ReLU(inplace=False)`` (torch-pruning traces it safely).
    Parameters: ``9 in c_0 + 9 c_0 out + sum_{i<3} (36 n c_i^2 + 2 * 4 c_i c_{i+1}) + 18 n c_3^2``
    (the ``36 n c_i^2`` term counts encoder and decoder blocks together); 17,010,624 for
    ``in=4, out=3, channels=(64, 128, 256, 512), blocks=2``.

    Inputs of any size work: ``forward`` pads H and W at the bottom/right by edge replication
    up to multiples of 8 (three halvings) and crops the output back.

    Args:
        in_channels: input channels (USRNet: 3 RGB + 1 noise-level map).
        out_channels: output channels (USRNet: 3).
        channels: the four widths ``(c_0, c_1, c_2, c_3)``.
        blocks: residual blocks per level (``n``).

    Shapes:
        ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int = 4, out_channels: int = 3,
                 channels: Sequence[int] = (64, 128, 256, 512), blocks: int = 2):
        super().__init__()
        in_channels = checks.positive_int(in_channels, "in_channels")
        out_channels = checks.positive_int(out_channels, "out_channels")
        try:
            chans = tuple(channels)
        except TypeError:
            chans = ()
        if len(chans) != 4:
            raise ValueError(f"channels must be 4 widths (c0, c1, c2, c3), got {channels!r}")
        chans = tuple(checks.positive_int(c, f"channels[{i}]") for i, c in enumerate(chans))
        blocks = checks.positive_int(blocks, "blocks")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.channels, self.blocks = chans, blocks

        self.head = _conv3x3(in_channels, chans[0])
        self.down = nn.ModuleList(
            nn.Sequential(*[ResBlock(chans[i]) for _ in range(blocks)],
                          nn.Conv2d(chans[i], chans[i + 1], kernel_size=2, stride=2, bias=False))
            for i in range(3))
        self.body = nn.Sequential(*[ResBlock(chans[3]) for _ in range(blocks)])
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(chans[i + 1], chans[i], kernel_size=2, stride=2,
                                             bias=False),
                          *[ResBlock(chans[i]) for _ in range(blocks)])
            for i in (2, 1, 0))
        self.tail = _conv3x3(chans[0], out_channels)

    @property
    def size_multiple(self) -> int:
        """H and W are padded to multiples of this (2 ** number of down levels = 8)."""
        return 2 ** len(self.down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x``.

        Args:
            x: real ``(B, in_channels, H, W)``, any H, W >= 1.

        Returns:
            ``(B, out_channels, H, W)``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResUNet expects (B, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        feats = [self.head(x)]                     # e_0 at full resolution
        for level in self.down:
            feats.append(level(feats[-1]))         # e_1, e_2, e_3
        t = self.body(feats[-1])
        for level, skip in zip(self.up, reversed(feats[1:])):
            t = level(t + skip)                    # add e_3, e_2, e_1 before each up level
        t = self.tail(t + feats[0])
        return t[..., :h, :w]


# --------------------------------------------------------------------------------------------
# hyper-parameter network
# --------------------------------------------------------------------------------------------
class HyPaNet(nn.Module):
    """Maps the degradation's (noise level, scale) to the per-iteration ``alpha_k, beta_k``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Three 1x1 convs with bias, ``2 -> hidden -> hidden -> out``, ReLU between them, Softplus at
    the end plus ``eps`` so every output is strictly positive:

    .. math::

        (\\alpha_1..\\alpha_K, \\beta_1..\\beta_K) = \\mathrm{softplus}(W_3\\,\\mathrm{relu}(
        W_2\\,\\mathrm{relu}(W_1 u + b_1) + b_2) + b_3) + \\epsilon .

    The input ``u`` is built by :meth:`USRNet.hypa_input`. Parameters (hidden 64, out 16):
    192 + 4,160 + 1,040 = 5,392.

    Args:
        in_channels: 2 (normalised sigma and scale).
        hidden: width of the two hidden layers.
        out: ``2 K`` (alphas first, then betas).
        eps: added after the Softplus; keeps ``alpha_k`` away from 0, where the closed-form
            data step divides by it.

    Shapes:
        ``(B, in_channels, 1, 1) -> (B, out, 1, 1)``.
    """

    def __init__(self, in_channels: int = 2, hidden: int = 64, out: int = 16, eps: float = 1e-4):
        super().__init__()
        in_channels = checks.positive_int(in_channels, "in_channels")
        hidden = checks.positive_int(hidden, "hidden")
        out = checks.positive_int(out, "out")
        self.eps = checks.positive_real(eps, "eps")
        self.mlp = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=False),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=False),
            nn.Conv2d(hidden, out, 1), nn.Softplus())

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.mlp(u) + self.eps


# --------------------------------------------------------------------------------------------
# the unfolded network
# --------------------------------------------------------------------------------------------
class USRNet(MBDLNetwork):
    """Deep unfolding network for SR: ``iters`` x (closed-form data step, shared ResUNet).

    ``forward`` computes, for a batched :class:`~spadelib.data.SRMeasurement` with LR image
    ``y`` ``(B, 3, h, w)``, kernels ``k``, noise std ``sigma`` and scale ``s``:

    .. math::

        x_0 = \\mathrm{nearest}_s(y),\\quad (\\alpha, \\beta) = \\mathrm{HyPaNet}(u),\\quad
        z_k = \\mathrm{data\\_step}(x_{k-1}, y, \\alpha_k),\\quad
        x_k = z_k + \\mathrm{ResUNet}([z_k, \\beta_k \\mathbf 1]),

    for ``k = 1..iters``, returning ``x_K`` ``(B, 3, s h, s w)``. HyPaNet's input is
    ``u = (sigma / SIGMA_REF, s / SCALE_REF)`` with ``SIGMA_REF = 0.05`` (images in [0, 1], so
    the usual noise levels 0..0.05, i.e. 0..12.75 / 255, map to [0, 1]) and ``SCALE_REF = 4``
    (scales 2, 3, 4 map to 0.5, 0.75, 1): inputs of order one at initialisation.

    This is the ``"zoo"`` variant (the default). Its prior step is residual,
    ``x_k = z_k + ResUNet(...)``, and the ResUNet's output conv starts at zero, so an untrained
    USRNet is exactly ``iters`` closed-form data steps. Without this, eight applications of a
    randomly initialised bias-free ResUNet compound: the untrained output is far from any
    image, and the first training steps can blow the loss up by orders of magnitude.

    The ``"official"`` variant follows the authors' released network instead, so that its
    published weights (:func:`spadelib.models.usrnet_official.load_usrnet_official`) give the
    authors' reconstructions: ``x_k = ResUNet([z_k, beta_k 1])`` (no residual), the output
    conv keeps PyTorch's default initialisation, and HyPaNet reads the raw ``u = (sigma, s)``
    with a ``1e-6`` floor after its Softplus. Both variants have the same modules, parameter
    names and count, and SPADE prunes them alike (:meth:`priors`).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        channels: ResUNet widths ``(c_0, c_1, c_2, c_3)``.
        blocks: residual blocks per ResUNet level.
        iters: unfolded iterations K (the prior is applied K times).
        hypa_hidden: HyPaNet width.
        variant: ``"zoo"`` (default) or ``"official"``, see above.

    Example:
        >>> from spadelib.data import sr_dataset
        >>> batch = sr_dataset("test", "quick", scale=4).batch(range(2))
        >>> net = USRNet(channels=(16, 32, 64, 128), blocks=1)
        >>> net(batch).shape                      # batch.lr is (2, 3, 24, 24)
        torch.Size([2, 3, 96, 96])
    """

    task = "sr"
    name = "usrnet"
    SIGMA_REF = 0.05
    SCALE_REF = 4.0

    #: HyPaNet's floor after the Softplus, per variant
    HYPA_EPS = {"zoo": 1e-4, "official": 1e-6}

    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512), blocks: int = 2,
                 iters: int = 8, hypa_hidden: int = 64, variant: str = "zoo"):
        super().__init__()
        self.variant = checks.choice(variant, VARIANTS, "USRNet variant")
        self._build_options = {"variant": self.variant, "channels": list(channels),
                               "blocks": blocks, "iters": iters, "hypa_hidden": hypa_hidden}
        self.iters = checks.positive_int(iters, "iters")
        self.prior = ResUNet(in_channels=4, out_channels=3, channels=channels, blocks=blocks)
        self.hypa = HyPaNet(in_channels=2, hidden=hypa_hidden, out=2 * self.iters,
                            eps=self.HYPA_EPS[self.variant])
        if self.variant == "zoo":
            nn.init.zeros_(self.prior.tail.weight)  # residual prior: starts as the identity

    @property
    def residual(self) -> bool:
        """Whether the prior step is ``x + ResUNet(...)`` (zoo) or ``ResUNet(...)`` (official)."""
        return self.variant == "zoo"

    def build_options(self) -> dict:
        """The arguments that rebuild this architecture (``build_usrnet(preset, **options)``):
        what a saved pruned network records when it was not built from a preset's sizes (the
        official weights bring their own)."""
        return dict(self._build_options)       # as built: pruning does not change them

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, iters={self.iters}, channels={self.prior.channels}, "
                f"blocks={self.prior.blocks}")

    # -- MBDLNetwork -----------------------------------------------------------------------
    def priors(self) -> list[PriorSpec]:
        """The shared ResUNet (applied ``iters`` times; its ``tail`` is never pruned) and
        HyPaNet's hidden 1x1 convs (applied once; its output conv is never pruned).

        Pruning HyPaNet as well is what reproduces the paper's USRNet #Params column exactly:
        with the ResUNet alone, every pruned count would keep HyPaNet's full share.
        """
        p = next(self.prior.parameters())
        example = torch.randn(2, 4, 32, 32, dtype=p.dtype, device=p.device)
        hypa_in = torch.rand(2, 2, 1, 1, dtype=p.dtype, device=p.device)
        return [PriorSpec(name="prior", module=self.prior, example_inputs=(example,),
                          ignored_layers=[self.prior.tail], applications=self.iters),
                PriorSpec(name="hypa", module=self.hypa, example_inputs=(hypa_in,),
                          ignored_layers=[self.hypa.mlp[4]], applications=1)]

    # -- pieces ----------------------------------------------------------------------------
    def _check(self, m) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Validate a batched SR measurement; return (lr, sigma (B,), scale) on our device."""
        if not isinstance(m, SRMeasurement):
            raise TypeError(f"USRNet needs a batched SRMeasurement/SRSample (e.g. "
                            f"sr_dataset(...).batch(...)), got {type(m).__name__}")
        scale = check_scale(m.scale)
        lr = m.lr
        if not isinstance(lr, torch.Tensor) or lr.dim() != 4:
            shape = tuple(lr.shape) if isinstance(lr, torch.Tensor) else type(lr).__name__
            raise ValueError(f"USRNet needs a *batched* measurement with lr (B, 3, h, w), got lr "
                             f"{shape}: use SampleSet.batch([...]) or a DataLoader")
        if lr.shape[1] != 3:
            raise ValueError(f"USRNet works on RGB images: lr must have 3 channels, got "
                             f"{lr.shape[1]} (shape {tuple(lr.shape)})")
        if lr.is_complex() or not lr.is_floating_point():
            raise ValueError(f"lr must be a real floating-point tensor, got dtype {lr.dtype}")
        b = lr.shape[0]
        if not isinstance(m.kernel, torch.Tensor) or m.kernel.dim() not in (2, 3) or (
                m.kernel.dim() == 3 and m.kernel.shape[0] != b):
            shape = tuple(m.kernel.shape) if isinstance(m.kernel, torch.Tensor) else m.kernel
            raise ValueError(f"kernel must be (B, k, k) with B={b} (or one shared (k, k)), "
                             f"got {shape}")
        sigma = torch.as_tensor(m.sigma)
        if sigma.numel() not in (1, b):
            raise ValueError(f"sigma must be a scalar or (B,) with B={b}, got shape "
                             f"{tuple(sigma.shape)}")
        p = next(self.parameters())
        lr = lr.to(device=p.device, dtype=p.dtype)
        sigma = sigma.to(device=p.device, dtype=p.dtype).reshape(-1).expand(b)
        return lr, sigma, scale

    def hypa_input(self, sigma: torch.Tensor, scale: int) -> torch.Tensor:
        """HyPaNet's input: ``(sigma / SIGMA_REF, scale / SCALE_REF)`` for the zoo variant,
        the raw ``(sigma, scale)`` for the official one.

        Args:
            sigma: noise std per item ``(B,)`` (images in [0, 1]).
            scale: s.

        Returns:
            ``(B, 2, 1, 1)``.
        """
        if self.variant == "official":
            u = torch.stack([sigma, torch.full_like(sigma, float(scale))], dim=1)
        else:
            u = torch.stack([sigma / self.SIGMA_REF,
                             torch.full_like(sigma, scale / self.SCALE_REF)], dim=1)
        return u.view(-1, 2, 1, 1)

    def hyperparameters(self, measurement: SRMeasurement) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-iteration ``alpha`` and ``beta`` HyPaNet gives for a batched measurement.

        Returns:
            ``(alphas, betas)``, each positive ``(B, iters)``.
        """
        _, sigma, scale = self._check(measurement)
        ab = self.hypa(self.hypa_input(sigma, scale)).flatten(1)
        return ab[:, :self.iters], ab[:, self.iters:]

    def forward(self, measurement: SRMeasurement) -> torch.Tensor:
        """Reconstruct the HR image.

        Args:
            measurement: batched :class:`~spadelib.data.SRMeasurement` (or ``SRSample``):
                lr ``(B, 3, h, w)``, kernel ``(B, k, k)``, sigma ``(B,)``, scale in (2, 3, 4).
                Moved to the network's device and dtype.

        Returns:
            ``(B, 3, s h, s w)``.

        Raises:
            TypeError: not an SR measurement.
            ValueError: unbatched, not 3 channels, scale not in (2, 3, 4), mismatched kernel or
                sigma batch, or a kernel larger than the HR image.
        """
        lr, sigma, s = self._check(measurement)
        b, _, h, w = lr.shape
        hr = (h * s, w * s)
        physics = measurement.physics(hr)
        ab = self.hypa(self.hypa_input(sigma, s))              # (B, 2K, 1, 1)
        x = nearest_upsample(lr, s)
        for k in range(self.iters):
            x = physics.data_step(x, lr, ab[:, k:k + 1])        # alpha_k (B, 1, 1, 1)
            beta = ab[:, self.iters + k:self.iters + k + 1].expand(b, 1, *hr)
            denoised = self.prior(torch.cat([x, beta], dim=1))
            x = x + denoised if self.residual else denoised
        return x


def build_usrnet(preset: Preset | str | None = None, variant: str = "zoo",
                 **sizes) -> USRNet:
    """USRNet at a preset's size (``usrnet_channels``, ``usrnet_blocks``, ``usrnet_iters``).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        preset: a :class:`~spadelib.presets.Preset`, its name, or ``None`` (the default preset).
        variant: ``"zoo"`` (ours, trained by :mod:`spadelib.zoo`) or ``"official"`` (the
            authors' equations, the architecture of their published weights); see
            :class:`USRNet`.
        sizes: ``channels``, ``blocks``, ``iters`` or ``hypa_hidden`` in place of the
            preset's (:meth:`USRNet.build_options`).

    Returns:
        A freshly initialised :class:`USRNet` (17,016,016 parameters for ``"paper"``, in both
        variants).
    """
    P = get_preset(preset)
    unknown = set(sizes) - {"channels", "blocks", "iters", "hypa_hidden"}
    if unknown:
        raise TypeError(f"build_usrnet() has no option {sorted(unknown)[0]!r}")
    size = {"channels": P.usrnet_channels, "blocks": P.usrnet_blocks,
            "iters": P.usrnet_iters, **sizes}
    return USRNet(**size, variant=variant)

