"""Benchmark: synthetic samples per second (issue: datasets).

``python benchmarks/synthesize.py [--n 40]`` builds n samples at 128 and at 256 px with 2
worker processes (the machine's cores) into temporary folders; the time includes writing the
PNG / NPY files and starting the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from aniportrait_hub.data.synthesize import SynthConfig, build


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthesize.json")
    args = p.parse_args()
    res = {"n": args.n, "workers": 2, "cpu_count": os.cpu_count(), "samples_per_s": {}}
    for size in (128, 256):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            build(SynthConfig(out=Path(tmp) / "ds", n=args.n, res=size, workers=2))
            res["samples_per_s"][str(size)] = args.n / (time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
