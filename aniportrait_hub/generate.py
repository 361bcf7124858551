"""Deprecated path of ``aniportrait generate`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.generate` (``python -m aniportrait_hub.commands.generate``)."""

from aniportrait_hub.commands.generate import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.generate", "generate"))
