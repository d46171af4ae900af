"""The fine-tuning losses: eq. (8) and eq. (9) written once for both tasks, each sample with its
own operator, and only a task's bare measurements accepted."""
import dataclasses

import pytest
import torch
from conftest import Spy
from torch import nn

from spadelib import finetune as ft
from spadelib import losses
from spadelib.data import MRIMeasurement, SRMeasurement, sr_dataset
from spadelib.physics.mri import MultiCoilMRI
from spadelib.presets import get_preset
from spadelib.training import image_loss
from spadelib.transforms import rotate


@pytest.fixture
def sr(data_dir):
    P = get_preset("quick").replace(sr_size=36)
    return sr_dataset("test", P, scale=2, kernels=[0, 9])


# ------------------------------------------------------------------------------ what they see
def test_losses_refuse_batches_with_ground_truth(mri):
    with_gt = mri["test"]
    batch = with_gt.batch([0, 1])                                   # a batch with targets
    spy = Spy(torch.zeros(2, 2, 32, 32))
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.self_supervised_loss(spy, batch)
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.school_loss(spy, batch)
    with pytest.raises(ValueError, match="never sees ground truth"):
        ft.with_teacher_outputs(with_gt, torch.zeros(len(with_gt), 2, 32, 32))
    assert not spy.seen                                   # refused before the network ran


@dataclasses.dataclass
class _Sneaky(MRIMeasurement):
    """A measurement that smuggles the ground truth in under another name."""

    clean: torch.Tensor


def test_ground_truth_under_another_name_is_refused(mri):
    batch = mri["test"].batch([0, 1])
    sneaky = _Sneaky(batch.kspace, batch.mask, batch.coil_maps, batch.target)
    spy = Spy(torch.zeros(2, 2, 32, 32))
    with pytest.raises(ValueError, match="never sees ground truth.*_Sneaky.*clean"):
        losses.self_supervised_loss(spy, sneaky)
    with pytest.raises(ValueError, match="never sees ground truth"):
        losses.school_loss(spy, sneaky)
    plain = mri["test"].measurements_only().batch([0, 1])
    losses.check_measurements_only(plain, "self-supervised")           # the bare one passes
    with pytest.raises(TypeError, match="school fine-tuning needs a task's measurements"):
        losses.check_measurements_only(object(), "school")

    @dataclasses.dataclass
    class Lookalike:                    # the measurement's fields, and more, but no measurement
        kspace: torch.Tensor
        mask: torch.Tensor
        coil_maps: torch.Tensor
        clean: torch.Tensor

    with pytest.raises(TypeError, match="needs a task's measurements"):
        losses.self_supervised_loss(spy, Lookalike(*dataclasses.astuple(sneaky)))
    assert not spy.seen


def test_school_loss_needs_teacher_outputs_and_gives_the_network_the_measurement(mri):
    meas = mri["test"].measurements_only()
    spy = Spy(torch.randn(2, 2, 32, 32))
    with pytest.raises(ValueError, match="needs the teacher's outputs"):
        losses.school_loss(spy, meas.batch([0, 1]))
    outputs = torch.randn(len(meas), 2, 32, 32)
    with pytest.raises(ValueError, match="one teacher output per sample"):
        losses.with_teacher_outputs(meas, outputs[:1])
    bad = outputs.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        losses.with_teacher_outputs(meas, bad)
    batch = losses.with_teacher_outputs(meas, outputs).batch([0, 1])
    loss = losses.school_loss(spy, batch, "l2")
    assert type(spy.seen[0]) is MRIMeasurement                     # not the teacher's outputs
    assert torch.equal(loss, image_loss(spy.images * 1.0, outputs[:2], "l2"))


