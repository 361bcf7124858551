"""The trainable assemblies: the generator as one module whose ``forward`` renders a batch and
its regularisers (so DDP sees one forward per backward), the three discriminators as one
module, and the EMA copy.

The library's modules do not know they are trained (DESIGN.md); everything about stages,
losses and freezing lives here and in ``train.py``.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from aniportrait_hub.body.skinning import inverse_skinning
from aniportrait_hub.deformation.expression_deformer import imitation_targets
from aniportrait_hub.models.discriminator import PortraitDiscriminator
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from aniportrait_hub.rendering.cameras import camera_rays, portrait_camera
from aniportrait_hub.rendering.renderer import PortraitRenderer, radiance_latent

from train.config import LossConfig
from train.data import Conditions, RegPoints

#: Sub-networks trained in each stage (METHOD.md 1.7).
STAGE_MODULES = {1: ("manifold", "radiance", "pose_deformer", "expression_deformer"), 2: ("superres",)}
GENERATOR_MODULES = ("manifold", "radiance", "pose_deformer", "expression_deformer", "superres")


@dataclasses.dataclass
class GeneratorOutput:
    image: torch.Tensor
    """[B, 3, R, R] portrait in [0, 1]."""
    face: torch.Tensor
    """[B, 3, Rf, Rf] face-camera image."""
    depth: torch.Tensor
    """[B, 1, R, R]."""
    regularisers: dict[str, torch.Tensor]
    """Unweighted regulariser terms (scalars)."""


class TrainGenerator(nn.Module):
    """The pipeline's networks as one module; ``forward(conditions)`` renders (stage 1: phi at
    the intersections, differentiable in every network but U; stage 2: the bake with U, then
    lookups, differentiable in U only)."""

    def __init__(self, pipe: AniPortraitGAN, stage: int, resolution: int, face_resolution: int,
                 trainable: bool = True):
        super().__init__()
        for name in GENERATOR_MODULES:
            self.add_module(name, getattr(pipe, name))
        self.stage, self.resolution, self.face_resolution = stage, resolution, face_resolution
        self.settings = pipe.render_settings
        self.body = pipe.assets.body_model()
        self.face_model = pipe.assets.face_model()
        for name in GENERATOR_MODULES:
            getattr(self, name).requires_grad_(trainable and name in STAGE_MODULES[stage])
        # The body / face models are data (smplx keeps unused pose parameters; a trainable
        # parameter without a gradient would stall DDP's reduction).
        self.body.requires_grad_(False)
        self.face_model.requires_grad_(False)
        de = self.expression_deformer.config
        if de.guide != "none" and not de.guide_residual:
            # The guide alone moves the points: D^e's network is never evaluated, and its
            # parameters (14 in the default model) would have no gradient, which stalls DDP.
            self.expression_deformer.requires_grad_(False)
        self._heights = None
        self._renderer = None
        self._field = None

    def enable_network_autocast(self, dtype: torch.dtype = torch.bfloat16) -> None:
        """Mixed precision for the networks only (phi, D^e, U and their mappings run under
        autocast and hand float32 back); M, body model, skinning, D^p, rays, intersections and
        compositing stay float32 (``forward`` turns any outer autocast off). M stays out: its
        value picks the manifold a ray meets, and in bf16 it moved by up to 2.6 against a level
        spacing of 0.65, so intersections jumped levels."""
        for name in ("radiance", "expression_deformer", "superres"):
            mod = getattr(self, name)
            for m in (mod, getattr(mod, "mapping_net", None)):
                if m is not None:
                    m.forward = _autocast_forward(m, dtype)

    def renderer(self) -> PortraitRenderer:
        """Built once: it keeps what it derives from the face model (a guided D^e's seam pairs,
        52 body passes) across steps."""
        if self._renderer is None:
            self._renderer = PortraitRenderer(self.settings, self.body, self.manifold, self.radiance,
                                              self.pose_deformer, self.expression_deformer, self.superres,
                                              face_model=self.face_model)
        return self._renderer

    def forward(self, cond: Conditions, reg: RegPoints | None = None) -> GeneratorOutput:
        """Render the conditions' batch; with ``reg`` (stage 1) also the regulariser terms."""
        with torch.autocast(device_type=cond.face_id.device.type, enabled=False):
            return self._forward(cond, reg)

    def _forward(self, cond: Conditions, reg: RegPoints | None) -> GeneratorOutput:
        r = self.renderer()
        z = radiance_latent(self.settings, cond.face_id, cond.noise, cond.betas)
        if self.stage == 1:
            film = self.radiance.mapping(z)
            out = r.render_direct(film, cond.face_id, cond.betas, cond.expression, cond.joint_eulers, cond.camera,
                                  self.resolution, self.face_resolution)
            regs = self.regularisers(cond, reg) if reg is not None else {}
            return GeneratorOutput(out.image, out.face_image, out.depth, regs)
        # Stage 2: frozen geometry and phi (the bake builds no graph for them), trained U.
        if self._heights is None:
            self._heights, self._field = r.manifold_heights(), r.field_grid()
        cache = r.bake(cond.face_id, cond.betas, cond.noise, heights=self._heights)
        out = r.render(cache, cond.expression, cond.joint_eulers, cond.camera, self.resolution, fast=True,
                       face_resolution=self.face_resolution, field=self._field)
        return GeneratorOutput(out.image, out.face_image, out.depth, {})

    # ------------------------------------------------------------------ regularisers (stage 1)
    def regularisers(self, cond: Conditions, reg: RegPoints, grid: tuple[int, int, int] = (8, 16, 16)):
        """Eq. 10-13 (unweighted), each a mean over the batch. Random points come in ``reg``."""
        b = cond.face_id.shape[0]
        dev = cond.face_id.device
        exp_film = self.renderer().expression_film(cond.face_id, cond.betas, cond.expression)
        # Eq. 10: at expressive face points, D^e undoes the 3DMM expression offset.
        fm = self.face_model
        ids = fm.body_vertex_ids[reg.face_vertices.to(dev)]
        x_p, target = imitation_targets(self.body, fm, cond.face_id, cond.betas, cond.expression, ids)
        imitation = (self.expression_deformer(x_p, exp_film) - target).pow(2).sum(-1).mean()
        # Eq. 12-13: random points of D^e's support box.
        cfg = self.expression_deformer.config
        c, h = torch.tensor(cfg.region_center, device=dev), torch.tensor(cfg.region_half_size, device=dev)
        x = c + reg.box.to(dev) * h  # reg.box in [-1, 1]
        delta = reg.delta.to(dev)
        d_x = self.expression_deformer(x, exp_film)
        smooth_e = (d_x - self.expression_deformer(x + delta, exp_film)).pow(2).sum(-1).mean()
        minimal = d_x.pow(2).sum(-1).mean()
        # Eq. 11: D^p(T) vs AvgPool(T) on a coarse grid of the portrait frustum.
        with torch.no_grad():
            body_out = self.body(cond.betas, cond.joint_eulers)
            st = self.settings
            cam = portrait_camera(cond.camera, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
            dn, hn, wn = grid
            o, d = camera_rays(cam, hn, wn)
            t = torch.linspace(st.portrait_radius - st.ray_half_depth, st.portrait_radius + st.ray_half_depth, dn,
                               dtype=o.dtype, device=dev)
            pts = o.unsqueeze(2) + d.unsqueeze(2) * t.view(1, 1, -1, 1)
            sk = inverse_skinning(pts.reshape(b, -1, 3), body_out, self.body.candidate_vertex_ids, return_transforms=True)
            tgrid = sk.transforms.reshape(b, hn, wn, dn, 16).permute(0, 4, 3, 1, 2)  # [B, 16, D, H, W]
            k = self.pose_deformer.config.kernel
            pad = [k[2] // 2, k[2] // 2, k[1] // 2, k[1] // 2, k[0] // 2, k[0] // 2]
            pooled = F.avg_pool3d(F.pad(tgrid, pad, mode="replicate"), tuple(k), stride=1)
        smooth_p = (self.pose_deformer(tgrid) - pooled).pow(2).mean()
        return {"imitation": imitation, "expression_smoothness": smooth_e, "minimal_deformation": minimal,
                "pose_smoothness": smooth_p}


def _float(x):
    if torch.is_tensor(x):
        return x.float() if x.is_floating_point() else x
    if dataclasses.is_dataclass(x):
        return type(x)(**{f.name: _float(getattr(x, f.name)) for f in dataclasses.fields(x)})
    return x


def _autocast_forward(module: nn.Module, dtype: torch.dtype):
    """``module.forward`` under autocast, outputs back in float32 (an instance attribute, so the
    class and deep copies of the module -- the EMA -- are untouched)."""
    fwd = type(module).forward

    def run(*args, **kwargs):
        dev = next(module.parameters()).device.type
        with torch.autocast(device_type=dev, dtype=dtype):
            return _float(fwd(module, *args, **kwargs))

    return run


class Discriminators(nn.Module):
    """D_whole (portrait), D_face (face-camera image), D_torso (lower quarter of the portrait)."""

    def __init__(self, resolution: int, face_resolution: int, channel_base: int, channel_max: int, mbstd_group: int,
                 camera: bool):
        super().__init__()
        kw = dict(channel_base=channel_base, channel_max=channel_max, mbstd_group=mbstd_group,
                  camera_dim=2 if camera else 0)
        self.whole = PortraitDiscriminator(resolution=resolution, **kw)
        self.face = PortraitDiscriminator(resolution=face_resolution, **kw)
        self.torso = PortraitDiscriminator(resolution=resolution // 4, aspect=4, **kw)

    @staticmethod
    def torso_strip(image: torch.Tensor) -> torch.Tensor:
        """The lower quarter of portraits [B, 3, R, R] -> [B, 3, R/4, R]."""
        r = image.shape[-2]
        return image[..., r - r // 4:, :]

    def logits(self, image: torch.Tensor, face: torch.Tensor, camera: torch.Tensor | None = None) -> dict:
        """Logits [B] of each discriminator for one set of images."""
        return {"whole": self.whole(image, camera), "face": self.face(face, camera),
                "torso": self.torso(self.torso_strip(image), camera)}

    def forward(self, *sets: tuple) -> list[dict]:
        """Logits of each set of (image, face, camera) -- reals and fakes as separate sets in
        one call (one DDP forward; minibatch-std groups never mix reals with fakes)."""
        return [self.logits(*s) for s in sets]


class EMA:
    """Exponential moving average of the trained generator networks (fp32; buffers copied)."""

    def __init__(self, gen: TrainGenerator, decay: float):
        self.decay = decay
        self.modules = {n: copy.deepcopy(getattr(gen, n)).float().requires_grad_(False) for n in GENERATOR_MODULES}

    def to(self, device) -> "EMA":
        """Move the averages (the trainer: to the accelerator's device, after ``prepare``)."""
        for m in self.modules.values():
            m.to(device)
        return self

    @torch.no_grad()
    def update(self, gen: TrainGenerator, trained: tuple[str, ...], step: int | None = None) -> None:
        """One EMA step; with ``step``, the decay ramps up as min(decay, (1 + step) / (10 + step))
        so that early in a run the average follows the generator instead of its initialisation."""
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for n in trained:  # frozen modules never change: their copies stay as made
            src, dst = getattr(gen, n), self.modules[n]
            for ps, pd in zip(src.parameters(), dst.parameters()):
                pd.lerp_(ps.detach().float(), 1 - decay)
            for bs, bd in zip(src.buffers(), dst.buffers()):
                bd.copy_(bs)

    def state_dict(self) -> dict:
        return {n: m.state_dict() for n, m in self.modules.items()}

    def load_state_dict(self, state: dict) -> None:
        for n, m in self.modules.items():
            m.load_state_dict(state[n])


def loss_regularisers(regs: dict[str, torch.Tensor], cfg: LossConfig) -> dict[str, torch.Tensor]:
    """Weighted regulariser terms (only the non-zero weights)."""
    weights = {"imitation": cfg.imitation, "expression_smoothness": cfg.expression_smoothness,
               "minimal_deformation": cfg.minimal_deformation, "pose_smoothness": cfg.pose_smoothness}
    return {k: weights[k] * v for k, v in regs.items() if weights[k]}
