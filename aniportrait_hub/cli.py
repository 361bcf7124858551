"""Deprecated (kept for one release): the command line moved to :mod:`aniportrait_hub.commands`
(``aniportrait`` itself now runs :func:`aniportrait_hub.commands.main`)."""

from aniportrait_hub.commands import COMMANDS, main  # noqa: F401
from aniportrait_hub.commands.common import (  # noqa: F401
    PERSON_HELP,
    claim_output,
    person_option,
    run_command,
)
