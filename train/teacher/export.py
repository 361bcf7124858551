"""Phase 5 (``export``): the label priors of the exported pipeline."""

from __future__ import annotations

import numpy as np
import torch

from aniportrait_hub.conditioning.priors import LabelPriors
from aniportrait_hub.data.synthesize import SynthConfig, sample_labels
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from train.teacher.config import TeacherConfig


def label_priors(pipe: AniPortraitGAN, cfg: TeacherConfig) -> LabelPriors:
    """Label rows drawn from the synthesizer's label distribution (what the taught people were
    posed with), as the pipeline's priors."""
    fm = pipe.face_model()
    rng = np.random.default_rng([cfg.seed, 5])
    labs = [sample_labels(rng, SynthConfig(), fm.exp_names) for _ in range(cfg.priors_rows)]
    a = pipe.assets.config
    pr = LabelPriors(num_rows=cfg.priors_rows, id_dim=a.id_dim, exp_dim=a.exp_dim, pose_scale=1.0,
                     noise_dim=pipe.priors.config.noise_dim,
                     source=f"synthetic label distribution (seed {cfg.seed}, {cfg.priors_rows} rows)")
    with torch.no_grad():
        for key in ("face_id", "betas", "expression", "joint_eulers", "camera"):
            getattr(pr, key).copy_(torch.tensor(np.stack([lb[key] for lb in labs]), dtype=torch.float32))
    return pr
