"""The two tasks as objects: what a pre-trained network depends on, each task's data, sizes,
learning rate, baseline and random measurement, and the one measurement interface."""
import dataclasses

import pytest
import torch

from spadelib import Preset, get_preset
from spadelib.data import MRIMeasurement, MRISample, SRMeasurement, SRSample
from spadelib.data.common import tensor_fields
from spadelib.models import NAMES, NETWORKS
from spadelib.tasks import MRI, SR, TASKS, Task, depends_on, preset_from, task_of

# The preset fields each pre-trained network depends on, listed by hand. Each network's budget
# is its own count of epochs; no pre-training depends on a wall-clock setting.
COMMON = {"name", "seed", "train_batch", "train_schedule"}
MRI_DATA = {"mri_size", "mri_coils", "mri_subjects", "mri_slices_per_subject", "mri_noise",
            "mri_rate", "espirit_calib", "train_lr"}
SR_DATA = {"sr_size", "sr_scale", "sr_noise", "sr_crops_per_image", "sr_train_lr"}
VARNET = {"varnet_cascades", "varnet_chans", "varnet_pools"}
EXPECTED = {
    "deq": COMMON | MRI_DATA | {"deq_blocks", "deq_features", "deq_max_iter", "deq_tol",
                                "deq_warmup", "deq_warmup_steps", "deq_epochs"},
    "varnet": COMMON | MRI_DATA | VARNET | {"varnet_epochs"},
    "e2e-varnet": COMMON | MRI_DATA | VARNET | {"sens_chans", "sens_pools", "e2e_varnet_epochs"},
    "usrnet": COMMON | SR_DATA | {"usrnet_channels", "usrnet_blocks", "usrnet_iters",
                                  "usrnet_epochs"},
}


# fields listed only where they differ from their value before they existed (KEYED_IF_CHANGED):
# the paper preset's DEQ (forward iteration, alpha = 1) lists them, the quick one does not; the
# quick MRI networks list their training slices per subject (16), the paper's do not (None)
CHANGED_ONLY = {"deq": {"deq_solver", "deq_alpha"}}
TRAIN_SLICES = {"mri_train_slices_per_subject"}


@pytest.mark.parametrize("preset", ["quick", "paper"])
@pytest.mark.parametrize("name", NAMES)
def test_depends_on_is_the_explicit_list_of_todays_fields(name, preset):
    d = depends_on(name, preset)
    extra = (CHANGED_ONLY.get(name, set()) if preset == "paper" else
             TRAIN_SLICES if name != "usrnet" else set())
    assert set(d) == EXPECTED[name] | extra
    P = get_preset(preset)
    assert all(d[k] == getattr(P, k) for k in d)
    # never a fine-tuning setting, never a setting of the other task
    assert not {"finetune_epochs", "finetune_lr", "scratch_steps", "notebook_training",
                "extras"} & set(d)


def test_every_preset_field_belongs_somewhere():
    """A new preset field must be placed: in a task, a network, the common budget, or the
    fields pre-training ignores (so no setting silently stops keying a checkpoint)."""
    placed = set().union(*EXPECTED.values(), *CHANGED_ONLY.values(), TRAIN_SLICES) | {
        "finetune_epochs", "finetune_lr", "scratch_steps", "notebook_training", "extras",
        "runs_every_cell", "trains_as",             # what a preset runs, whose networks
        "epochs_by_rate"}          # moves a budget with the rate: the budget itself is keyed
    assert {f.name for f in dataclasses.fields(Preset)} == placed


def test_task_of_and_the_tasks():
    assert task_of("deq") is task_of("E2E_VarNet") is task_of(NETWORKS["varnet"]) is MRI
    assert task_of("usrnet") is SR and TASKS == {"mri": MRI, "sr": SR}
    for task in TASKS.values():
        assert isinstance(task, Task)
        assert issubclass(task.sample_type, task.measurement_type)
        assert set(task.measurement_type.measurement_fields) == set(
            tensor_fields(task.measurement_type))
    assert (MRI.measurement_type, MRI.sample_type) == (MRIMeasurement, MRISample)
    assert (SR.measurement_type, SR.sample_type) == (SRMeasurement, SRSample)
    with pytest.raises(ValueError, match="unknown network 'unet'"):
        task_of("unet")


