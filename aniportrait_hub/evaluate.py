"""Deprecated path of ``aniportrait evaluate`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.evaluate` (``python -m aniportrait_hub.commands.evaluate``)."""

from aniportrait_hub.commands.evaluate import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.evaluate", "evaluate"))
