"""Deprecated path of ``aniportrait animate`` (kept for one release): the command now lives
in :mod:`aniportrait_hub.commands.animate` (``python -m aniportrait_hub.commands.animate``)."""

from aniportrait_hub.commands.animate import *  # noqa: F403  (the old names, for one release)

if __name__ == "__main__":
    from aniportrait_hub.commands import deprecated

    raise SystemExit(deprecated("aniportrait_hub.animate", "animate"))
