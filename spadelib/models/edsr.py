"""EDSR without upsampler: the CNN prior D of the DEQ (paper section 4.1).

EDSR (Lim et al. 2017) is a plain residual CNN: a head conv, a trunk of residual blocks
``x + s * conv(relu(conv(x)))`` closed by one more conv and a global skip, and a tail conv. The
DEQ uses it at image resolution (no pixel-shuffle upsampler) on 2-channel real/imag MR images.

At the paper's size (2 -> 2 channels, 64 features, 13 blocks, 3x3 convs with bias) it has

    head 2*64*9 + 64 = 1,216
    13 blocks x 2 x (64*64*9 + 64) = 960,128
    trunk-closing conv 64*64*9 + 64 = 36,928
    tail 64*2*9 + 2 = 1,154

that is 999,426 parameters (REFERENCE.md section 2). SPADE prunes the feature channels of the
head, trunk and blocks and leaves ``tail`` (the output conv) untouched.

Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import checks


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution with bias and 'same' zero padding.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)


class ResBlock(nn.Module):
    """EDSR residual block without batch norm: ``x + res_scale * conv(relu(conv(x)))``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        features: number of channels F (input = output).
        res_scale: factor s on the residual branch (EDSR uses 0.1 for very wide nets, 1 here).

    Shapes:
        ``(B, F, H, W) -> (B, F, H, W)``.
    """

    def __init__(self, features: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=False),
                                  conv3x3(features, features))
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """EDSR at image resolution: ``tail(h + body(h))`` with ``h = head(x)``.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Args:
        in_channels: input channels (2 for real/imag MR images).
        out_channels: output channels (2).
        features: feature channels F of the trunk (paper: 64).
        blocks: number of residual blocks (paper: 13).
        res_scale: factor on each block's residual branch.

    Attributes:
        head: ``conv3x3(in -> F)``.
        body: ``blocks`` x :class:`ResBlock` followed by ``conv3x3(F -> F)``.
        tail: ``conv3x3(F -> out)``; the pruning code leaves it alone.

    Shapes:
        ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` for any H, W.
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 2, features: int = 64,
                 blocks: int = 13, res_scale: float = 1.0):
        super().__init__()
        in_channels = checks.positive_int(in_channels, "EDSR in_channels")
        out_channels = checks.positive_int(out_channels, "EDSR out_channels")
        features = checks.positive_int(features, "EDSR features")
        blocks = checks.nonnegative_int(blocks, "EDSR blocks")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.features, self.blocks = features, blocks
        self.head = conv3x3(in_channels, features)
        self.body = nn.Sequential(*[ResBlock(features, res_scale) for _ in range(blocks)],
                                  conv3x3(features, features))
        self.tail = conv3x3(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.head.in_channels:
            raise ValueError(f"EDSR expects (B, {self.head.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        h = self.head(x)
        return self.tail(h + self.body(h))

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}, out={self.out_channels}, features={self.features}, "
                f"blocks={self.blocks}")