# ------------------------------------------------------------------------------ eq. (9)
@pytest.mark.parametrize("rotate_maps", [False, True, None])
def test_self_supervised_uses_each_samples_own_operator(mri, rotate_maps):
    batch = mri["test"].measurements_only().batch([0, 1])
    assert not torch.equal(batch.mask[0], batch.mask[1])              # two different masks
    x = torch.randn(2, 2, 32, 32)
    spy = Spy(x)
    options = {} if rotate_maps is None else {"rotate_coil_maps": rotate_maps}
    loss, terms = ft.self_supervised_loss(spy, batch, generator=torch.Generator().manual_seed(3),
                                          return_terms=True, **options)
    rotate_maps = True if rotate_maps is None else rotate_maps       # MRI's default: rotate
    assert not torch.equal(terms["angles"] % 180, torch.zeros(2))     # a quarter turn is drawn
    assert len(spy.seen) == 2 and spy.seen[0] is batch
    second = spy.seen[1]
    assert isinstance(second, MRIMeasurement) and torch.equal(second.mask, batch.mask)
    x_phi = rotate(x, terms["angles"])
    for j in range(2):                                                # A_j, built alone
        maps = batch.coil_maps[j:j + 1]
        if rotate_maps:
            maps = rotate(maps.movedim(-1, 1), terms["angles"][j:j + 1]).movedim(1, -1)
        own = MultiCoilMRI(maps, batch.mask[j:j + 1]).A(x_phi[j:j + 1])
        assert torch.allclose(second.kspace[j:j + 1], own, atol=1e-6)
        assert torch.equal(second.coil_maps[j:j + 1], maps)
        other = MultiCoilMRI(maps, batch.mask[1 - j:2 - j]).A(x_phi[j:j + 1])
        assert not torch.allclose(second.kspace[j:j + 1], other)
    # the two terms are eq. (9)'s, and the gradient reaches the network through both
    # (the data term is a mean over the measured k-space entries only: sampled lines x coils)
    measured = batch.mask.expand_as(batch.kspace) != 0
    df = (batch.physics().A(x) - batch.kspace)[measured].abs().mean()
    assert torch.allclose(terms["data_fidelity"], df)
    assert measured.float().mean() < 0.5          # so a mean over all entries would differ
    assert not torch.allclose(df, (batch.physics().A(x) - batch.kspace).abs().mean())
    assert torch.allclose(terms["equivariance"], (x - x_phi).abs().mean())
    loss.backward()
    assert spy.images.grad is not None and spy.images.grad.abs().sum() > 0


def test_sr_self_supervised_loss_is_written_once_and_matches_eq_9(sr):
    """The same code serves SR: the data term is a mean over every LR pixel (bit for bit the
    plain mean), the re-measurement uses each sample's own kernel."""
    batch = sr.measurements_only().batch([0, 1, 2, 3])
    x = torch.rand(4, 3, 36, 36)
    spy = Spy(x)
    loss, terms = losses.self_supervised_loss(spy, batch, "l2",
                                              generator=torch.Generator().manual_seed(1),
                                              return_terms=True)
    physics = batch.physics(tuple(x.shape[-2:]))
    assert torch.equal(terms["data_fidelity"], image_loss(physics.A(x), batch.lr, "l2"))
    x_phi = rotate(x, terms["angles"])
    second = spy.seen[1]
    assert type(second) is SRMeasurement and torch.equal(second.kernel, batch.kernel)
    assert torch.equal(second.sigma, batch.sigma) and second.scale == batch.scale
    assert torch.equal(second.lr, physics.A(x_phi))
    assert torch.equal(terms["equivariance"], image_loss(x, x_phi, "l2"))
    assert torch.equal(loss, terms["data_fidelity"] + terms["equivariance"])
    with pytest.raises(ValueError, match="exact rotations only"):
        losses.self_supervised_loss(spy, batch, rotations="any")
    with pytest.raises(ValueError, match="MRI only"):
        losses.self_supervised_loss(spy, batch, rotate_coil_maps=True)
    with pytest.raises(ValueError, match="MRI only"):
        losses.ei_measurement(batch, x_phi, terms["angles"], rotate_coil_maps=True)


def test_capabilities_come_from_the_measurement_fields():
    assert losses.has_coil_maps(MRIMeasurement) and not losses.has_coil_maps(SRMeasurement)
    assert losses.exact_rotations_only(SRMeasurement)
    assert not losses.exact_rotations_only(MRIMeasurement)
    assert losses.check_ei_options(MRIMeasurement, "any", True) == "any"
    with pytest.raises(TypeError, match="rotate_coil_maps must be True or False"):
        losses.check_ei_options(MRIMeasurement, "90", 1)


def test_ei_measurement_needs_angles_to_rotate_maps_and_a_measurement(mri):
    batch = mri["test"].measurements_only().batch([0, 1])
    x_phi = torch.randn(2, 2, 32, 32)
    with pytest.raises(ValueError, match="needs the rotation angles"):
        losses.ei_measurement(batch, x_phi, rotate_coil_maps=True)
    with pytest.raises(TypeError, match="needs a task's measurement"):
        losses.ei_measurement(object(), x_phi)
    remeasured = losses.ei_measurement(batch, x_phi)
    assert torch.equal(remeasured.kspace, batch.physics().A(x_phi))
    assert remeasured.coil_maps is batch.coil_maps and remeasured.mask is batch.mask