def test_settings_print_as_the_tables_show_them():
    from spadelib.experiments.claims import _setting

    assert MRI.setting_text(0.167) == "16.7 %" and MRI.setting_text(0.1) == "10.0 %"
    assert SR.setting_text(4) == "×4"
    # the claims ask the task, not the network's name
    assert _setting("e2e-varnet", 0.125) == "12.5 %" and _setting("usrnet", 3) == "×3"


def test_sizes_learning_rates_and_versions():
    P = get_preset("quick")
    assert MRI.image_size(P) == tuple(P.mri_size) and SR.image_size("quick") == (96, 96)
    assert MRI.train_lr(P) == P.train_lr and SR.train_lr(P) == P.sr_train_lr
    from spadelib.data import mri, sr
    assert MRI.data_version() == mri.DATA_VERSION and SR.data_version() == sr.DATA_VERSION


def test_preset_from_round_trips_depends_on():
    P = get_preset("paper").replace(mri_size=(48, 48))
    for name in NAMES:
        d = depends_on(name, P)
        back = preset_from({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()})
        assert depends_on(name, back) == d
        # the fields not listed come from the named preset
        assert back.mri_size == ((48, 48) if "mri_size" in d else (256, 256))
        assert back.replace(mri_size=(48, 48)) == P
    with pytest.raises(ValueError, match="no preset has: mri_depth"):
        preset_from({"name": "quick", "mri_depth": 3})
    with pytest.raises(ValueError, match="preset's 'name'"):
        preset_from({"seed": 1})


@pytest.mark.parametrize("task", [MRI, SR], ids=["mri", "sr"])
def test_random_measurement_is_seeded_and_batched(task):
    a = task.random_measurement("quick", batch=2, seed=3)
    b = task.random_measurement("quick", batch=2, seed=3)
    c = task.random_measurement("quick", batch=2, seed=4)
    assert isinstance(a, task.measurement_type) and a.y.shape[0] == 2
    assert torch.equal(a.y, b.y) and not torch.equal(a.y, c.y)
    h, w = task.image_size("quick")
    x = torch.rand(2, a.y.shape[1] if task is SR else 2, h, w)
    assert a.physics().A(x).shape == a.y.shape
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        task.random_measurement("quick", batch=0)


def test_random_mri_measurement_has_unit_coil_energy():
    m = MRI.random_measurement("quick", batch=2)
    energy = m.coil_maps.pow(2).sum(dim=(1, 4))
    torch.testing.assert_close(energy, torch.ones_like(energy))


@pytest.mark.parametrize("task", [MRI, SR], ids=["mri", "sr"])
def test_baseline_is_in_the_ground_truths_layout(task):
    m = task.random_measurement("quick", batch=2)
    out = task.baseline(m)
    h, w = task.image_size("quick")
    assert out.shape == (2, 2 if task is MRI else 3, h, w)


@pytest.mark.parametrize("task", [MRI, SR], ids=["mri", "sr"])
def test_the_one_measurement_interface(task):
    """y, physics(), with_y(), measured and measurement_fields work alike for both tasks,
    batched and single."""
    m = task.random_measurement("quick", batch=3, seed=1)
    assert m.batched and m.y.shape[0] == 3
    assert torch.broadcast_shapes(m.measured.shape, m.y.shape) == m.y.shape
    assert set(m.measured.unique().tolist()) <= {0.0, 1.0}
    new = m.physics().A(torch.rand(m.physics().A_adjoint(m.y).shape))
    moved = m.with_y(new)
    assert type(moved) is type(m) and torch.equal(moved.y, new)
    for f in m.measurement_fields:
        if f not in ("kspace", "lr"):
            assert torch.equal(getattr(moved, f), getattr(m, f))
    with pytest.raises(ValueError, match="with_y needs"):
        m.with_y(new[:1])
    # a single measurement (as indexing a set gives) has the same interface, with B = 1
    fields = {f: getattr(m, f)[0] for f in m.measurement_fields}
    consts = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)
              if f.name not in fields}
    one = type(m)(**fields, **consts)
    assert not one.batched and torch.equal(one.y, m.y[:1])
    assert torch.equal(one.with_y(one.y).y, one.y)
    assert one.physics().A(torch.rand(one.physics().A_adjoint(one.y).shape)).shape == \
        one.y.shape
