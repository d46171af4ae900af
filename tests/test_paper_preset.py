"""The paper preset takes the paper's stated values (issue 27, item 5), the quick preset's
cached networks keep their keys, and every departure is listed in one Deviations table."""
import json
from pathlib import Path

import pytest
import torch
import yaml

from spadelib import get_preset, zoo
from spadelib.metrics import count_parameters
from spadelib.models import NAMES, build
from spadelib.tasks import KEYED_IF_CHANGED, changed_only, depends_on, preset_from

ROOT = Path(__file__).resolve().parents[1]

# The quick preset's checkpoint headers and file names: literal settings and the hash of those
# exact values, the same on every machine. Adding a preset field must not retrain the quick
# networks (deq_solver and deq_alpha are keyed only where they differ from quick's values). The
# budgets were raised on 2026-12-06, when the quick networks began to ship
# (shipped/models/, tests/test_shipped_models.py), and the same day the MRI networks moved to
# 16 slices per training subject: these are the shipped files' keys.
_MRI = {"mri_size": (64, 64), "mri_coils": 4, "mri_subjects": (40, 4, 4),
        "mri_slices_per_subject": 4, "mri_train_slices_per_subject": 16, "mri_noise": 0.01, "mri_rate": 0.167,
        "espirit_calib": 16, "train_lr": 0.003}
_COMMON = {"name": "quick", "seed": 0, "train_batch": 2, "train_schedule": "cosine"}
_VARNET = {"varnet_cascades": 4, "varnet_chans": 8, "varnet_pools": 2}
QUICK_HEADERS = {
    "deq": {"network": "deq", "model_version": 1, "data_version": 2, "depends_on": {
        **_COMMON, **_MRI, "deq_blocks": 4, "deq_features": 32, "deq_max_iter": 20,
        "deq_tol": 0.001, "deq_warmup": 0.5, "deq_warmup_steps": 3, "deq_epochs": 12}},
    "varnet": {"network": "varnet", "model_version": 1, "data_version": 2, "depends_on": {
        **_COMMON, **_MRI, **_VARNET, "varnet_epochs": 40}},
    "e2e-varnet": {"network": "e2e-varnet", "model_version": 2, "data_version": 2,
                   "depends_on": {**_COMMON, **_MRI, **_VARNET, "sens_chans": 4,
                                  "sens_pools": 2, "e2e_varnet_epochs": 25}},
    "usrnet": {"network": "usrnet", "model_version": 2, "data_version": 2, "depends_on": {
        **_COMMON, "sr_size": 96, "sr_scale": 4, "sr_noise": 0.01, "sr_crops_per_image": 48,
        "sr_train_lr": 0.001, "usrnet_channels": (16, 32, 64, 128), "usrnet_blocks": 1,
        "usrnet_iters": 4, "usrnet_epochs": 6}},
}
# the file names hash the headers above (JSON of exact ints, strings and literal floats, no
# data or weights), so they are the same on every machine: config_key of a literal dict
QUICK_FILES = {"deq": "model-deq-quick-2203624de250.pt",
               "varnet": "model-varnet-quick-cec6dcb158b2.pt",
               "e2e-varnet": "model-e2e-varnet-quick-fa80d54f5ed0.pt",
               "usrnet": "model-usrnet-quick-abedbb392274.pt"}


@pytest.mark.determinism
@pytest.mark.parametrize("name", NAMES)
def test_quick_checkpoint_keys_are_unchanged(name):
    assert zoo.checkpoint_header(name, "quick") == QUICK_HEADERS[name]
    assert zoo.checkpoint_path(name, "quick").name == QUICK_FILES[name]


