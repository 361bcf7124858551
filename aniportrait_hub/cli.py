"""Shared exit-status convention of the command-line tools."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def run_command(action: Callable[[], str], errors: tuple[type[BaseException], ...]) -> int:
    """Run ``action``; print its message and return 0, or print ``error: ...`` for the expected
    ``errors`` (bad input the user can fix) and return 2."""
    try:
        message = action()
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(message)
    return 0


def claim_output(path: str | Path, overwrite: bool, suffix: str | None = None) -> Path:
    """``path`` as an output the command may write: refused (before any work) when it exists and
    ``overwrite`` is off, or when it does not end in ``suffix``."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: this is written as {suffix}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    return path


def parse_args(parser, argv: list[str] | None = None):
    """``parser.parse_args`` taking each ``--long_option`` also as ``--long-option`` (both
    spellings are common; the options are declared with underscores)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    fixed = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            a = "--" + name.replace("-", "_") + eq + value
        fixed.append(a)
    return parser.parse_args(fixed)
