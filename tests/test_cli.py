"""One command line: ``aniportrait COMMAND`` lists and runs every command of the package, the
same as its ``python -m`` form."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio

from aniportrait_hub.cli import COMMANDS, main


def test_every_command_is_listed_and_has_a_main(capsys):
    import importlib

    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    for name, (module, _) in COMMANDS.items():
        assert name in listing
        assert callable(importlib.import_module(module).main), module
    assert {"generate", "drive", "animate", "track", "prepare", "synthesize", "evaluate"} <= set(COMMANDS)


def test_a_subcommand_runs_and_an_unknown_one_is_refused(tmp_path, capsys):
    assert main(["generate", "--model", "preset:small", "--seeds", "0", "--outdir", str(tmp_path),
                 "--resolution", "64"]) == 0
    assert iio.imread(tmp_path / "seed0000.png").shape == (64, 64, 3)
    assert main(["paint"]) == 2
    assert "unknown command 'paint'" in capsys.readouterr().err


def test_console_script_and_python_m_forms():
    script = Path(sys.executable).parent / "aniportrait"  # installed by `pip install -e .` (make install)
    assert script.exists(), "the aniportrait console script is not installed (pip install -e .)"
    for cmd in ([str(script), "track", "--help"], [sys.executable, "-m", "aniportrait_hub", "track", "--help"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "usage: aniportrait track" in out.stdout, out.stderr[-500:]
