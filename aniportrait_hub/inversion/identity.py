"""One photo -> an animatable personal model: preparation, encoder start, latent inversion,
pivotal tuning of the FiLM offset, tuning of the maps (each step shows a progress bar).

    pipe, person = photo_to_model(base_pipe, "me.jpg", quality="quick")
    cache = pipe.bake_identity(person.latents, truncation_psi=1.0)
    frame = pipe.render_frame(cache, person.expression, person.joint_eulers, person.camera)

``quality`` names a :class:`PhotoQuality` of :data:`QUALITIES` (or pass one).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.inversion.latents import InversionConfig, PhotoTarget, invert_latents
from aniportrait_hub.inversion.maps import MapTuneConfig, tune_maps
from aniportrait_hub.inversion.personal import PersonalIdentity
from aniportrait_hub.inversion.tuning import TuneConfig, tune_identity


@dataclasses.dataclass
class PhotoQuality:
    """How hard a photo is worked on (our choices, measured in BENCHMARKS.md)."""

    invert: InversionConfig
    tune: TuneConfig
    maps: MapTuneConfig = dataclasses.field(default_factory=MapTuneConfig)
    """Map-level tuning: the photo's own pixels as the person's appearance (0 steps: off)."""
    encoder: bool = True
    """Start the inversion from the photo encoder's guess (False: from the prior's mean)."""

    def with_steps(self, invert: int | None = None, tune: int | None = None, maps: int | None = None) -> "PhotoQuality":
        """This quality with other step counts (None keeps its own)."""
        return dataclasses.replace(
            self, invert=self.invert if invert is None else dataclasses.replace(self.invert, steps=invert),
            tune=self.tune if tune is None else dataclasses.replace(self.tune, steps=tune),
            maps=self.maps if maps is None else dataclasses.replace(self.maps, steps=maps))


#: ``quick``: the 60 s budget on a 2-core CPU; ``full``: a few minutes, closer to the photo.
#: Tuning is the person's FiLM offset (``TuneConfig.mode="film"``): on a held-out synthetic person
#: (4 inversion steps, yaw +20 view) 3 steps at lr 0.02 gave +2.0 dB, 10 steps +3.5 dB, 30 steps
#: +4.0 dB (0.01: +1.1, +3.8 dB; 0.05 and 0.1 overshot: +0.9, -0.6 dB at 3 steps), where tuning
#: phi's heads (``"weights"``, 3 steps at 5e-4) gave +1.4 dB and moved other people too.
#: Map-level tuning (:mod:`aniportrait_hub.inversion.maps`) follows: it carries the photo's own
#: pixels, so ``quick`` spends its FiLM steps there instead (on a default-model person inverted in
#: 4 steps, 40 map steps took the input view from 17.8 to 33.2 dB in 26 s).
QUALITIES = {
    "quick": PhotoQuality(InversionConfig(steps=4, lr=0.1), TuneConfig(steps=0, film_lr=0.02), MapTuneConfig(steps=40)),
    "full": PhotoQuality(InversionConfig(steps=30, lr=0.1), TuneConfig(steps=30, film_lr=0.02),
                         MapTuneConfig(steps=150)),
}


def _quality(quality: str | PhotoQuality) -> PhotoQuality:
    if isinstance(quality, PhotoQuality):
        return quality
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {sorted(QUALITIES)}, got {quality!r}")
    return QUALITIES[quality]


def encoder_start(target: PhotoTarget, encoder, noise_dim: int):
    """The encoder's guess for ``target`` as starting latents (the target's geometry)."""
    from aniportrait_hub.pipelines.pipeline import PortraitLatents

    with torch.no_grad():
        code = encoder(target.image.to(encoder.dtype)).float()
    return PortraitLatents(target.face_id, target.betas, code[:, :noise_dim])


def photo_to_model(pipe, photo: str | Path | np.ndarray, quality: str | PhotoQuality = "quick", encoder=None,
                   tune: bool = True, person: str | int | None = None) -> tuple[object, PersonalIdentity]:
    """A photo (path or RGB uint8 array) -> (personal pipeline, identity); ``person`` chooses
    one of several people (:func:`~aniportrait_hub.inversion.prepare_photo`). Save the result
    with :func:`~aniportrait_hub.inversion.save_personal_model`.

    The whole path, in order: prepare (detect, fit the labels, crop:
    :func:`~aniportrait_hub.inversion.photo.prepare_photo`), then :func:`identity_from_target`:
    start (the encoder's guess), invert the latents, tune the person's FiLM offset, tune the maps.

    Raises:
        PhotoError: the photo cannot be used (the message says why; the file is only read).
    """
    from aniportrait_hub.inversion.photo import prepare_photo

    t0 = time.perf_counter()
    prepared = prepare_photo(photo, person=person)
    info = {"photo": Path(photo).name if not isinstance(photo, np.ndarray) else "photo",
            "quality": quality if isinstance(quality, str) else "custom",
            "prepare_seconds": round(time.perf_counter() - t0, 2), "messages": prepared.messages,
            "head_yaw_deg": round(prepared.head_yaw_deg, 1)}
    tuned, person = identity_from_target(pipe, PhotoTarget.from_prepared(prepared), quality, encoder, tune, info)
    person.info["seconds"] = round(time.perf_counter() - t0, 2)
    return tuned, person


def identity_from_target(pipe, target: PhotoTarget, quality: str | PhotoQuality = "quick", encoder=None,
                         tune: bool = True, info: dict | None = None) -> tuple[object, PersonalIdentity]:
    """A prepared target -> (pipeline, identity): start, invert, tune the FiLM offset, tune the
    maps (each step skipped at 0 steps; ``tune=False`` stops after the inversion).

    ``encoder``: a :class:`~aniportrait_hub.inversion.encoder.PhotoEncoder` (None with
    ``quality.encoder``: the shipped one). The pipeline returned is ``pipe`` itself unless
    ``quality.tune.mode`` is ``"weights"`` (a copy with the tuned phi); in ``"film"`` mode the
    tuning is the identity's ``latents.film_offset``, and map tuning its ``map_residual``.
    """
    q = _quality(quality)
    info = dict(info or {}, encoder=q.encoder, tuned=tune)
    clock = _Clock(info)
    start = _start(pipe, target, q, encoder)
    inv = invert_latents(pipe, target, q.invert, start=start)
    info["invert_losses"] = [round(v, 5) for v in inv.losses]
    clock.lap("invert_seconds")
    tuned, latents = pipe, inv.latents
    if tune and q.tune.steps:
        film = tune_identity(pipe, target, latents, q.tune)
        tuned, latents = film.pipe, film.latents
        info.update(tune_mode=q.tune.mode, tune_losses=[round(v, 5) for v in film.losses],
                    locality=[round(v, 5) for v in film.locality])
    clock.lap("tune_seconds")
    if tune and q.maps.steps and target.pixels is not None:
        maps = tune_maps(tuned, latents, target.pixels, *target.labels(), q.maps)
        latents = dataclasses.replace(latents, map_residual=maps.residual)
        info.update(map_losses=[round(v, 5) for v in maps.losses[:: max(1, len(maps.losses) // 20)]],
                    map_steps=q.maps.steps)
    clock.lap("map_seconds")
    return tuned, PersonalIdentity(latents, *target.labels(), info)


def _start(pipe, target: PhotoTarget, q: PhotoQuality, encoder):
    """The inversion's start: the encoder's guess, or None (the prior's mean)."""
    if not q.encoder:
        return None
    from aniportrait_hub.inversion.encoder import load_encoder

    return encoder_start(target, encoder if encoder is not None else load_encoder(), pipe.priors.config.noise_dim)


class _Clock:
    """Seconds of each step into an info dict."""

    def __init__(self, info: dict):
        self.info, self.t = info, time.perf_counter()

    def lap(self, key: str) -> None:
        now = time.perf_counter()
        self.info[key] = round(now - self.t, 2)
        self.t = now