def test_measured_loss_ignores_unsampled_entries_and_refuses_an_empty_mask():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 4, 5, 2, generator=g)
    mask = torch.zeros(2, 1, 1, 5, 1)
    mask[:, ..., 1, :] = 1
    mask[0, ..., 3, :] = 1
    pred = torch.randn(2, 3, 4, 5, 2, generator=g)
    sel = mask.expand_as(y) != 0
    assert torch.allclose(ft.measured_loss(pred, y, mask), (pred - y)[sel].abs().mean())
    assert torch.allclose(ft.measured_loss(pred, y, mask, "l2"), (pred - y)[sel].pow(2).mean())
    garbage = pred.clone()
    garbage[~sel] = 1e6                                # what lies off the mask never counts
    assert torch.allclose(ft.measured_loss(garbage, y, mask), ft.measured_loss(pred, y, mask))
    with pytest.raises(ValueError, match="samples no k-space entry"):
        ft.measured_loss(pred, y, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="unknown loss"):
        ft.measured_loss(pred, y, mask, "huber")


def test_self_supervised_loss_vanishes_for_a_consistent_equivariant_net(mri):
    """A network that returns the exact preimage of noiseless data has zero loss: the DF
    term checks A_j f(y_j) = y_j with each sample's own A_j."""
    batch = mri["test"].measurements_only().batch([0, 1])
    x = torch.randn(2, 2, 32, 32)
    clean = dataclasses.replace(batch, kspace=batch.physics().A(x))

    class Oracle(nn.Module):                      # knows x_phi for any re-measurement
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))
            self.calls = 0

        def forward(self, m):
            self.calls += 1
            if self.calls == 1:
                return x * self.w
            # least-squares image from the measurement: recover x_phi exactly by trying the
            # four quarter turns of x (the oracle knows x, not the angle)
            out = []
            for j in range(m.kspace.shape[0]):
                a = MultiCoilMRI(m.coil_maps[j:j + 1], m.mask[j:j + 1])
                cands = [torch.rot90(x[j:j + 1], k, dims=(-2, -1)) for k in range(4)]
                errs = [(a.A(c) - m.kspace[j:j + 1]).abs().sum() for c in cands]
                out.append(cands[int(torch.stack(errs).argmin())])
            return torch.cat(out) * self.w

    loss = ft.self_supervised_loss(Oracle(), clean)
    assert float(loss.detach()) < 1e-6


class _Adjoint(nn.Module):
    """f(y) = A^H y: with every line sampled and sum_i |S_i|^2 = 1 on the maps' support, it
    returns exactly what A sees of an image."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, m):
        return m.physics().A_adjoint(m.y)


def test_ei_consistency_tells_a_blind_setup_from_a_sound_one():
    from spadelib.data.common import SampleSet
    from spadelib.data.mri import MRIMeasurement

    g = torch.Generator().manual_seed(0)
    n, c, h, w = 2, 3, 16, 16
    maps = torch.randn(n, c, h, w, 2, generator=g)
    maps[:, :, :, : w // 2] = 0                             # the maps see the right half only
    maps = maps / maps.pow(2).sum(dim=(1, 4), keepdim=True).sqrt().clamp_min(1e-12)
    mask = torch.ones(n, 1, 1, w, 1)
    image = torch.rand(n, 2, h, w, generator=g)
    kspace = MultiCoilMRI(maps, mask).A(image)
    data = SampleSet(MRIMeasurement, {"kspace": kspace, "mask": mask, "coil_maps": maps},
                     measurement_type=MRIMeasurement)
    net = _Adjoint()
    sound = losses.ei_consistency(net, data, angles=(90.0, 180.0), rotate_coil_maps=True)
    blind = losses.ei_consistency(net, data, angles=(90.0, 180.0), rotate_coil_maps=False)
    assert min(sound.values()) > 60                          # exact up to float error
    assert max(blind.values()) < 30                          # half the rotated image is lost
    assert losses.ei_consistency(net, data, angles=(90.0,)) == {90.0: sound[90.0]}  # default
