"""The demo's engine: every action of the browser app (``app.py``) as a plain, typed method over
one loaded model, so the page, its named API endpoints, the MCP tools and the tests all run the
same code. Nothing here imports Gradio.

    studio = Studio(StudioConfig())
    image, depth = studio.generate(seed=3, truncation_psi=0.7, camera_yaw=15)
    image = studio.control(Pose(head_yaw=20), expression={"jawOpen": 0.6}, seed=3)
    mp4 = studio.drive("driver.mp4", seed=3, relative=True)
    name = studio.add_photo("me.jpg")            # the person becomes selectable everywhere
    image = studio.control(Pose(), person=name)

People: ``person="seed"`` draws the generator's ``seed`` (at ``truncation_psi``); any other name
is a person added from a photo (:meth:`add_photo`) or an identity file (:meth:`add_identity_file`),
drawn as inverted (psi 1). Each person's bake is cached (least recently used, within
``cache_megabytes``), so moving a slider costs one frame.
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.studio.inputs import STILL_CODECS, Pose, StudioConfig, StudioError, _follow_choice


def _nbytes(cache) -> int:
    """Bytes of an identity bake's tensors."""
    return sum(v.numel() * v.element_size() for v in vars(cache).values() if isinstance(v, torch.Tensor))


class Studio:
    """One loaded model and the people drawn with it (see the module docstring). Thread-safe:
    the app serves several clients at once."""

    def __init__(self, config: StudioConfig | None = None, pipe=None):
        from aniportrait_hub.pipelines.loading import load_pipeline

        self.cfg = config or StudioConfig()
        self.pipe = pipe if pipe is not None else load_pipeline(self.cfg.model)
        self.exp_names = list(self.pipe.face_model().exp_names)
        self.edit_names = sorted((self.pipe.config.edit_directions or {}).keys())
        self.people: collections.OrderedDict[str, object] = collections.OrderedDict()
        if getattr(self.pipe, "identity", None) is not None:  # a personal model: its person
            self.people[self.pipe.identity.info.get("photo", "personal model")] = self.pipe.identity
        self._caches: collections.OrderedDict[tuple, object] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._swept = 0.0
        self.cfg.out_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ people
    def person_names(self) -> list[str]:
        """``"seed"`` (the generator's people) and every added person's name."""
        return ["seed"] + list(self.people)

    def _check_psi(self, psi: float) -> float:
        if not (isinstance(psi, (int, float)) and 0.0 <= psi <= 1.0):
            raise StudioError(f"truncation psi {psi!r} outside [0, 1]")
        return float(psi)

    def _check_seed(self, seed) -> int:
        if seed is None or not float(seed).is_integer() or not 0 <= int(seed) < 2**31:
            raise StudioError(f"seed {seed!r} must be a whole number in [0, 2^31)")
        return int(seed)

    def _check_edits(self, edits: dict[str, float] | None) -> dict[str, float]:
        edits = {k: float(v) for k, v in (edits or {}).items() if float(v) != 0.0}
        for k, v in edits.items():
            if k not in self.edit_names:
                raise StudioError(f"unknown edit {k!r}; this model edits {self.edit_names}")
            if not -3 <= v <= 3:
                raise StudioError(f"edit {k} = {v:g} outside [-3, 3]")
        return edits

    def identity(self, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7,
                 edits: dict[str, float] | None = None):
        """The baked identity (cached) of ``person``."""
        edits = self._check_edits(edits)
        if person == "seed":
            key = ("seed", self._check_seed(seed), self._check_psi(truncation_psi), tuple(sorted(edits.items())))
        elif person in self.people:  # inverted people are drawn at psi 1; a seed's file keeps its psi
            key = (person, 0, float(self.people[person].info.get("truncation_psi", 1.0)), tuple(sorted(edits.items())))
        else:
            raise StudioError(f"unknown person {person!r}; choose one of {self.person_names()}")
        with self._lock:
            if key in self._caches:
                self._caches.move_to_end(key)
                return self._caches[key]
        if person == "seed":
            cache = self.pipe.bake_identity(seed=key[1], truncation_psi=key[2], edits=edits or None)
        else:
            cache = self.pipe.bake_identity(self.people[person].latents, truncation_psi=key[2], edits=edits or None)
        with self._lock:
            self._caches[key] = cache
            while len(self._caches) > 1 and sum(map(_nbytes, self._caches.values())) > self.cfg.cache_megabytes * 1e6:
                self._caches.popitem(last=False)
        return cache

    def _add_person(self, name: str, identity) -> str:
        # a random suffix: on a shared server nobody draws another visitor's person by guessing
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")[:40] or "person"
        with self._lock:
            name = f"{base}-{uuid.uuid4().hex[:8]}"
            self.people[name] = identity
            while len(self.people) > self.cfg.max_people:
                old, _ = self.people.popitem(last=False)
                self._caches = collections.OrderedDict((k, v) for k, v in self._caches.items() if k[0] != old)
        return name

    def add_photo(self, photo: str | Path | np.ndarray, name: str | None = None, progress=None) -> str:
        """Invert a photo (``cfg.photo_quality``) into a person; returns their name.

        Raises:
            StudioError: the photo cannot be used (no face, several faces, corrupt, ...).
        """
        from aniportrait_hub.inversion import PhotoError, photo_to_model

        if name is None:
            name = Path(photo).stem if not isinstance(photo, np.ndarray) else "photo"
        try:
            _, person = photo_to_model(self.pipe, photo, self.cfg.photo_quality)
        except (PhotoError, FileNotFoundError) as err:
            raise StudioError(str(err)) from err
        return self._add_person(name, person)

    def add_identity_file(self, path: str | Path, name: str | None = None) -> str:
        """A person from an identity file (:meth:`identity_file`, or a personal model's
        ``identity.safetensors``); returns their name."""
        from aniportrait_hub.inversion.personal import read_identity_file

        try:
            person = read_identity_file(path)
            self.pipe._check_latents(person.latents)
        except (OSError, ValueError) as err:
            raise StudioError(f"{Path(path).name} is not an identity file of this model: {err}") from err
        return self._add_person(name or person.info.get("photo") or Path(path).stem, person)

    def identity_file(self, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7) -> Path:
        """The person as a small identity file (``.safetensors``, a few KB) to reuse."""
        from aniportrait_hub.inversion.personal import PersonalIdentity, write_identity_file

        if person == "seed":
            seed, psi = self._check_seed(seed), self._check_psi(truncation_psi)
            lat = self.pipe.sample_latents(seed=seed)
            ident = PersonalIdentity(lat, torch.zeros(1, len(self.exp_names)), torch.zeros(1, 6, 3),
                                     torch.full((1, 2), math.pi / 2), {"photo": f"seed-{seed}", "seed": seed})
            ident.info["truncation_psi"] = psi  # psi moves the modulation, not the latents
        elif person in self.people:
            ident = self.people[person]
        else:
            raise StudioError(f"unknown person {person!r}; choose one of {self.person_names()}")
        return write_identity_file(ident, self._new_path(f"{ident.info.get('photo', person)}", ".safetensors"))

    def avatar(self, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7,
               edits: dict[str, float] | None = None) -> Path:
        """The person as a rigged glTF avatar (``.glb``, :mod:`aniportrait_hub.export`) in
        ``out_dir``: the browser player's mesh density (``cfg.avatar``)."""
        from aniportrait_hub.export.avatar import build_avatar
        from aniportrait_hub.export.gltf import write_glb

        cache = self.identity(person, seed, truncation_psi, edits)
        name = f"seed-{self._check_seed(seed)}" if person == "seed" else person
        return write_glb(build_avatar(self.pipe, cache, self.cfg.avatar), self._new_path(name, ".glb"))

    # ------------------------------------------------------------------ rendering
    def _new_path(self, stem: str, suffix: str) -> Path:
        """A new file name in ``out_dir`` (files older than ``keep_files_seconds`` are removed
        first, at most once a minute)."""
        now = time.time()
        if now - self._swept > 60:
            self._swept = now
            for f in self.cfg.out_dir.glob("*"):
                try:
                    if f.is_file() and now - f.stat().st_mtime > self.cfg.keep_files_seconds:
                        f.unlink()
                except OSError:  # another worker removed it first
                    pass
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:40] or "out"
        return self.cfg.out_dir / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"

    def save_png(self, image: np.ndarray, stem: str = "portrait", **info) -> Path:
        """An RGB uint8 picture as a new PNG in ``out_dir``, watermarked and tagged as generated
        (:mod:`aniportrait_hub.provenance`; ``info``: what to say of it)."""
        from aniportrait_hub.provenance import save_png

        return save_png(image, self._new_path(stem, ".png"), model=self.cfg.model, **info)

    def expression(self, values: dict[str, float] | None) -> torch.Tensor:
        """Named unit intensities (each in [0, 1]) -> the model's expression vector [1, E]."""
        exp = torch.zeros(1, len(self.exp_names))
        for k, v in (values or {}).items():
            if k not in self.exp_names:
                raise StudioError(f"unknown expression unit {k!r} (the model's units: {', '.join(self.exp_names)})")
            v = float(v)
            if not 0.0 <= v <= 1.0:
                raise StudioError(f"expression {k} = {v:g} outside [0, 1]")
            exp[0, self.exp_names.index(k)] = v
        return exp

    def _side(self, high_res: bool) -> int:
        return self.cfg.high_resolution if high_res else self.cfg.preview_resolution

    @torch.no_grad()
    def frame(self, cache, expression: torch.Tensor, joint_eulers: torch.Tensor, camera: torch.Tensor,
              side: int, depth: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(RGB uint8 [S, S, 3], depth picture uint8 [S, S, 3] or None) of one frame."""
        from aniportrait_hub.pipelines.pipeline import image_uint8
        from aniportrait_hub.video import depth_image

        out = self.pipe.render_frame(cache, expression, joint_eulers, camera, resolution=side, low_res=False)
        d = None
        if depth:
            d = depth_image(out.depth[0, 0].cpu().numpy(), out.mask[0, 0].cpu().numpy())
            d = np.repeat(d[..., None], 3, -1)
        return image_uint8(out.image[0]), d

    def generate(self, seed: int = 0, truncation_psi: float = 0.7, camera_yaw: float = 0.0,
                 camera_pitch: float = 0.0, high_res: bool = False,
                 depth: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """A sampled person, frontal and neutral, seen from the given camera."""
        pose = Pose(camera_yaw=camera_yaw, camera_pitch=camera_pitch).check()
        cache = self.identity("seed", seed, truncation_psi)
        eul, cam = pose.labels()
        return self.frame(cache, self.expression(None), eul, cam, self._side(high_res), depth)

    def grid(self, first_seed: int = 0, count: int = 8, truncation_psi: float = 0.7) -> np.ndarray:
        """``count`` consecutive seeds from ``first_seed`` at the preview side, in one picture
        (rows of up to 4)."""
        first_seed = self._check_seed(first_seed)
        if not 1 <= int(count) <= self.cfg.max_grid:
            raise StudioError(f"count {count!r} outside [1, {self.cfg.max_grid}]")
        side = self.cfg.preview_resolution // 2
        eul, cam = Pose().labels()
        tiles = []
        for s in range(first_seed, first_seed + int(count)):
            lat = self.pipe.sample_latents(seed=s)
            cache = self.pipe.bake_identity(lat, truncation_psi=self._check_psi(truncation_psi))
            tiles.append(self.frame(cache, self.expression(None), eul, cam, side)[0])
        cols = min(4, len(tiles))
        rows = math.ceil(len(tiles) / cols)
        sheet = np.full((rows * side, cols * side, 3), 255, np.uint8)
        for i, t in enumerate(tiles):
            sheet[(i // cols) * side:(i // cols + 1) * side, (i % cols) * side:(i % cols + 1) * side] = t
        return sheet

    def control(self, pose: Pose | None = None, expression: dict[str, float] | None = None, person: str = "seed",
                seed: int = 0, truncation_psi: float = 0.7, edits: dict[str, float] | None = None,
                high_res: bool = False, depth: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """One person under the given pose, camera, expression and attribute edits."""
        pose = (pose or Pose()).check()
        cache = self.identity(person, seed, truncation_psi, edits)
        eul, cam = pose.labels()
        return self.frame(cache, self.expression(expression), eul, cam, self._side(high_res), depth)

    def control_sequence(self, pose: Pose | None = None, expression: dict[str, float] | None = None) -> Path:
        """The controls as a one-frame driving sequence (``.npz``, :class:`DrivingSequence`),
        for ``aniportrait drive --sequence``."""
        from aniportrait_hub.pipelines.animation import DrivingSequence

        eul, cam = (pose or Pose()).check().labels()
        seq = DrivingSequence(self.expression(expression), eul, cam, 25.0, self.pipe.assets.config.basis_name)
        path = self._new_path("controls", ".npz")
        seq.save(path)
        return path

    # ------------------------------------------------------------------ video
    def check_video(self, path: str | Path) -> tuple[float, int, int]:
        """(seconds, width, height) of a driving video, or a :class:`StudioError` saying why it
        cannot be used (not a video, corrupt, too long, too large)."""
        import imageio_ffmpeg

        path = Path(path)
        if not path.is_file():
            raise StudioError(f"{path.name}: no such file")
        try:
            reader = imageio_ffmpeg.read_frames(str(path))
            meta = next(reader)
            reader.close()
        except (RuntimeError, OSError, StopIteration) as err:
            from aniportrait_hub.video import ffmpeg_cause

            raise StudioError(f"{path.name} is not a readable video: {ffmpeg_cause(str(err), path)}") from err
        w, h = meta.get("size") or (0, 0)
        secs = float(meta.get("duration") or 0.0)
        if not w or not h:
            raise StudioError(f"{path.name} holds no video stream")
        if secs < 0.5 or meta.get("codec") in STILL_CODECS:
            raise StudioError(f"{path.name} is a still image or shorter than 0.5 s; upload a video of a face")
        if secs > self.cfg.max_video_seconds:
            raise StudioError(f"{path.name} lasts {secs:.1f} s; this app drives at most {self.cfg.max_video_seconds:g} s "
                              "(cut it, or use `aniportrait drive`)")
        if max(w, h) > self.cfg.max_video_side:
            raise StudioError(f"{path.name} is {w}x{h}; this app takes videos up to {self.cfg.max_video_side} px "
                              "on the longer side")
        return secs, int(w), int(h)

    def drive(self, video: str | Path, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7,
              relative: bool = True, smoothing: float = 0.3, multiplier: float = 1.0,
              side_by_side: bool = False, high_res: bool = False, follow: str | int = "largest") -> Path:
        """A person driven by a video: an mp4 (H.264 yuv420p, the driver's audio as AAC).
        ``follow``: whom to track in a video of several people (``largest``, ``left``,
        ``right`` or N, the N-th face from the left)."""
        from aniportrait_hub.commands.drive import DriveConfig, run
        from aniportrait_hub.tracking import TrackingError

        follow = _follow_choice(follow)
        self.check_video(video)
        if not 0 <= smoothing <= 1:
            raise StudioError(f"smoothing {smoothing!r} outside [0, 1]")
        if not 0 <= multiplier <= 5:
            raise StudioError(f"multiplier {multiplier!r} outside [0, 5]")
        cache = self.identity(person, seed, truncation_psi)
        out = self._new_path(f"drive-{person}", ".mp4")
        cfg = DriveConfig(out=out, video=Path(video), relative=relative, smoothing=smoothing, multiplier=multiplier,
                          side_by_side=side_by_side, max_seconds=self.cfg.max_video_seconds,
                          resolution=self._side(high_res), person=follow)
        try:
            return run(cfg, pipe=self.pipe, identity=cache)[0]
        except (TrackingError, RuntimeError) as err:
            raise StudioError(f"driving failed: {err}") from err
