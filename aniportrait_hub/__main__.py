"""``python -m aniportrait_hub COMMAND ...``: the same as the ``aniportrait`` command."""

from aniportrait_hub.commands import main

raise SystemExit(main())
