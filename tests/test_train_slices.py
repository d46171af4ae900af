"""A training split with more slices per subject than validation and test
(``Preset.mri_train_slices_per_subject``): only the training split changes."""
import torch

from spadelib.data.mri import mri_dataset
from spadelib.presets import get_preset
from spadelib.tasks import depends_on
from spadelib import zoo


def test_only_the_training_split_grows(tiny_preset, data_dir):
    more = tiny_preset.replace(mri_train_slices_per_subject=3)
    assert more.mri_split_sizes == {"train": 6, "val": 2, "test": 2}
    assert tiny_preset.mri_split_sizes == {"train": 4, "val": 2, "test": 2}
    assert len(mri_dataset("train", more, progress=False)) == 6
    for split in ("val", "test"):            # the same slices, bit for bit
        a = mri_dataset(split, tiny_preset, progress=False)
        b = mri_dataset(split, more, progress=False)
        for k in ("kspace", "target", "coil_maps", "mask"):
            assert torch.equal(a.fields[k], b.fields[k]), (split, k)


def test_the_field_keys_networks_only_where_set():
    quick, paper = get_preset("quick"), get_preset("paper")
    assert depends_on("varnet", quick)["mri_train_slices_per_subject"] == 16
    assert "mri_train_slices_per_subject" not in depends_on("varnet", paper)
    assert "mri_train_slices_per_subject" not in depends_on("usrnet", quick)   # MRI only
    # a quick network of 4 training slices per subject has another file than today's
    assert (zoo.checkpoint_path("varnet", quick.replace(mri_train_slices_per_subject=None))
            != zoo.checkpoint_path("varnet", quick))


def test_supervised_fine_tuning_takes_the_grid_steps_on_a_larger_training_split():
    from spadelib.finetune import finetune_steps, matched_epochs, supervised_pairs, steps_per_epoch

    P = get_preset("quick")
    steps = finetune_steps(P, P.mri_split_sizes["test"])                   # 80
    pairs = supervised_pairs(P.mri_split_sizes["train"], steps, P.train_batch, P.seed)
    assert len(pairs) == steps * P.train_batch and len(set(pairs)) == len(pairs)
    assert pairs == sorted(pairs) and max(pairs) < P.mri_split_sizes["train"]
    assert matched_epochs(steps, len(pairs), P.train_batch) * steps_per_epoch(
        len(pairs), P.train_batch) == steps                                # exactly the steps
    assert pairs == supervised_pairs(640, steps, 2, 0)                     # seeded
    assert supervised_pairs(160, 80, 2) == list(range(160))                # one epoch fits
    assert supervised_pairs(1160, 1000, 4) == list(range(1160))            # paper: 4 epochs
