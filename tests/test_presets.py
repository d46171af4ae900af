"""Presets: every size and budget of the book is read from one place."""
import dataclasses

import pytest

from spadelib.presets import PRESETS, Preset, get_preset


def test_default_and_env(monkeypatch):
    assert get_preset().name == "quick"
    monkeypatch.setenv("SPADE_PRESET", "paper")
    assert get_preset().name == "paper"
    assert get_preset("quick").name == "quick"          # an explicit name wins
    monkeypatch.setenv("SPADE_PRESET", " Paper ")
    assert get_preset().name == "paper"


def test_unknown_preset_names_the_source(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown preset 'fast' \(from the argument\)"):
        get_preset("fast")
    monkeypatch.setenv("SPADE_PRESET", "huge")
    with pytest.raises(ValueError, match="SPADE_PRESET"):
        get_preset()


def test_paper_preset_mirrors_the_paper():
    p = PRESETS["paper"]
    assert p.mri_subjects == (145, 10, 10)
    assert p.sr_size % 12 == 0 and PRESETS["quick"].sr_size % 12 == 0
    q = PRESETS["quick"]
    assert q.mri_size[0] * q.mri_size[1] < p.mri_size[0] * p.mri_size[1]


def test_presets_are_frozen():
    p = get_preset("quick")
    with pytest.raises(Exception):
        p.mri_size = (8, 8)
    assert p.replace(mri_size=(96, 96)).mri_size == (96, 96) and p.mri_size == (64, 64)


def test_a_preset_object_passes_through_and_describes_itself():
    p = get_preset("quick").replace(mri_size=(32, 32))
    assert get_preset(p) is p
    assert "MRI 32x32" in p.describe() and "x4" in p.describe()
    n_train, n_val, n_test = p.mri_subjects
    assert p.mri_split_sizes == {"train": n_train * p.mri_train_slices_per_subject,
                                 "val": n_val * p.mri_slices_per_subject,
                                 "test": n_test * p.mri_slices_per_subject}


def test_every_field_is_documented():
    """Each preset field says why it has its value (the class docstring names it)."""
    doc = Preset.__doc__
    for f in dataclasses.fields(Preset):
        if f.name != "extras":
            assert f.name in doc, f.name


def test_the_paper_preset_leaves_long_runs_to_the_spade_command(tiny_varnet_preset, data_dir,
                                                                monkeypatch):
    """With notebook_training off, a missing network is not trained in a notebook: the error
    gives the exact command; under the spade command (SPADE_CLI set) it trains."""
    from spadelib import zoo
    from spadelib.presets import CLI_ENV, NeedsCLIError

    monkeypatch.delenv(CLI_ENV, raising=False)
    assert get_preset("quick").notebook_training and not get_preset("paper").notebook_training
    P = tiny_varnet_preset.replace(varnet_epochs=1, notebook_training=False)
    with pytest.raises(NeedsCLIError, match=r"spade pretrain varnet --preset quick"):
        zoo.pretrained("varnet", P, progress=False, device="cpu")
    monkeypatch.setenv(CLI_ENV, "1")
    net = zoo.pretrained("varnet", P, progress=False, device="cpu")
    monkeypatch.delenv(CLI_ENV)
    assert zoo.pretrained("varnet", P, progress=False, device="cpu").state_dict().keys() == \
        net.state_dict().keys()          # once cached, a notebook loads it


def test_the_medium_preset_uses_the_quick_networks_and_runs_every_cell():
    from spadelib import zoo
    from spadelib.experiments import cells
    from spadelib.tasks import MRI, training_preset
    m, q = PRESETS["medium"], PRESETS["quick"]
    assert m.mri_split_sizes["test"] == 48 and q.mri_split_sizes["test"] == 16
    assert m.mri_split_sizes["train"] == q.mri_split_sizes["train"]
    for name in ("deq", "varnet", "e2e-varnet", "usrnet"):
        assert zoo.checkpoint_path(name, "medium") == zoo.checkpoint_path(name, "quick")
    # each sampling rate keeps its own network, the quick one at that rate
    at = training_preset(MRI.with_setting(m, 0.125))
    assert at.name == "quick" and at.mri_rate == 0.125
    assert zoo.checkpoint_path("varnet", at) != zoo.checkpoint_path("varnet", "quick")
    assert len(cells("all", "medium")) == len(cells("all", "paper")) > len(cells("all", "quick"))
    assert training_preset("quick") is q


def test_a_pretraining_budget_can_depend_on_the_sampling_rate():
    """quick's E2E-VarNet trains 60 epochs at 10 % (25 at the other rates), its DEQ 20 at
    12.5 % and 10 % (12 at 16.7 %): with_setting moves the budget with the rate, both ways; a
    budget set by hand stays; paper has no such table; medium at 10 % loads quick's network at
    10 %, and a plain replace of the rate is refused with the way to do it."""
    from spadelib import zoo
    from spadelib.tasks import MRI, SR, training_preset
    q = PRESETS["quick"]
    at = {r: MRI.with_setting(q, r) for r in (0.167, 0.125, 0.1)}
    assert [at[r].e2e_varnet_epochs for r in at] == [25, 25, 60]
    assert [at[r].deq_epochs for r in at] == [12, 20, 20]
    assert [at[r].varnet_epochs for r in at] == [40] * 3
    assert MRI.with_setting(at[0.1], 0.167) == q            # and back
    assert SR.with_setting(at[0.1], 2).e2e_varnet_epochs == 60   # a scale moves no MRI budget
    assert MRI.with_setting(q.replace(e2e_varnet_epochs=3), 0.1).e2e_varnet_epochs == 3
    assert MRI.with_setting("paper", 0.1).e2e_varnet_epochs == 100
    m10 = MRI.with_setting("medium", 0.1)
    assert training_preset(m10) == at[0.1]
    assert zoo.checkpoint_path("e2e-varnet", m10) == zoo.checkpoint_path("e2e-varnet", at[0.1])
    assert zoo.checkpoint_path("e2e-varnet", m10) != zoo.checkpoint_path(
        "e2e-varnet", q.replace(mri_rate=0.1))
    with pytest.raises(ValueError, match=r"e2e_varnet_epochs depends on the sampling rate: "
                                         r"move a preset to another rate with MRI.with_setting"):
        training_preset(PRESETS["medium"].replace(mri_rate=0.1))
    with pytest.raises(ValueError, match="no pre-training budget"):
        q.replace(epochs_by_rate=(("finetune_lr", ((0.1, 3),)),))
    with pytest.raises(ValueError, match="positive epochs"):
        q.replace(epochs_by_rate=(("deq_epochs", ((0.1, 0),)),))


def test_a_preset_that_trains_as_another_must_train_like_it():
    from spadelib.tasks import training_preset
    m = PRESETS["medium"]
    with pytest.raises(ValueError, match="differs from it in what pre-training reads: "
                                         "varnet_epochs"):
        training_preset(m.replace(varnet_epochs=41))
    with pytest.raises(ValueError, match=r"mri_subjects \(train / val\)"):
        training_preset(m.replace(mri_subjects=(40, 5, 12)))
    with pytest.raises(ValueError, match="unknown preset 'nothing'"):
        training_preset(m.replace(trains_as="nothing"))
    # what no pre-training reads may differ: the test split, the fine-tuning budget
    assert training_preset(m.replace(mri_subjects=(40, 4, 20), finetune_epochs=3)).name == "quick"
