"""VarNet and E2E-VarNet (Sriram et al. 2020), built from fastMRI's own modules (taught in
Chapter 2, ``book/02_mbdl_networks.ipynb``).

Both unroll ``T`` cascades of a k-space gradient step with a learned U-Net prior
(:class:`fastmri.models.varnet.VarNetBlock` around a :class:`~fastmri.models.varnet.NormUnet`):

    k^{t+1} = k^t - eta_t P (k^t - y) + S F (U_t(F^H S^H k^t))

* **VarNet** uses the ESPIRiT coil maps that come with the measurement;
* **E2E-VarNet** estimates the coil maps from the ACS lines with its own sensitivity U-Net
  (:class:`~fastmri.models.varnet.SensitivityModel`). SPADE never prunes that network.

Unlike ``fastmri.models.VarNet``, which returns a root-sum-of-squares magnitude, the networks
here return the complex coil-combined image ``sum_i S_i^H F^H k_i`` as ``(B, 2, H, W)``, the
same layout as the ground truth and the DEQ, so every chapter compares like with like. The
combination uses the measurement's ESPIRiT maps for both networks (E2E-VarNet's own estimated
maps drive its cascades): ESPIRiT maps fix the phase reference of the ground truth, and maps
learned from scratch have an arbitrary one, so combining with them would ask the network to
learn ESPIRiT's phase convention first: an untrained E2E-VarNet read out that way starts below
the zero-filled image.
"""
from __future__ import annotations

import fastmri
import torch
from fastmri.models.varnet import NormUnet, SensitivityModel, VarNetBlock
from torch import nn

from .. import checks
from ..physics.mri import complex_to_channels
from .base import MBDLNetwork, PriorSpec


def _no_inplace(module: nn.Module) -> nn.Module:
    """Switch in-place activations off: they hide InstanceNorm layers from torch-pruning's
    dependency graph (REFERENCE.md section 4). The output is unchanged."""
    for m in module.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return module


def _check_mri_batch(measurement) -> None:
    k = getattr(measurement, "kspace", None)
    if not isinstance(k, torch.Tensor) or k.dim() != 5:
        raise ValueError("expected a batched MRI measurement (kspace of shape (B, C, H, W, 2)); "
                         "use SampleSet.batch(...) or a DataLoader from SampleSet.loader()")


class _Cascades(MBDLNetwork):
    task = "mri"

    def __init__(self, cascades: int, chans: int, pools: int):
        super().__init__()
        cascades = checks.positive_int(cascades, "cascades")
        chans = checks.positive_int(chans, "chans")
        pools = checks.positive_int(pools, "pools")
        self.pools = pools
        self.cascades = nn.ModuleList(
            [VarNetBlock(_no_inplace(NormUnet(chans, pools))) for _ in range(cascades)])

    def sensitivities(self, measurement) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, measurement) -> torch.Tensor:
        """Batched :class:`~spadelib.data.MRIMeasurement` -> ``(B, 2, H, W)`` image."""
        _check_mri_batch(measurement)
        y = measurement.kspace
        mask = measurement.mask.bool()
        maps = self.sensitivities(measurement)
        k = y.clone()
        for cascade in self.cascades:
            k = cascade(k, y, mask, maps)
        # read out with the measurement's ESPIRiT maps: the ground truth's complex frame
        image = fastmri.complex_mul(fastmri.complex_conj(measurement.coil_maps),
                                    fastmri.ifft2c(k)).sum(1)
        return complex_to_channels(image)

    def priors(self) -> list[PriorSpec]:
        side = 2 ** (self.pools + 1)
        out = []
        for i, cascade in enumerate(self.cascades):
            unet = cascade.model.unet
            out.append(PriorSpec(
                name=f"cascades.{i}.model.unet", module=unet,
                example_inputs=(torch.randn(2, 2, side, side, device=self._param_device()),),
                ignored_layers=[unet.up_conv[-1][-1]], applications=1))
        return out

    def _param_device(self) -> torch.device:
        return next(self.parameters()).device


class VarNet(_Cascades):
    """VarNet: cascades of k-space steps with U-Net priors, coil maps given (ESPIRiT).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Paper size: 8 cascades, U-Nets with 18 channels and 4 pools: 19,634,712 parameters.
    """

    name = "varnet"

    def sensitivities(self, measurement) -> torch.Tensor:
        return measurement.coil_maps


class E2EVarNet(_Cascades):
    """E2E-VarNet: VarNet plus a sensitivity U-Net that estimates the coil maps.

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).

    Paper size: 8 cascades (18 channels, 4 pools) and a sensitivity U-Net with 8 channels and
    4 pools: 20,119,610 parameters. Its sensitivity network is never pruned.
    """

    name = "e2e-varnet"

    def __init__(self, cascades: int, chans: int, pools: int, sens_chans: int, sens_pools: int):
        super().__init__(cascades, chans, pools)
        sens_chans = checks.positive_int(sens_chans, "sens_chans")
        sens_pools = checks.positive_int(sens_pools, "sens_pools")
        self.sens_net = _no_inplace(SensitivityModel(sens_chans, sens_pools))

    def sensitivities(self, measurement) -> torch.Tensor:
        return self.sens_net(measurement.kspace, measurement.mask.bool())


def build_varnet(preset) -> VarNet:
    """VarNet at a preset's size (``varnet_cascades``, ``varnet_chans``, ``varnet_pools``).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    return VarNet(preset.varnet_cascades, preset.varnet_chans, preset.varnet_pools)


def build_e2e_varnet(preset) -> E2EVarNet:
    """E2E-VarNet at a preset's size (VarNet's fields plus ``sens_chans``, ``sens_pools``).

    Taught in Chapter 2 (``book/02_mbdl_networks.ipynb``).
    """
    return E2EVarNet(preset.varnet_cascades, preset.varnet_chans, preset.varnet_pools,
                     preset.sens_chans, preset.sens_pools)
