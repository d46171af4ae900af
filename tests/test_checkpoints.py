"""One file format for everything spadelib writes: checksummed, atomic, refusing NaN, and one
rule for a file that cannot be used (yours: an error naming it; the cache's: moved aside)."""
import math
import warnings

import pytest
import torch

from spadelib import checkpoints
from spadelib.checkpoints import CheckpointError, cached, config_key, load_cached, read, write


def payload():
    return {"net": {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)},
            "history": {"loss": [0.5, 0.25], "best_epoch": 1}, "epoch": 3,
            "names": ["a", "b"], "ints": torch.arange(4)}


def written(tmp_path, kind="pretrained", header=None):
    path = tmp_path / "net.pt"
    write(path, kind, payload(), header if header is not None else
          {"network": "deq", "depends": {"mri_size": [64, 64], "seed": 0}, "version": 1})
    return path


def same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b) and a.dtype == b.dtype
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# -------------------------------------------------------------------------------- round trip
def test_round_trip_and_header_without_payload(tmp_path):
    path = written(tmp_path)
    header, data = read(path, "pretrained", network="deq", version=1)
    assert same(data, payload())
    assert header == {"kind": "pretrained", "network": "deq", "version": 1,
                      "depends": {"mri_size": [64, 64], "seed": 0}}
    assert checkpoints.read_header(path) == header
    assert path.read_bytes().startswith(b"SPADELIB 1\n")
    assert list(tmp_path.iterdir()) == [path]               # no temporary file left behind


def test_payload_loads_weights_only(tmp_path):
    """A payload that needs code to load (a module, here) is refused by the weights-only
    loader even though its checksum is right."""
    path = tmp_path / "module.pt"
    write(path, "pretrained", {"net": torch.nn.Linear(2, 2)})
    with pytest.raises(CheckpointError, match=r"module\.pt: its payload does not load"):
        read(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read(tmp_path / "nothing.pt")
    assert load_cached(tmp_path / "nothing.pt", "dataset") is None


# ----------------------------------------------------------------------------- damage
def _positions(raw: bytes) -> dict[str, int]:
    first = raw.index(b"\n")
    second = raw.index(b"\n", first + 1)
    third = raw.index(b"\n", second + 1)
    body = len(raw) - (third + 1)
    return {"magic": 2, "version": first - 1, "header": first + 5,
            "header end": second - 2, "checksum": second + 10, "checksum end": third - 1,
            "payload start": third + 1, "payload middle": third + 1 + body // 2,
            "payload end": len(raw) - 1}


@pytest.mark.parametrize("where", ["magic", "version", "header", "header end", "checksum",
                                   "checksum end", "payload start", "payload middle",
                                   "payload end"])
@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_a_flipped_byte_anywhere_is_caught_naming_the_file(tmp_path, where, flip):
    path = written(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[_positions(bytes(raw))[where]] ^= flip
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=str(path)):
        read(path)


@pytest.mark.parametrize("keep", [0, 5, 11, 40, -200, -1])
def test_a_truncated_file_is_caught(tmp_path, keep):
    path = written(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:len(raw) + keep])
    with pytest.raises(CheckpointError, match=str(path)):
        read(path)


def test_a_foreign_file_is_not_a_spadelib_file(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"w": torch.ones(2)}, path)                  # a plain torch file
    with pytest.raises(CheckpointError, match=r"old\.pt is not a spadelib file"):
        read(path)


