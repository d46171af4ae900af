"""The spade command: pre-emption (SIGTERM), the checks of its options and the commands that
its error messages give."""
import os
import signal
import time

import pytest

import spadelib.cli as cli
from spadelib import get_preset, zoo
from spadelib.experiments import Cell, ResultStore
from spadelib.presets import NeedsCLIError


def test_sigterm_stops_like_ctrl_c_and_restores_the_handler(monkeypatch, capsys):
    def preempted(args):                 # a scheduler pre-empts the job in the middle of a run
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    monkeypatch.setattr(cli, "_cmd_status", preempted)
    before = signal.getsignal(signal.SIGTERM)
    start = time.perf_counter()
    assert cli.main(["status"]) == 130
    assert time.perf_counter() - start < 4            # stopped at once, not after the sleep
    assert "run the same command again to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


class _Stop(Exception):
    pass


def _no_training(monkeypatch):
    """zoo.pretrained records the preset it was asked for and stops there."""
    seen = []

    def pretrained(name, P, **kwargs):
        seen.append(P)
        raise _Stop

    monkeypatch.setattr(zoo, "pretrained", pretrained)
    return seen


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_pretrain_refuses_a_bad_number_of_devices(value, monkeypatch, capsys):
    _no_training(monkeypatch)
    with pytest.raises(SystemExit) as exc:
        cli.main(["pretrain", "deq", "--devices", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--devices" in err and "1 or more" in err


def test_pretrain_takes_a_setting_and_refuses_a_bad_one(monkeypatch, capsys):
    seen = _no_training(monkeypatch)
    with pytest.raises(_Stop):
        cli.main(["pretrain", "usrnet", "--setting", "3"])
    with pytest.raises(_Stop):
        cli.main(["pretrain", "deq", "--setting", "0.125", "--preset", "paper"])
    assert seen[0].sr_scale == 3 and seen[1].mri_rate == 0.125 and seen[1].name == "paper"
    assert cli.main(["pretrain", "deq", "--setting", "0.3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0.167, 0.125, 0.1" in err[0] and "0.3" in err[0]


def test_the_paper_presets_refusal_gives_the_command_of_that_network(data_dir):
    """Each sampling rate and scale has its own pre-trained network: the command in the
    refusal must make the one that is missing, and the CLI must accept it."""
    paper = get_preset("paper")
    for name, P, setting in (("varnet", paper, None),
                             ("varnet", paper.replace(mri_rate=0.125), 0.125),
                             ("usrnet", paper.replace(sr_scale=2), 2)):
        with pytest.raises(NeedsCLIError) as exc:
            zoo.pretrained(name, P)
        command = next(line.strip() for line in str(exc.value).splitlines()
                       if line.strip().startswith("spade "))
        args = cli.parser().parse_args(command.split()[1:])
        assert (args.network, args.preset, args.setting) == (name, "paper", setting)


def test_spade_table_prints_the_chapters_layout_and_the_command_that_fills_it(data_dir, capsys):
    """`spade table N` prints layout_frame (the chapters' tables): the paper's headers, our row
    above the paper's, and under the table, once, the commands that fill what is missing;
    csv keeps stdout a table and says the commands on stderr."""
    store = ResultStore.for_preset("quick")
    cell = Cell("usrnet", 4, 0.0, "none")
    store.add({"key": cell.key, "cell": cell.as_dict(), "status": "ok", "psnr": 27.0,
               "ssim": 0.7, "time_ms": 30.0, "params": 5000})
    assert cli.main(["table", "6", "--preset", "quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Table 6: USRNet, school fine-tuning, ×4")
    lines = out.split("\n\n")[1].splitlines()
    assert lines[0].split() == ["Scale", "Pruning", "Ratio", "PSNR", "(dB)", "SSIM", "(%)",
                                "Time", "(ms)", "Speed", "Up", "#", "Params"]
    assert lines[3].split() == ["×4", "0", "%", "ours", "27.00", "100.0", "%", "70.0", "100.0",
                                "%", "30.0", "×1.00", "5,000"]
    assert lines[4].split()[:2] == ["paper", "25.90"]
    assert out.count("spade run table6 --preset quick") == 1
    assert out.count("spade run table6 --preset paper") == 1
    assert cli.main(["table", "6", "--preset", "quick", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Scale,Pruning Ratio,Row,PSNR (dB) School,")
    assert "spade run table6 --preset quick" in captured.err
    with pytest.raises(SystemExit):
        cli.main(["table", "7"])
