"""What the commands share: exit status and messages, output files that are never overwritten
by accident, ``--long-option`` spellings, and help lines taken from the run configs' field
docstrings (so an option and its config field say the same thing)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path


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


def claim_output(path: str | Path, overwrite: bool, suffix: str | None = None) -> Path:
    """``path`` as an output the command may write: refused (before any work) when it exists and
    ``overwrite`` is off, or when it does not end in ``suffix``."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: this is written as {suffix}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    return path


class _Parser(argparse.ArgumentParser):
    """A parser taking each ``--long_option`` also as ``--long-option`` (both spellings are
    common; the options are declared with underscores)."""

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        fixed = []
        for a in args:
            if a.startswith("--") and len(a) > 2:
                name, eq, value = a[2:].partition("=")
                a = "--" + name.replace("-", "_") + eq + value
            fixed.append(a)
        return super().parse_known_args(fixed, namespace)


class _Help(argparse.HelpFormatter):
    """Help lines with the option's default appended, where it has one worth saying (not None,
    not a flag's False, not already in the line)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default == argparse.SUPPRESS or "default" in text
                or action.option_strings == [] or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: %(default)s)"


def new_parser(doc: str | None, **kwargs) -> argparse.ArgumentParser:
    """A command's parser: the first paragraph of its module docstring as the description, the
    defaults shown after the help lines, ``--long-option`` taken for ``--long_option``."""
    return _Parser(description=(doc or "").split("\n\n")[0].strip(), formatter_class=_Help,
                                   **kwargs)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of the dataclass ``cls`` (and its bases), one line each:
    ``{name: text}``. Read from the source with ``ast``: Python keeps no attribute docstrings."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split()).replace("``", "").replace("%", "%%")
    return docs


def fill_help(parser: argparse.ArgumentParser, *configs: type) -> argparse.ArgumentParser:
    """Give each option of ``parser`` without a help line its run-config field's docstring (the
    first of ``configs`` with a field of that name); returns ``parser``."""
    for action in parser._actions:  # argparse has no public list of its actions
        if not action.help:
            for cls in configs:
                if action.dest in field_docs(cls):
                    action.help = field_docs(cls)[action.dest]
                    break
    return parser


#: Help of every command's ``--person``.
PERSON_HELP = ("whom to follow where several people are in view: largest (default), left, right, or N for the "
               "N-th face from the left")


def person_option(value: str) -> str | int:
    """The argparse ``type`` of ``--person`` (:func:`~aniportrait_hub.tracking.follow.parse_person`)."""
    from aniportrait_hub.tracking.follow import parse_person

    try:
        return parse_person(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
