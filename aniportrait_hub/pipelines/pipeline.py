"""``AniPortraitGAN``: the diffusers pipeline of the generator (DESIGN.md decision 5).

Components (each a ``ModelMixin, ConfigMixin`` saved as safetensors): ``manifold`` (M),
``radiance`` (phi), ``pose_deformer`` (D^p), ``expression_deformer`` (D^e), ``superres`` (U),
``assets`` (body + face model) and ``priors`` (label dictionaries). The renderer constants live
in the pipeline config (``render_settings``).

``pipe(seed=0)`` samples an identity, expression, pose and camera from the priors and renders;
``bake_identity`` returns the per-identity cache; ``animate(cache, sequence)`` yields frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

from aniportrait_hub.conditioning.edits import apply_edits
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.conditioning.priors import LabelPriors
from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer
from aniportrait_hub.deformation.pose_deformer import PoseDeformer
from aniportrait_hub.fields.manifold import ManifoldPredictor
from aniportrait_hub.fields.radiance import RadianceGenerator
from aniportrait_hub.host import on_host
from aniportrait_hub.models.body_assets import BodyFaceAssets
from aniportrait_hub.models.presets import preset
from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.pipelines.outputs import AniPortraitOutput, PortraitLatents
from aniportrait_hub.pipelines.personal import load_identity, load_personal, personal_folder
from aniportrait_hub.rendering.map_residual import apply_map_residual
from aniportrait_hub.rendering.renderer import (
    IdentityCache,
    PortraitRenderer,
    RenderOutput,
    RenderSettings,
    radiance_latent,
)
from aniportrait_hub.rendering.superres import ManifoldSuperResolution

#: Rows of the priors averaged for truncation (reference: 10k identities).
TRUNCATION_SAMPLES = 10_000


class AniPortraitGAN(DiffusionPipeline):
    """Animatable 3D-aware portrait generator (AniPortraitGAN, Wu et al. 2023)."""

    def __init__(self, manifold: ManifoldPredictor, radiance: RadianceGenerator, pose_deformer: PoseDeformer,
                 expression_deformer: ExpressionDeformer, superres: ManifoldSuperResolution,
                 assets: BodyFaceAssets, priors: LabelPriors, render_settings: dict | None = None,
                 default_resolution: int = 512, default_face_resolution: int = 256,
                 edit_directions: dict | None = None):
        super().__init__()
        self.register_modules(manifold=manifold, radiance=radiance, pose_deformer=pose_deformer,
                              expression_deformer=expression_deformer, superres=superres, assets=assets,
                              priors=priors)
        settings = RenderSettings.from_dict(render_settings)
        # edit_directions: attribute directions in the latents (aniportrait_hub.conditioning.edits)
        self.register_to_config(render_settings=settings.to_dict(), default_resolution=default_resolution,
                                default_face_resolution=default_face_resolution, edit_directions=edit_directions)
        self._runtime: dict = {}
        #: A personal model's person (:class:`~aniportrait_hub.pipelines.personal.PersonalIdentity`,
        #: loaded from its ``identity.safetensors``); None for a generator.
        self.identity = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str = "small", seed: int = 0, assets: BodyFaceAssets | None = None,
                    priors: LabelPriors | None = None, render_overrides: dict | None = None) -> "AniPortraitGAN":
        """An untrained pipeline of a named preset (``reference`` or ``small``), seeded;
        ``render_overrides`` replaces some of its :class:`RenderSettings`."""
        p = preset(name)
        torch.manual_seed(seed)
        assets = assets or BodyFaceAssets.open_default()
        id_dim, exp_dim = assets.config.id_dim, assets.config.exp_dim
        priors = priors or LabelPriors.synthetic(id_dim=id_dim, exp_dim=exp_dim, seed=seed)
        settings = RenderSettings(**{**p["render"], **(render_overrides or {})})
        z_dim = id_dim + priors.config.noise_dim + (10 if settings.radiance_betas else 0)
        rad = dict(p["radiance"])
        if rad.get("plane_resolution"):  # the feature plane spans the bake window
            rad.setdefault("plane_range", (*settings.map_x_range, *settings.map_y_range))
        radiance = RadianceGenerator(z_dim=z_dim, **rad)
        superres = ManifoldSuperResolution(in_channels=4 + p["radiance"]["feature_channels"], z_dim=z_dim,
                                           **p["superres"])
        return cls(ManifoldPredictor(**p["manifold"]), radiance, PoseDeformer(**p["pose_deformer"]),
                   ExpressionDeformer(id_dim=id_dim, exp_dim=exp_dim, **p["expression_deformer"]), superres,
                   assets, priors, render_settings=settings.to_dict(),
                   default_resolution=p["resolution"], default_face_resolution=p["face_resolution"])

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "AniPortraitGAN":
        """Load from a local folder or a Hub repo id (safetensors only; every tensor checked).

        Raises:
            OSError: the folder or repo cannot be found (offline: not in the Hub cache).
            ValueError: a component's weights are missing, unexpected or mis-shaped.
        """
        name = str(pretrained_model_name_or_path)
        personal = personal_folder(name, kwargs)
        if personal is not None:  # a personal model: its base, with the person attached
            return load_personal(cls, personal, kwargs)
        kwargs.setdefault("use_safetensors", True)
        # Networks may take another dtype; the body/face assets and priors stay float32 (their
        # rotations and bases lose too much in half precision), and so does the tiny D^p (its
        # 3D pooling has no half-precision CPU kernel).
        dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", None))
        if isinstance(dtype, torch.dtype):
            dtype = {"default": dtype, "assets": torch.float32, "priors": torch.float32,
                     "pose_deformer": torch.float32}
        if dtype is not None:
            kwargs["dtype"] = dtype
        try:
            pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (OSError, ValueError) as err:
            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
            hint = " (offline: it must already be in the Hub cache)" if offline and not Path(name).exists() else ""
            raise type(err)(f"cannot load an AniPortraitGAN pipeline from {name!r}{hint}: {err}") from err
        from aniportrait_hub.models.weights import check_loaded_weights

        folder = check_loaded_weights(pipe, name, kwargs)
        pipe.identity = load_identity(folder)
        pipe._check_identity()
        return pipe

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """diffusers' save (safetensors) plus a model card (README.md) from ``model_card.md``."""
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, **kwargs)
        from aniportrait_hub.models.card import write_model_card

        write_model_card(self, Path(save_directory))

    def push_to_hub(self, repo_id: str, commit_message: str = "Upload AniPortraitGAN", private: bool | None = None,
                    token: str | None = None, variant: str | None = None) -> str:
        """Save (safetensors + our model card) to a temporary folder and upload it as is.

        diffusers' own ``push_to_hub`` writes its generic card over ours; this keeps the card
        rendered from ``model_card.md``. Needs network access to the Hub.
        """
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, variant=variant)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
        return str(info)

    # ------------------------------------------------------------------ runtime pieces
    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings.from_dict(self.config.render_settings)

    def renderer(self) -> PortraitRenderer:
        """The renderer over this pipeline's modules (built once; :meth:`reset_runtime` after
        changing weights or device)."""
        if "renderer" not in self._runtime:
            body = self.assets.body_model().to(self.device)
            guided = self.expression_deformer.config.guide != "none"
            self._runtime["renderer"] = PortraitRenderer(self.render_settings, body, self.manifold, self.radiance,
                                                         self.pose_deformer, self.expression_deformer, self.superres,
                                                         face_model=self.face_model() if guided else None)
        return self._runtime["renderer"]

    def face_model(self):
        if "face" not in self._runtime:
            self._runtime["face"] = self.assets.face_model().to(self.device)
        return self._runtime["face"]

    def field_grid(self):
        """M on the fast path's grid (computed once per set of weights)."""
        if "field" not in self._runtime:
            self._runtime["field"] = self.renderer().field_grid()
        return self._runtime["field"]

    def manifold_heights(self):
        """Where the baking rays meet the manifolds (computed once per set of weights)."""
        if "heights" not in self._runtime:
            self._runtime["heights"] = self.renderer().manifold_heights()
        return self._runtime["heights"]

    def set_render_settings(self, **overrides) -> None:
        """Replace some :class:`RenderSettings` fields (saved with the pipeline), e.g.
        ``pose_deformer=False`` for the ablation without D^p; derived runtime data is dropped."""
        unknown = set(overrides) - set(self.render_settings.to_dict())
        if unknown:
            raise ValueError(f"unknown render settings {sorted(unknown)}")
        self.register_to_config(render_settings=RenderSettings.from_dict(
            {**self.render_settings.to_dict(), **overrides}).to_dict())
        self.reset_runtime()

    def to(self, *args, **kwargs) -> "AniPortraitGAN":
        """``DiffusionPipeline.to``, then, where the device or dtype changed, the derived runtime
        data (renderer, body and face model, field grid) is dropped: it was built on the old
        device and would keep rendering there."""
        before = (self.device, self.dtype)
        out = super().to(*args, **kwargs)
        if (self.device, self.dtype) != before:
            self.reset_runtime()
        return out

    def reset_runtime(self) -> None:
        """Forget derived runtime data (renderer, field grid, manifold heights, truncation means)."""
        self._runtime.clear()

    @torch.no_grad()
    def truncation_means(self) -> tuple[FiLMParams, torch.Tensor]:
        """Mean radiance FiLM parameters and SR style over 10k prior identities (reference)."""
        if "trunc" not in self._runtime:
            g = torch.Generator().manual_seed(0)
            face_id, betas, noise = self.priors.sample_identity(TRUNCATION_SAMPLES, g)
            z = radiance_latent(self.render_settings, face_id, noise, betas).to(self.device)
            films = [self.radiance.mapping(c) for c in z.split(2048)]
            freqs = torch.cat([f.freqs for f in films]).mean(0, keepdim=True)
            phases = torch.cat([f.phases for f in films]).mean(0, keepdim=True)
            style = torch.cat([self.superres.mapping(c) for c in z.split(2048)]).mean(0, keepdim=True)
            self._runtime["trunc"] = (FiLMParams(freqs, phases), style)
        return self._runtime["trunc"]

    # ------------------------------------------------------------------ inputs
    def _generator(self, seed, generator):
        if seed is not None and generator is not None:
            raise ValueError("give seed or generator, not both")
        return torch.Generator().manual_seed(int(seed)) if seed is not None else generator

    def sample_latents(self, batch_size: int = 1, seed: int | None = None,
                       generator: torch.Generator | None = None) -> PortraitLatents:
        """An identity drawn from the priors (face identity and betas rows) and eps ~ N(0, I)."""
        g = self._generator(seed, generator)
        face_id, betas, noise = self.priors.sample_identity(batch_size, g)
        return PortraitLatents(face_id, betas, noise)

    def _check_identity(self) -> None:
        if self.identity is not None:
            try:
                self._check_latents(self.identity.latents)
            except ValueError as err:
                raise ValueError(f"this model's identity.safetensors does not match its components: {err}") from err

    def _check_latents(self, lat: PortraitLatents) -> int:
        a = self.assets.config
        b = lat.face_id.shape[0]
        for name, t, dim in (("face_id", lat.face_id, a.id_dim), ("betas", lat.betas, 10),
                             ("noise", lat.noise, self.priors.config.noise_dim),
                             ("appearance_face_id", lat.appearance_face_id, a.id_dim)):
            if t is None and name == "appearance_face_id":
                continue
            if t.dim() != 2 or t.shape != (b, dim):
                raise ValueError(f"latents.{name} must be [B={b}, {dim}], got {tuple(t.shape)}")
            if not torch.isfinite(t).all():
                raise ValueError(f"latents.{name} holds NaN or infinite values")
        if lat.film_offset is not None:
            m = self.radiance.mapping_net
            want = (b, 2, m.num_layers, m.width)
            if tuple(lat.film_offset.shape) != want:
                raise ValueError(f"latents.film_offset must be {list(want)}, got {list(lat.film_offset.shape)}")
            if not torch.isfinite(lat.film_offset).all():
                raise ValueError("latents.film_offset holds NaN or infinite values")
        if lat.map_residual is not None:
            st = self.render_settings
            lat.map_residual.check(len(self.manifold.levels), st.map_resolution)
        return b

    # ------------------------------------------------------------------ per identity
    def mappings(self, lat: PortraitLatents) -> tuple[FiLMParams, torch.Tensor]:
        """phi's FiLM parameters and U's style of an identity (differentiable): the mappings see
        the appearance face identity where one is given, the plane warp the geometry's."""
        st = self.render_settings
        z = radiance_latent(st, lat.face_id, lat.noise, lat.betas)
        z_app = z if lat.appearance_face_id is None else radiance_latent(st, lat.appearance_face_id, lat.noise,
                                                                          lat.betas)
        film = self.radiance.mapping(z_app)
        freqs, phases = film.freqs, film.phases
        if lat.film_offset is not None:
            off = lat.film_offset.to(freqs.dtype)
            freqs, phases = freqs + off[:, 0], phases + off[:, 1]
        film = FiLMParams(freqs, phases, self.radiance.warp_of(z))
        return film, self.superres.mapping(z_app)

    @torch.no_grad()
    def export_gltf(self, latents: PortraitLatents | None, path: str | os.PathLike, config=None,
                    truncation_psi: float | None = None) -> Path:
        """One person as a rigged, layered glTF avatar (``.glb``; :mod:`aniportrait_hub.export`):
        ``latents`` batch 1 (None: this personal model's own person). Refuses to overwrite."""
        from aniportrait_hub.export.avatar import build_avatar
        from aniportrait_hub.export.gltf import write_glb

        if latents is None:
            if self.identity is None:
                raise ValueError("give latents (pipe.sample_latents(1, seed=...)): this model has no person of its own")
            latents = self.identity.latents
        if latents.face_id.shape[0] != 1:
            raise ValueError(f"one person at a time, got a batch of {latents.face_id.shape[0]}")
        if truncation_psi is None:
            truncation_psi = 1.0 if self.identity is not None and latents is self.identity.latents else 0.7
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} exists; choose a new file (nothing was overwritten)")
        return write_glb(build_avatar(self, self.bake_identity(latents, truncation_psi), config), path)

    @torch.no_grad()
    def bake_identity(self, latents: PortraitLatents | None = None, truncation_psi: float = 0.7,
                      seed: int | None = None, generator: torch.Generator | None = None,
                      batch_size: int = 1, edits: dict[str, float] | None = None) -> IdentityCache:
        """Mapping, radiance maps and super-resolution of an identity: reused by every frame.
        ``edits``: attribute edits, e.g. ``{"age": 1.0}`` (:mod:`aniportrait_hub.conditioning.edits`)."""
        if not 0.0 <= truncation_psi <= 1.0:
            raise ValueError(f"truncation_psi {truncation_psi} outside [0, 1]")
        lat = latents or self.sample_latents(batch_size, seed, generator)
        self._check_latents(lat)
        if edits:
            lat = apply_edits(lat, edits, self.config.edit_directions)
        lat = lat.to(self.device)
        film, style = self.mappings(lat)
        if truncation_psi < 1.0:
            mean_film, mean_style = self.truncation_means()
            film = film.lerp_to(mean_film, truncation_psi)
            style = torch.lerp(mean_style, style, truncation_psi)
        cache = self.renderer().bake(lat.face_id, lat.betas, lat.noise, radiance_film=film, sr_style=style,
                                     heights=self.manifold_heights())
        if lat.map_residual is not None:
            cache.maps_lr, cache.maps_hr = apply_map_residual(cache.maps_lr, cache.maps_hr, lat.map_residual)
        return cache

    # ------------------------------------------------------------------ per frame
    @torch.no_grad()
    def render_frame(self, identity: IdentityCache, expression: torch.Tensor, joint_eulers: torch.Tensor,
                     camera: torch.Tensor, resolution: int | None = None, face_resolution: int | None = None,
                     fast: bool = True, low_res: bool = True) -> RenderOutput:
        """One frame of cached identities: deformation + intersection + lookup. ``low_res``:
        also return the composite of the baked maps (``low_res_image``; False: None, and a
        frame at or below the geometry resolution skips that shading)."""
        b = identity.face_id.shape[0]
        res = resolution or self.config.default_resolution
        if not 16 <= res <= 2048:
            raise ValueError(f"resolution {res} outside [16, 2048]")
        exp_dim = self.assets.config.exp_dim
        if expression.dim() != 2 or expression.shape != (b, exp_dim):
            raise ValueError(f"expression must be [B={b}, {exp_dim}] ({self.assets.config.basis_name} units), got "
                             f"{tuple(expression.shape)}")
        if on_host(expression) and (not torch.isfinite(expression).all() or expression.abs().max() > 10):
            raise ValueError("expression coefficients must be finite and within [-10, 10]")
        dev = self.device
        field = self.field_grid() if fast else None
        return self.renderer().render(identity, expression.to(dev), joint_eulers.to(dev), camera.to(dev), res,
                                      fast=fast, face_resolution=face_resolution, field=field, low_res=low_res)

    @torch.no_grad()
    def __call__(self, seed: int | None = None, latents: PortraitLatents | None = None,
                 expression: torch.Tensor | None = None, joint_eulers: torch.Tensor | None = None,
                 camera: torch.Tensor | None = None, truncation_psi: float | None = None, resolution: int | None = None,
                 output_type: str = "pil", generator: torch.Generator | None = None, batch_size: int = 1,
                 face_resolution: int | None = None, fast: bool = True,
                 edits: dict[str, float] | None = None) -> AniPortraitOutput:
        """Sample and render portraits.

        Args:
            seed / generator: randomness of everything not given (identity, noise, expression,
                pose and camera, drawn from the priors).
            latents: an identity (:class:`PortraitLatents`); if None, a personal model's own person
                (``self.identity``), else sampled.
            expression: [B, E] in this model's expression basis; joint_eulers [B, 6, 3] (joints
                12-17, radians, relative to the canonical mean pose); camera [B, 2] (pitch,
                yaw) radians, frontal (pi/2, pi/2).
            truncation_psi: in [0, 1]; None: the reference 0.7, or 1.0 (none) for a personal
                model's own person.
            resolution / face_resolution: output sides (defaults from the preset; face 0 = none).
            output_type: ``"pil"``, ``"np"`` or ``"pt"``.
            edits: attribute edits in standard deviations, e.g. ``{"age": 1.0, "skin_tone": -0.5}``
                (names in :data:`aniportrait_hub.conditioning.edits.ATTRIBUTES`).
        """
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
        g = self._generator(seed, generator)
        if truncation_psi is None:
            truncation_psi = 1.0 if latents is None and self.identity is not None else 0.7
        if latents is None and self.identity is not None:
            latents = self.identity.latents.expand(batch_size)
        elif latents is None:
            latents = self.sample_latents(batch_size, generator=g)
        b = self._check_latents(latents)
        if expression is None:
            expression = self.priors.sample_expression(b, g)
        if joint_eulers is None or camera is None:
            pose, cam = self.priors.sample_pose_camera(b, g)
            joint_eulers = pose if joint_eulers is None else joint_eulers
            camera = cam if camera is None else camera
        identity = self.bake_identity(latents, truncation_psi, edits=edits)
        face_res = self.config.default_face_resolution if face_resolution is None else face_resolution
        out = self.render_frame(identity, expression, joint_eulers, camera, resolution, face_res or None, fast)
        return _format(out, output_type)

    def animate(self, identity: IdentityCache, sequence: DrivingSequence, resolution: int | None = None,
                fast: bool = True, progress: bool = True) -> Iterator[np.ndarray]:
        """Frames [H, W, 3] uint8 of a cached identity driven by a sequence (tqdm progress)."""
        for out in self.animate_outputs(identity, sequence, resolution, fast, progress):
            yield image_uint8(out.image[0])

    def animate_outputs(self, identity: IdentityCache, sequence: DrivingSequence, resolution: int | None = None,
                        fast: bool = True, progress: bool = True) -> Iterator[RenderOutput]:
        """:meth:`animate`'s frames as the renderer's outputs (image, depth, mask), one a frame.
        Expressions of another basis than the model's are refused; ``"none"`` drives pose and
        camera only."""
        basis = self.assets.config.basis_name
        if sequence.expression_basis not in (basis, "none"):
            raise ValueError(f"the sequence's expressions are in the {sequence.expression_basis!r} basis, this model's "
                             f"in {basis!r}; drop them (expression_basis='none' with zero rows) to drive pose and "
                             "camera only")
        exp = sequence.expression if sequence.expression_basis == basis else \
            torch.zeros(len(sequence), self.assets.config.exp_dim)
        for t in tqdm(range(len(sequence)), desc="animate", disable=not progress):
            yield self.render_frame(identity, exp[t:t + 1], sequence.joint_eulers[t:t + 1],
                                    sequence.camera[t:t + 1], resolution, None, fast, low_res=False)


def image_uint8(image: torch.Tensor) -> np.ndarray:
    """A rendered image [3, H, W] in [0, 1] as a picture: uint8 [H, W, 3]."""
    return (image.permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)


def _format(out: RenderOutput, output_type: str) -> AniPortraitOutput:
    if output_type == "pt":
        return AniPortraitOutput(out.image, out.low_res_image, out.depth[:, 0], out.mask[:, 0], out.face_image)

    def arr(x):
        return None if x is None else x.permute(0, 2, 3, 1).clamp(0, 1).cpu().numpy()

    images, low, face = arr(out.image), arr(out.low_res_image), arr(out.face_image)
    depth, mask = out.depth[:, 0].cpu().numpy(), out.mask[:, 0].cpu().numpy()
    if output_type == "np":
        return AniPortraitOutput(images, low, depth, mask, face)

    def pil(x):
        return None if x is None else [PIL.Image.fromarray((im * 255).round().astype(np.uint8)) for im in x]

    return AniPortraitOutput(pil(images), pil(low), depth, mask, pil(face))
