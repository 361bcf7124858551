"""One command line: ``aniportrait COMMAND`` lists and runs every command of the package, the
same as its ``python -m`` form."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio

from aniportrait_hub.commands import COMMANDS, main


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


def test_every_command_has_help_for_every_option(capsys):
    """``aniportrait NAME --help`` runs for every command and lists each of its options with a
    help line (an option added without one fails here)."""
    import argparse
    import importlib

    import pytest

    for name, (module, _) in COMMANDS.items():
        parser = importlib.import_module(module).parser()
        bare = [a.option_strings or [a.dest] for a in parser._actions  # argparse keeps no public list
                if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
        assert not bare, f"aniportrait {name}: options without a help line: {bare}"
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: aniportrait {name}"), text[:200]
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in text, (name, flag)


def test_old_command_paths_still_run_and_say_where_they_went():
    """``python -m aniportrait_hub.generate`` (and the other paths before ``commands/``) keep
    working for one release, with a deprecation message naming the new command."""
    for old, name in (("aniportrait_hub.generate", "generate"), ("aniportrait_hub.data.prepare", "prepare")):
        out = subprocess.run([sys.executable, "-m", old, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-500:]
        assert f"usage: aniportrait {name}" in out.stdout
        assert f"`python -m {old}` is deprecated" in out.stderr and f"aniportrait {name}" in out.stderr


def test_every_command_takes_both_option_spellings():
    """Each command's parser comes from ``new_parser``, which takes ``--long-option`` for
    ``--long_option``."""
    import importlib

    from aniportrait_hub.commands.common import new_parser

    p = new_parser("")
    p.add_argument("--side_by_side", action="store_true")
    p.add_argument("--max_seconds", type=float, default=60.0)
    a = p.parse_args(["--side-by-side", "--max-seconds=5"])
    assert a.side_by_side and a.max_seconds == 5.0
    for name, (module, _) in COMMANDS.items():
        assert type(importlib.import_module(module).parser()) is type(p), name