def test_a_folder_is_refused_naming_it(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    for reader in (read, checkpoints.read_header):
        with pytest.raises(CheckpointError, match=r"weights is a folder .*not a spadelib file"):
            reader(folder)


# ------------------------------------------------------------------------ another setup
def test_wrong_kind(tmp_path):
    path = written(tmp_path, kind="pruned")
    with pytest.raises(CheckpointError, match=r"holds a 'pruned' file, not a 'pretrained' one"):
        read(path, "pretrained")
    with pytest.raises(ValueError, match="unknown checkpoint kind 'weights'"):
        write(tmp_path / "x.pt", "weights", {})


def test_header_mismatch_lists_the_differing_fields(tmp_path):
    path = written(tmp_path)
    with pytest.raises(CheckpointError) as info:
        read(path, "pretrained", network="varnet",
             depends={"mri_size": (256, 256), "seed": 0, "mri_coils": 8}, version=None)
    message = str(info.value)
    assert str(path) in message and "made for another setup" in message
    assert "network: file 'deq' vs wanted 'varnet'" in message
    assert "depends.mri_size: file [64, 64] vs wanted [256, 256]" in message
    assert "depends.mri_coils: file None vs wanted 8" in message
    assert "seed" not in message                      # equal fields are not listed
    read(path, "pretrained", depends={"mri_size": (64, 64), "seed": 0})   # tuples == lists


def test_many_differences_are_counted(tmp_path):
    path = tmp_path / "x.pt"
    write(path, "results", {}, {"cfg": {f"f{i}": i for i in range(7)}})
    with pytest.raises(CheckpointError, match=r"\(and 3 more\)"):
        read(path, cfg={f"f{i}": -1 for i in range(7)})


# ------------------------------------------------------------------- refusals of write
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_nonfinite_tensor_is_never_written(tmp_path, bad):
    path = tmp_path / "net.pt"
    data = payload()
    data["net"]["w"][1, 2] = bad
    with pytest.raises(ValueError, match=r"refusing to write .*net\.pt: tensor 'net\.w'"):
        write(path, "pretrained", data)
    assert list(tmp_path.iterdir()) == []
    data = payload()
    data["history"]["states"] = [torch.zeros(2), torch.tensor([1.0, bad])]
    with pytest.raises(ValueError, match=r"history\.states\[1\]"):
        write(path, "partial", data)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write(tmp_path / "x.pt", "results", {"bad": Unpicklable()})
    assert list(tmp_path.iterdir()) == []
    path = written(tmp_path)                       # a failed write keeps the old file
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        write(path, "pretrained", {"bad": Unpicklable()})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_write_fails_cleanly_when_the_disk_write_fails(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path / "x.pt", "results", {"a": 1})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the package's own cache
def test_load_cached_moves_an_unusable_file_aside(tmp_path):
    path = written(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match=r"net\.pt could not be used .*checksum.*moved it to "
                                         r"net\.pt\.unreadable"):
        assert load_cached(path, "pretrained") is None
    assert not path.exists() and (tmp_path / "net.pt.unreadable").read_bytes() == bytes(raw)


def test_load_cached_moves_a_file_of_another_setup_aside(tmp_path):
    path = written(tmp_path)
    with pytest.warns(UserWarning, match="network: file 'deq' vs wanted 'usrnet'"):
        assert load_cached(path, "pretrained", network="usrnet") is None
    assert (tmp_path / "net.pt.unreadable").exists()
    path = written(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # a usable file: no warning
        header, data = load_cached(path, "pretrained", network="deq")
    assert same(data, payload())


@pytest.mark.determinism
def test_config_key_is_stable_and_sensitive():
    assert config_key({"a": 1, "b": (2, 3)}) == config_key({"b": [2, 3], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert config_key({"a": 0.1 + 0.2}) == config_key({"a": 0.3})     # rounded to 12 digits
    assert len(config_key({})) == 12


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
    path = tmp_path / f"thing-{config_key({'n': 3})}.pt"
    assert checkpoints.read_header(path) == {"kind": "dataset", "config": {"n": 3}}


def test_cached_rebuilds_a_truncated_or_corrupted_file(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.ones(1000)}

    cached("thing", {"n": 1}, build, directory=tmp_path)
    path = next(tmp_path.glob("thing-*.pt"))
    path.write_bytes(path.read_bytes()[:100])                 # an interrupted copy
    with pytest.warns(UserWarning, match="could not be used"):
        out = cached("thing", {"n": 1}, build, directory=tmp_path)
    assert torch.equal(out["x"], torch.ones(1000)) and len(calls) == 2
    raw = bytearray(path.read_bytes())                        # rebuilt, then one flipped byte
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="checksum"):
        out = cached("thing", {"n": 1}, build, directory=tmp_path)
    assert torch.equal(out["x"], torch.ones(1000)) and len(calls) == 3
    assert cached("thing", {"n": 1}, build, directory=tmp_path) is not None and len(calls) == 3


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPADE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert checkpoints.cache_dir() == tmp_path / "elsewhere" and (tmp_path / "elsewhere").is_dir()


def test_digests_follow_the_weights():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    before = checkpoints.state_digest(net)
    assert checkpoints.state_digest(net) == before
    with torch.no_grad():
        net.weight[0, 0] += 1e-6
    assert checkpoints.state_digest(net) != before
