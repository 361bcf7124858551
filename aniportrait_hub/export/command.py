"""Deprecated path of ``aniportrait export`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.export` (``python -m aniportrait_hub.commands.export``)."""

from aniportrait_hub.commands.export import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.export.command", "export"))
