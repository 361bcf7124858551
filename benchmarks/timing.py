"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeats: int, reduce: str = "median") -> float:
    """Seconds per call of ``fn`` after one warm-up call: the median or the minimum of
    ``repeats`` runs."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) if reduce == "median" else min(times)


def save_results(path, data: dict) -> None:
    """Write a benchmark's results as indented JSON at ``path`` (folders made) and say so."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    print(f"wrote {path}")
