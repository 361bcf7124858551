"""The phases in order, each checkpointed (a killed run resumes at the phase it was in), and the
command line (``python -m train.teacher``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.commands.common import fill_help
from aniportrait_hub.conditioning.priors import LabelPriors
from aniportrait_hub.data.appearance_code import CODE_DIM
from aniportrait_hub.models.presets import preset
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from train.teacher.config import PHASES, TeacherConfig
from train.teacher.data import build_data
from train.teacher.export import label_priors
from train.teacher.expression import renewed_expression, train_expression
from train.teacher.manifold import train_manifold
from train.teacher.radiance import train_radiance
from train.teacher.superres import train_superres


class Run:
    """Phase bookkeeping: ``state.json`` names the phases done; ``stage/`` holds the pipeline
    after the last finished phase (replaced atomically)."""

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.state_path = cfg.out / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"done": [],
                                                                                                "report": {}}
        self.log_file = (cfg.out / "log.jsonl").open("a")

    def log(self, row: dict) -> None:
        self.log_file.write(json.dumps(row) + "\n")
        self.log_file.flush()

    def finish(self, phase: str, pipe: AniPortraitGAN | None, report: dict) -> None:
        import shutil

        if pipe is not None:
            tmp = self.cfg.out / "stage.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            pipe.save_pretrained(tmp)
            old = self.cfg.out / "stage"
            if old.exists():
                shutil.rmtree(old)
            tmp.rename(old)
        self.state["done"].append(phase)
        self.state["report"][phase] = report
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)
        print(f"phase {phase}: {json.dumps(report)}", flush=True)


def run(cfg: TeacherConfig, phases: tuple[str, ...] = PHASES) -> Path:
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    r = Run(cfg)
    (cfg.out / "config.json").write_text(json.dumps({k: str(v) for k, v in dataclasses.asdict(cfg).items()},
                                                    indent=1))
    done = r.state["done"]
    stage = cfg.out / "stage"
    if stage.exists():
        pipe = AniPortraitGAN.from_pretrained(stage)
    else:
        # eps is exactly the appearance code (no free dimensions for phi to learn to ignore).
        from aniportrait_hub.body.face_model import FaceModel

        fm = FaceModel.from_open_default()
        priors = LabelPriors(num_rows=1, id_dim=fm.num_identity, exp_dim=fm.num_expression, noise_dim=CODE_DIM,
                             source="synthetic")
        pipe = AniPortraitGAN.from_preset(cfg.preset, seed=cfg.seed, priors=priors)
    if cfg.add_plane and pipe.radiance.plane is None:
        rp = preset(cfg.preset)["radiance"]
        if not rp.get("plane_resolution"):
            raise ValueError(f"add_plane: preset {cfg.preset!r} has no feature plane")
        st = pipe.render_settings
        pipe.register_modules(radiance=pipe.radiance.with_plane(rp["plane_resolution"], rp["plane_channels"],
                                                                (*st.map_x_range, *st.map_y_range)))
        pipe.reset_runtime()
    pipe = pipe.to(cfg.device)
    data = None
    if "data" in phases and "data" not in done:
        t = time.time()
        data = build_data(cfg, pipe.render_settings.map_resolution)
        r.finish("data", None, {"identities": len(data["index"]), "seconds": time.time() - t})
    if data is None and (cfg.out / "data.npz").exists():
        data = dict(np.load(cfg.out / "data.npz"))
    for phase, fn in (("manifold", lambda: train_manifold(pipe, data, cfg, r.log)),
                      ("radiance", lambda: train_radiance(pipe, data, cfg, r.log)),
                      ("face", lambda: train_radiance(pipe, data, cfg, r.log, "face")),
                      ("expression", lambda: train_expression(renewed_expression(pipe, cfg), cfg, r.log)),
                      ("superres", lambda: train_superres(pipe, data, cfg, r.log))):
        if phase in phases and phase not in done:
            if data is None and phase != "expression":  # D^e is taught from the face model alone
                raise FileNotFoundError(f"{cfg.out / 'data.npz'} missing: run the data phase first")
            t = time.time()
            rep = fn()
            rep["wall_seconds"] = time.time() - t
            pipe.reset_runtime()
            r.finish(phase, pipe, rep)
    if "export" in phases and "export" not in done:
        pipe.register_modules(priors=label_priors(pipe, cfg))
        pipe.reset_runtime()
        out = cfg.out / "pipeline"
        pipe.save_pretrained(out)
        r.finish("export", None, {"pipeline": str(out)})
    return cfg.out / "pipeline"


def parse_args(argv: list[str] | None = None) -> tuple[TeacherConfig, tuple[str, ...]]:
    import train.teacher as package

    p = argparse.ArgumentParser(prog="python -m train.teacher", description=package.__doc__.split("\n\n")[0])
    for f in dataclasses.fields(TeacherConfig):
        default = f.default
        if isinstance(default, tuple):
            def typ(text, n=len(default)):
                vals = tuple(float(x) for x in text.split(","))
                if len(vals) != n:
                    raise argparse.ArgumentTypeError(f"needs {n} comma-separated numbers, got {text!r}")
                return vals
        elif isinstance(default, bool):
            def typ(text):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise argparse.ArgumentTypeError(f"needs true or false, got {text!r}")
                return text.lower() in ("true", "1")
        else:
            typ = type(default) if not isinstance(default, Path) else Path
        p.add_argument(f"--{f.name}", type=typ, default=default)
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    fill_help(p, TeacherConfig)
    a = vars(p.parse_args(argv))
    phases = tuple(x for x in a.pop("phases").split(",") if x)
    bad = set(phases) - set(PHASES)
    if bad:
        p.error(f"unknown phases {sorted(bad)}; known: {PHASES}")
    return TeacherConfig(**a), phases


def main(argv: list[str] | None = None) -> int:
    cfg, phases = parse_args(argv)
    try:
        run(cfg, phases)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
