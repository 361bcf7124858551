"""Phase 0 (``data``): the synthetic people, their canonical surfaces over the radiance-map grid,
labels and appearance codes, taught in worker processes."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.data.appearance_code import encode
from aniportrait_hub.data.canonical import canonical_maps
from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
from train.teacher.config import TeacherConfig

_SYNTH: SyntheticRenderer | None = None


def _init_worker(seed: int) -> None:
    global _SYNTH
    torch.set_num_threads(1)
    _SYNTH = SyntheticRenderer(SynthConfig(seed=seed))


def _teach_one(args):
    index, low, high, ss = args
    person = _SYNTH.person(index)
    maps = canonical_maps(_SYNTH, person, _SYNTH.settings, low, high, ss)
    code = encode(person.look, person.style, np.random.default_rng([_SYNTH.cfg.seed, index, 7]))
    lab = person.labels
    return index, maps, code, lab["face_id"].astype(np.float32), lab["betas"].astype(np.float32)


def training_indices(cfg: TeacherConfig) -> list[int]:
    """Synthesizer sample indices of the taught identities (held-out ones skipped)."""
    out, i = [], 0
    while len(out) < cfg.identities:
        if i % 10 != 9:
            out.append(i)
        i += 1
    return out


def build_data(cfg: TeacherConfig, low_res: int) -> dict:
    """Phase 0: the teacher's maps of every taught identity, saved as ``data.npz``."""
    from multiprocessing import get_context

    idx = training_indices(cfg)
    jobs = [(i, low_res, cfg.high_res, cfg.supersample) for i in idx]
    res = {}
    with get_context("spawn").Pool(cfg.workers, initializer=_init_worker, initargs=(cfg.seed,)) as pool:
        for index, maps, code, face_id, betas in tqdm(pool.imap_unordered(_teach_one, jobs), total=len(jobs),
                                                        desc="teacher data"):
            res[index] = (maps, code, face_id, betas)
    order = sorted(res)
    data = {"index": np.array(order), "z_lr": np.stack([res[i][0].z_lr for i in order]),
            "rgb_lr": np.stack([res[i][0].rgb_lr for i in order]),
            "z_hr": np.stack([res[i][0].z_hr for i in order]),
            "rgb_hr": np.stack([res[i][0].rgb_hr for i in order]),
            "code": np.stack([res[i][1] for i in order]), "face_id": np.stack([res[i][2] for i in order]),
            "betas": np.stack([res[i][3] for i in order])}
    tmp = cfg.out / "data.tmp.npz"
    np.savez(tmp, **data)
    tmp.rename(cfg.out / "data.npz")
    return data
