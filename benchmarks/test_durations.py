"""How long the test suite takes, test by test (issue: the test suite under 30 minutes).

    python benchmarks/test_durations.py --out benchmarks/results/test_durations.json [-- PYTEST ARGS]
    python benchmarks/test_durations.py --from-log pytest.log --out ...   # a `pytest --durations=0` log
    python benchmarks/test_durations.py --from-junit junit.xml --wall S --out ...   # e.g. of a CI run
                                        # (PYTEST_ADDOPTS="--junitxml=junit.xml -o junit_duration_report=total")

Runs pytest (``-p no:cacheprovider``, so an earlier run's order or cache does not help it) with a
JUnit XML report, and writes JSON: the wall-clock seconds of the whole run, pytest's own figure,
the machine's cores and load average before the run, the pytest arguments, the outcome counts and
every test's seconds (setup + call + teardown; a module- or session-scoped fixture is charged to
the first test that asks for it). BENCHMARKS.md's table of the slowest tests is read from this.
The JUnit report is pytest's own (``--junitxml``); it is parsed with the standard library.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import save_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _from_junit(path: Path) -> tuple[dict[str, float], dict[str, int]]:
    tests, counts = {}, defaultdict(int)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = f"{module}.py::{case.get('name')}"
        tests[name] = round(float(case.get("time", 0)), 2)
        kinds = {child.tag for child in case}
        counts["failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"] += 1
    return tests, dict(counts)


def _from_log(path: Path) -> tuple[dict[str, float], dict[str, int], float | None]:
    """Per-test seconds (setup + call + teardown) from a ``pytest --durations=0`` log."""
    tests: dict[str, float] = defaultdict(float)
    text = path.read_text()
    for m in re.finditer(r"^([0-9.]+)s (?:setup|call|teardown)\s+(tests/.+)$", text, re.M):
        tests[m.group(2)] += float(m.group(1))
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed).*) in ([0-9.]+)s", text, re.M)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary[-1][0])} if summary else {}
    return {k: round(v, 2) for k, v in tests.items()}, counts, float(summary[-1][1]) if summary else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the JSON to write")
    p.add_argument("--from-log", type=Path, help="read a `pytest --durations=0` log instead of running pytest")
    p.add_argument("--from-junit", type=Path, help="read a pytest JUnit XML report instead of running pytest")
    p.add_argument("--wall", type=float, help="with --from-log / --from-junit: the run's wall-clock seconds")
    p.add_argument("--label", default="", help="what this run is (written into the JSON)")
    p.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    if args.from_log:
        tests, counts, pytest_s = _from_log(args.from_log)
        wall = args.wall
    elif args.from_junit:
        tests, counts = _from_junit(args.from_junit)
        suite = next(ET.parse(args.from_junit).getroot().iter("testsuite"))
        pytest_s, wall = round(float(suite.get("time", 0)), 1), args.wall
    else:
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "junit.xml"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                   "-o", "junit_duration_report=total", *args.pytest_args]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            wall = round(time.perf_counter() - t0, 1)
            print(r.stdout[-3000:], r.stderr[-2000:], sep="\n")
            if not xml.is_file():
                print("error: pytest wrote no report", file=sys.stderr)
                return 2
            tests, counts = _from_junit(xml)
            took = re.search(r" in ([0-9.]+)s", r.stdout.splitlines()[-1] if r.stdout.strip() else "")
            pytest_s = float(took.group(1)) if took else None
    ranked = dict(sorted(tests.items(), key=lambda kv: -kv[1]))
    save_results(args.out, {"label": args.label, "wall_seconds": wall, "pytest_seconds": pytest_s,
                            "cpu_count": os.cpu_count(), "load_average_before": round(load, 2),
                            "pytest_args": args.pytest_args, "counts": counts, "tests_seconds": round(sum(tests.values()), 1),
                            "tests": ranked})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
