"""Does the watermark survive what happens to pictures on the way (aniportrait_hub.provenance)?

    python benchmarks/watermark.py [--n 8] [--out benchmarks/results/watermark.json]

Renders ``n`` people of the default model at 256^2 and 512^2, marks them, and reads the mark
back as written, after JPEG quality 75, after a 0.5x resize (read by the detector, which rescales
to 256 / 512), and after both; also how many unmarked renders read as marked, the PSNR of the
marked picture against the unmarked one, and seconds per mark and per read.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import save_results  # noqa: E402


def jpeg(x: np.ndarray, quality: int = 75) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def half(x: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(x).resize((x.shape[1] // 2, x.shape[0] // 2), Image.BILINEAR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--out", default="benchmarks/results/watermark.json")
    a = ap.parse_args(argv)
    from aniportrait_hub.provenance import HEADROOM, MARK, METHOD, has_mark, mark_image
    from aniportrait_hub.studio import Studio, StudioConfig

    studio = Studio(StudioConfig())
    report = {"mark": MARK.decode(), "method": METHOD, "headroom": HEADROOM, "people": a.n, "sides": {}}
    for high in (False, True):
        imgs = [studio.generate(seed=100 + k, high_res=high)[0] for k in range(a.n)]
        t = time.perf_counter()
        marked = [mark_image(x) for x in imgs]
        t_mark = (time.perf_counter() - t) / a.n
        t = time.perf_counter()
        clean = sum(has_mark(x) for x in marked)
        t_read = (time.perf_counter() - t) / a.n
        side = imgs[0].shape[0]
        report["sides"][side] = {
            "recovered": {"as written": clean, "jpeg 75": sum(has_mark(jpeg(x)) for x in marked),
                          "0.5x resize": sum(has_mark(half(x)) for x in marked),
                          "jpeg 75 then 0.5x": sum(has_mark(half(jpeg(x))) for x in marked)},
            "false_positives_of_unmarked": sum(has_mark(x) for x in imgs),
            "psnr_marked_vs_unmarked_db": round(float(np.mean([10 * np.log10(255**2 / np.mean(
                (m.astype(float) - x) ** 2)) for m, x in zip(marked, imgs)])), 1),
            "seconds_mark": round(t_mark, 4), "seconds_read": round(t_read, 4)}
    print(json.dumps(report, indent=1))
    save_results(a.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
