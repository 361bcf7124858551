"""The package's layout holds: no import cycles between its modules (every import statement,
those inside functions included), each folder imports alone in a fresh interpreter, and every
folder says what it holds and what it may import."""

import importlib
import json
import pkgutil
import re
import subprocess
import sys

import grimp
import networkx
import pytest

import aniportrait_hub


@pytest.fixture(scope="module")
def graph():
    """The package's import graph (grimp: every import statement, inside functions too)."""
    return grimp.build_graph("aniportrait_hub")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (grimp gives the graph,
    networkx its components)."""
    g = networkx.DiGraph([(a, b) for a, bs in edges.items() for b in bs])
    return sorted(sorted(c) for c in networkx.strongly_connected_components(g) if len(c) > 1)


def _folders() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(aniportrait_hub.__path__, "aniportrait_hub.") if m.ispkg)


def test_the_package_has_no_import_cycle(graph):
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # the package's own __init__ re-exports the public classes (diffusers resolves them there);
    # a module importing ``aniportrait_hub`` itself is the one thing that would close a loop through it
    cycles = _cycles(edges)
    assert not cycles, "import cycles (a module reaches itself through these):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_each_folder_imports_alone_in_a_fresh_interpreter():
    """``import aniportrait_hub.X`` in a fresh interpreter for each folder X that the package's
    own ``__init__`` does not already import (for those, a fresh import is ``import
    aniportrait_hub`` itself, the first run here)."""
    loaded = "import aniportrait_hub, json, sys; print(json.dumps(sorted(sys.modules)))"
    first = subprocess.run([sys.executable, "-c", loaded], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, f"import aniportrait_hub failed:\n{first.stderr[-1500:]}"
    already = set(json.loads(first.stdout.strip().splitlines()[-1]))
    runs = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for name in _folders() if name not in already}
    for name, run in runs.items():
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, f"import {name} alone failed:\n{err[-1500:]}"


def _may_import(doc: str) -> set[str] | None:
    """The folders a folder's docstring allows it to import: the ``names`` of its "May import:"
    paragraph before any "never" (None: "anything")."""
    text = doc.split("May import:", 1)[1].split("\n\n")[0]
    text = text.split("never")[0].split("Nothing imports")[0]
    if "anything" in text:
        return None
    return set(re.findall(r"``(\w+)``", text))


def test_every_folder_says_what_it_holds_and_imports_only_that(graph):
    folders = {n.split(".")[1] for n in _folders()}
    for name in _folders():
        doc = importlib.import_module(name).__doc__ or ""
        assert len(doc.split()) >= 8, f"{name}/__init__.py needs a docstring: what the folder holds"
        assert "May import:" in doc, f"{name}/__init__.py: say what the folder may import (May import: ...)"
        allowed = _may_import(doc)
        if allowed is None:
            continue
        here = name.split(".")[1]
        imported = {d for m in {name, *graph.find_descendants(name)}
                    for d in graph.find_modules_directly_imported_by(m)}
        used = {d.split(".")[1] for d in imported if d.count(".") >= 1 and d.split(".")[1] in folders - {here}}
        assert used <= allowed, f"{name} imports {sorted(used - allowed)}, which its docstring does not allow"


def test_no_room_is_too_large():
    """No file of the package over 500 lines, no function over 120, unless a comment right above
    it says why ("Longer than 120 lines ...")."""
    import ast
    from pathlib import Path

    root = Path(aniportrait_hub.__file__).parent
    long_files, long_functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        if len(lines) > 500:
            long_files.append(f"{path.relative_to(root)} ({len(lines)})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 120:
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                above = "\n".join(lines[max(first - 8, 0):first - 1])
                if "Longer than 120 lines" not in above:
                    long_functions.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    assert not long_files, f"files over 500 lines: {long_files}"
    assert not long_functions, f"functions over 120 lines without a comment saying why: {long_functions}"
