"""Deprecated path of ``aniportrait drive`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.drive` (``python -m aniportrait_hub.commands.drive``)."""

from aniportrait_hub.commands.drive import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.drive", "drive"))
