"""Pictures of the teacher recipe's phases (issue: the embedded default model).

    python train/teacher_figures.py --run runs/teacher --out docs

- ``teacher_manifolds.png``: a vertical section (x = 0) and a horizontal one (eye height) of
  canonical space: the 24 manifolds of M over the taught people's canonical front surfaces;
- ``teacher_curves.png``: the losses of every phase from ``log.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def manifold_sections(pipe, data: dict, path: Path, people: int = 24) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = pipe.render_settings
    r = data["z_lr"].shape[-1]
    ys = np.linspace(*st.map_y_range, r)
    xs = np.linspace(*st.map_x_range, r)
    zs = torch.linspace(st.bake_z_range[0], st.bake_z_range[1], 400)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    levels = pipe.manifold.levels.numpy()
    for ax, (name, coords, fixed) in zip(axes, (("vertical section x = 0", ys, "x"), ("horizontal section y = 0.03", xs, "y"))):
        with torch.no_grad():
            if fixed == "x":
                pts = torch.stack(torch.meshgrid(torch.zeros(1), torch.tensor(ys, dtype=torch.float32), zs,
                                                 indexing="ij"), -1)[0]  # [Y, Z, 3]
            else:
                pts = torch.stack(torch.meshgrid(torch.tensor(xs, dtype=torch.float32), torch.full((1,), 0.03), zs,
                                                 indexing="ij"), -1)[:, 0]
            s = pipe.manifold(pts.reshape(-1, 3)).reshape(len(coords), len(zs)).numpy()
        ax.contour(coords, zs.numpy(), s.T, levels=sorted(levels), colors="tab:blue", linewidths=0.6)
        mid = r // 2 if fixed == "x" else int(round((0.03 - st.map_y_range[0]) / (st.map_y_range[1] - st.map_y_range[0]) * (r - 1)))
        for k in range(min(people, data["z_lr"].shape[0])):
            zf = np.nanmax(data["z_lr"][k].astype(np.float32), 0)
            line = zf[:, mid] if fixed == "x" else zf[mid, :]
            ax.plot(coords, line, color="tab:red", alpha=0.35, linewidth=0.8)
        ax.set_title(f"{name}: manifolds (blue) and {people} people's surfaces (red)")
        ax.set_xlabel("y" if fixed == "x" else "x")
        ax.set_ylabel("z (towards the camera)")
        ax.set_ylim(-0.25, 0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves(log_path: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    panels = {"manifold": ["l1_s"], "radiance": ["bce", "rgb_l1", "alpha_l1"], "face": ["bce", "rgb_l1", "alpha_l1"],
              "expression": ["imitation_mm"], "superres": ["rgb_l1", "base_rgb_l1", "alpha_l1"]}
    fig, axes = plt.subplots(1, 5, figsize=(22, 4))
    def last_attempt(phase):
        rs = [r for r in rows if r.get("phase") == phase and any(k in r for k in sum(panels.values(), []))]
        starts = [i for i, r in enumerate(rs) if r["step"] == 0]
        return rs[starts[-1]:] if starts else rs  # a re-run phase: its last attempt

    for ax, (phase, keys) in zip(axes, panels.items()):
        # A merged run's continuations of a phase ("face_2", ...) follow it on one axis.
        names = list(dict.fromkeys(r.get("phase") for r in rows
                                   if r.get("phase") == phase or str(r.get("phase")).startswith(phase + "_")))
        rs, offset = [], 0
        for n in names:
            seg = last_attempt(n)
            if rs and seg:
                ax.axvline(offset, color="grey", linewidth=0.6)
                ax.text(offset, 1, f" {n}", transform=ax.get_xaxis_transform(), va="top", fontsize=7)
            rs += [dict(r, step=r["step"] + offset) for r in seg]
            offset = rs[-1]["step"] + 1 if rs else 0
        for k in keys:
            if rs and k in rs[0]:
                ax.plot([r["step"] for r in rs], [r[k] for r in rs], label=k)
        ax.set_title(phase if len(names) < 2 else f"{phase} + continuations")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.pipelines.pipeline import AniPortraitGAN

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--model", type=Path, default=None, help="pipeline folder (default: RUN/stage)")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    pipe = AniPortraitGAN.from_pretrained(a.model or a.run / "stage")
    data = dict(np.load(a.run / "data.npz"))
    manifold_sections(pipe, data, a.out / "teacher_manifolds.png")
    curves(a.run / "log.jsonl", a.out / "teacher_curves.png")
    print(f"wrote {a.out / 'teacher_manifolds.png'}, {a.out / 'teacher_curves.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
