"""Deprecated path of ``aniportrait track`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.track` (``python -m aniportrait_hub.commands.track``)."""

from aniportrait_hub.commands.track import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.track", "track"))
