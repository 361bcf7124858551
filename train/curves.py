"""Training curves of a run as a picture: ``python train/curves.py RUN`` -> ``RUN/curves.png``.

Panels: discriminator terms (logistic loss per discriminator), generator terms, R1 (raw
gradient norms), regularisers, mean logits on reals / fakes, gradient norms, images/s; read from
the run's tensorboard log (matplotlib, installed with mediapipe).
"""

from __future__ import annotations

import sys
from pathlib import Path

PANELS = (
    ("discriminator losses (weighted)", ("D/whole", "D/face", "D/torso")),
    ("generator losses (weighted)", ("G/whole", "G/face", "G/torso")),
    ("D logits: real (solid) / fake (dashed)", ("D/whole_real", "D/face_real", "D/torso_real",
                                                "D/whole_fake", "D/face_fake", "D/torso_fake")),
    ("R1, raw E|grad D|^2", ("R1/whole_raw", "R1/face_raw", "R1/torso_raw")),
    ("regularisers (weighted)", ("reg/imitation", "reg/pose_smoothness", "reg/expression_smoothness",
                                 "reg/minimal_deformation", "reg/landmark")),
    ("gradient norms", ("grad_norm/G", "grad_norm/D")),
)


def read_scalars(run: Path) -> dict[str, tuple[list[int], list[float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, tuple[list[int], list[float]]] = {}
    for ev in sorted(run.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(ev), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            steps, vals = out.setdefault(tag, ([], []))
            for e in acc.Scalars(tag):
                steps.append(e.step)
                vals.append(e.value)
    return out


def plot(run: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    data = read_scalars(run / "logs")
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (title, tags) in zip(axes.flat, PANELS):
        for tag in tags:
            if tag in data:
                steps, vals = data[tag]
                order = sorted(range(len(steps)), key=steps.__getitem__)
                ax.plot([steps[i] for i in order], [vals[i] for i in order], label=tag,
                        linestyle="--" if tag.endswith("_fake") else "-", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    if "images_per_s" in data:
        steps, vals = data["images_per_s"]
        vals = sorted(vals)
        fig.suptitle(f"{run.name}: median {vals[len(vals) // 2]:.2f} images/s")
    fig.tight_layout()
    path = run / "curves.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(plot(sys.argv[1]))
