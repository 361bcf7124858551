"""``aniportrait learn-edits``: the command line of :mod:`aniportrait_hub.inversion.edits`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import aniportrait_hub.inversion.edits as _library
from aniportrait_hub.commands.common import new_parser
from aniportrait_hub.inversion.edits import learn_appearance_directions, learn_body_directions, teacher_effects


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    ap = new_parser(_library.__doc__)
    ap.add_argument("--model", default="aniportrait_hub/pretrained/default", help="a pipeline folder")
    ap.add_argument("--write", action="store_true", help="store the directions in the folder's model_index.json")
    ap.add_argument("--body_samples", type=int, default=600,
                   help='body shapes sampled to fit the body-attribute directions')
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    directions = {**learn_appearance_directions(), **learn_body_directions(a.body_samples)}
    directions["_effects"] = teacher_effects(directions)
    print(json.dumps({k: v for k, v in directions.items() if k != "_body_readout"}, indent=1)[:4000])
    if a.write:
        index = Path(a.model) / "model_index.json"
        cfg = json.loads(index.read_text())
        cfg["edit_directions"] = directions
        index.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        print(f"wrote the directions into {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
