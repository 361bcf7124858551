"""``python -m aniportrait_hub COMMAND ...``: the same as the ``aniportrait`` command."""

from aniportrait_hub.cli import main

raise SystemExit(main())
