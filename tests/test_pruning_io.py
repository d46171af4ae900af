"""Saving and loading pruned networks (``spadelib.pruning.io``): the round trip is exact, a
fresh process rebuilds the network, and a file that cannot be used is refused by name."""
import subprocess
import sys

import pytest
import torch

from spadelib import checkpoints
from spadelib.checkpoints import CheckpointError
from spadelib.metrics import count_parameters
from spadelib.models import build
from spadelib.pruning import load_pruned, prune, save_pruned
from spadelib.tasks import depends_on, task_of


@torch.no_grad()
def randomised(net):
    """Give zero-initialised parameters (USRNet's output conv) small random values."""
    gen = torch.Generator().manual_seed(2)
    for p in net.parameters():
        if not p.any():
            p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return net


@pytest.fixture(scope="module")
def saved_deq(tmp_path_factory):
    """A quick DEQ pruned at 0.2, saved: (pruned, report, path)."""
    pruned, report = prune(build("deq", "quick"), 0.2)
    path = save_pruned(pruned, tmp_path_factory.mktemp("pruned") / "deq.pt", "deq", "quick",
                       report)
    return pruned, report, path


@pytest.mark.parametrize("name", ["varnet", "usrnet"])
def test_save_and_load_round_trip(name, tmp_path):
    torch.manual_seed(0)
    net = randomised(build(name, "quick")).eval()
    pruned, report = prune(net, 0.2, steps=2)
    path = save_pruned(pruned, tmp_path / "pruned.pt", name, "quick", report)
    loaded = load_pruned(path, name, "quick").eval()
    assert count_parameters(loaded) == report.params_after
    assert loaded.prune_report == report
    m = task_of(name).random_measurement("quick", batch=2)
    with torch.no_grad():
        assert torch.equal(loaded(m), pruned(m))


def test_the_header_says_what_the_file_holds(saved_deq):
    _, report, path = saved_deq
    header = checkpoints.read_header(path)
    assert header["kind"] == "pruned" and header["network"] == "deq"
    assert header["depends_on"] == checkpoints.jsonable(depends_on("deq", "quick"))
    assert header["data_version"] == task_of("deq").data_version()
    assert (header["ratio"], header["params_after"], header["priors"]) == (
        0.2, report.params_after, ["prior"])


def test_a_fresh_process_rebuilds_the_pruned_deq(tmp_path):
    net = build("deq", "quick").eval()
    net.max_iter, net.tol = 4, 1e-30
    pruned, report = prune(net, 0.4)
    save_pruned(pruned, tmp_path / "deq.pt", "deq", "quick", report)
    m = task_of("deq").random_measurement("quick", batch=2)
    with torch.no_grad():
        torch.save({"y": pruned(m)}, tmp_path / "expected.pt")
    code = (
        "import torch, sys\n"
        "from spadelib.pruning import load_pruned\n"
        "from spadelib.tasks import task_of\n"
        f"e = torch.load({str(tmp_path / 'expected.pt')!r})\n"
        f"net = load_pruned({str(tmp_path / 'deq.pt')!r}, 'deq').eval()\n"
        "net.max_iter, net.tol = 4, 1e-30\n"
        "m = task_of('deq').random_measurement('quick', batch=2)\n"
        "with torch.no_grad(): y = net(m)\n"
        "err = float((y - e['y']).norm() / e['y'].norm())\n"
        "print(err)\n"
        "sys.exit(0 if y.shape == e['y'].shape and err <= 1e-6 else 1)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


def test_load_refuses_files_that_do_not_fit(saved_deq, tmp_path):
    pruned, report, path = saved_deq
    with pytest.raises(CheckpointError, match="another setup: .*depends_on.deq_blocks"):
        load_pruned(path, preset="paper")
    with pytest.raises(CheckpointError, match="network: file 'deq' vs wanted 'usrnet'"):
        load_pruned(path, name="usrnet")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"{truncated}.*corrupted or truncated"):
        load_pruned(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save(pruned.state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not a spadelib file"):
        load_pruned(foreign)
    other = checkpoints.write(tmp_path / "other.pt", "finetuned", {"x": 1}, {"network": "deq"})
    with pytest.raises(CheckpointError, match="holds a 'finetuned' file, not a 'pruned' one"):
        load_pruned(other)
    with pytest.raises(FileNotFoundError):
        load_pruned(tmp_path / "missing.pt")


def test_load_detects_a_flipped_byte(saved_deq, tmp_path):
    """One byte flipped in the middle of the file (inside the weights) fails the checksum."""
    _, _, path = saved_deq
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=f"{damaged}.*checksum"):
        load_pruned(damaged)


def test_load_refuses_another_model_or_data_version(saved_deq, tmp_path):
    _, _, path = saved_deq
    header, payload = checkpoints.read(path)
    for field in ("model_version", "data_version"):
        old = tmp_path / f"{field}.pt"
        checkpoints.write(old, "pruned", payload, {**header, field: header[field] - 1})
        with pytest.raises(CheckpointError, match=f"another setup: {field}"):
            load_pruned(old)


def test_save_refuses_what_does_not_belong_together(saved_deq, tmp_path):
    pruned, report, _ = saved_deq
    with pytest.raises(ValueError, match="this is a 'deq' network, not 'usrnet'"):
        save_pruned(pruned, tmp_path / "x.pt", "usrnet", "quick", report)
    _, other = prune(build("deq", "quick"), 0.4)
    with pytest.raises(ValueError, match="pass the report of this pruning"):
        save_pruned(pruned, tmp_path / "x.pt", "deq", "quick", other)
    with pytest.raises(TypeError, match="report must be the PruneReport"):
        save_pruned(pruned, tmp_path / "x.pt", "deq", "quick", report.to_dict())
    assert not (tmp_path / "x.pt").exists()