def test_the_paper_preset_takes_the_papers_stated_values():
    P = get_preset("paper")
    # Section 4: "We pre-trained and fine-tuned the MBDL models by using the Adam optimizer
    # with the learning rate being 10^-5"; one rate, no schedule stated
    assert P.train_lr == P.sr_train_lr == P.finetune_lr == 1e-5
    assert P.train_schedule == "constant"
    assert zoo.fit_config("deq", P).lr == zoo.fit_config("usrnet", P).lr == 1e-5
    # Section 4.1: "DEQ with forward iteration as in (3)", at most 100 iterations, stop at a
    # relative norm difference below 1e-4; eq. (3) has no relaxation (alpha = 1)
    assert (P.deq_solver, P.deq_alpha, P.deq_max_iter, P.deq_tol) == ("forward", 1.0, 100, 1e-4)
    net = build("deq", P)
    assert (net.solver, float(net.alpha.detach()), net.max_iter, net.tol) == (
        "forward", 1.0, 100, 1e-4)
    assert count_parameters(net) == 999_428           # Table 1's count, alpha still trainable
    # the quick preset keeps its solver and relaxation
    q = build("deq", "quick")
    assert (q.solver, float(q.alpha.detach())) == ("anderson", 0.5)


def test_changed_only_fields_key_the_paper_deq_and_read_back():
    assert KEYED_IF_CHANGED == {"deq_solver": "anderson", "deq_alpha": 0.5,
                                "mri_train_slices_per_subject": None}
    assert changed_only("deq") == set(KEYED_IF_CHANGED)
    assert changed_only("varnet") == {"mri_train_slices_per_subject"}
    assert changed_only("usrnet") == set()
    paper = depends_on("deq", "paper")
    assert "mri_train_slices_per_subject" not in paper             # None: the old value
    assert (paper["deq_solver"], paper["deq_alpha"]) == ("forward", 1.0)
    assert "deq_solver" not in depends_on("deq", "quick")
    assert "deq_solver" not in depends_on("varnet", "paper")      # not a VarNet setting
    back = preset_from(json.loads(json.dumps(paper)), "deq")
    assert (back.deq_solver, back.deq_alpha) == ("forward", 1.0)
    # a header written before the fields existed means the old values, at any preset name
    old = {k: v for k, v in paper.items() if k not in KEYED_IF_CHANGED}
    legacy = preset_from(old, "deq")
    assert (legacy.deq_solver, legacy.deq_alpha) == ("anderson", 0.5)
    # without a network, missing fields come from the named preset
    assert preset_from(old).deq_solver == "forward"


def test_a_forward_deq_checkpoint_loads_as_a_forward_deq(tiny_preset, data_dir, tmp_path):
    P = tiny_preset.replace(deq_blocks=1, deq_features=4, deq_solver="forward", deq_alpha=1.0)
    torch.manual_seed(0)
    net = build("deq", P)
    path = zoo.save_checkpoint(net, tmp_path / "deq.pt", "deq", P)
    back = zoo.load_checkpoint(path, "deq", P)
    assert (back.solver, float(back.alpha.detach())) == ("forward", 1.0)
    assert zoo.checkpoint_path("deq", P) != zoo.checkpoint_path(
        "deq", P.replace(deq_solver="anderson", deq_alpha=0.5))
    # the quick-style file (no deq_solver in its header) loads as Anderson with alpha 0.5
    Q = P.replace(deq_solver="anderson", deq_alpha=0.5)
    q = zoo.load_checkpoint(zoo.save_checkpoint(build("deq", Q), tmp_path / "q.pt", "deq", Q))
    assert (q.solver, float(q.alpha.detach())) == ("anderson", 0.5)


def test_one_deviations_table_that_the_readme_and_chapters_link():
    page = (ROOT / "book" / "deviations.md").read_text()
    assert page.startswith("(deviations)=\n# Deviations from the paper")
    assert "| what | the paper" in page
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/deviations" in files
    assert "book/deviations.md" in (ROOT / "README.md").read_text()
    for chapter in ("06_cs_mri", "07_super_resolution"):
        nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
        boxes = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
                 and "```{admonition} Deviations from the paper" in "".join(c["source"])]
        assert len(boxes) == 1 and "{ref}`deviations`" in boxes[0], chapter
