"""Presets are read in one place; the cache is keyed, atomic and survives bad files."""
import pytest
import torch

from spadelib.cache import atomic_save, cached, config_key
from spadelib.presets import PRESETS, get_preset


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


def test_config_key_is_stable_and_sensitive():
    assert config_key({"a": 1, "b": (2, 3)}) == config_key({"b": [2, 3], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_cached_builds_once(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(3)}

    a = cached("thing", {"n": 3}, build, directory=tmp_path)
    b = cached("thing", {"n": 3}, build, directory=tmp_path)
    assert len(calls) == 1 and torch.equal(a["x"], b["x"])
    cached("thing", {"n": 4}, build, directory=tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("thing-*.pt"))) == 2


def test_truncated_file_is_rebuilt_not_loaded(tmp_path):
    build = lambda: {"x": torch.ones(1000)}  # noqa: E731
    cached("thing", {"n": 1}, build, directory=tmp_path)
    path = next(tmp_path.glob("thing-*.pt"))
    path.write_bytes(path.read_bytes()[:100])                 # an interrupted copy
    with pytest.warns(UserWarning, match="could not be read"):
        out = cached("thing", {"n": 1}, build, directory=tmp_path)
    assert torch.equal(out["x"], torch.ones(1000))


def test_atomic_save_leaves_nothing_on_failure(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"bad": Unpicklable()}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []
