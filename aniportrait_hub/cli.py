"""Shared exit-status convention of the command-line tools."""

from __future__ import annotations

import sys
from collections.abc import Callable


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
