"""Expression deformer D^e (AniFaceGAN; METHOD.md 1.4, Eq. 6-7, 10, 12-13).

``x_c = x_p + delta(x_p, z_id, z_exp)``: neutralises the expression of a point of the
neutral-pose space. A mapping of [z_id, z_exp] modulates 3 FiLM-SIREN layers of width 128
(reference); the output layer is zero-initialised, so training starts from the identity.

Support (our choice, named ``region_center`` / ``region_half_size`` / ``region_falloff``): the
displacement is multiplied by a smooth box weight around the face (1 inside the box, cosine
falloff to 0 over ``region_falloff``), so it is exactly zero away from the face. The 3DMM it
imitates moves face vertices only; the support makes that structural and lets renderers skip
the network elsewhere.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from aniportrait_hub.body.conventions import NUM_BETAS
from aniportrait_hub.conditioning.mapping import FiLMMapping, FiLMParams
from aniportrait_hub.fields.siren import FiLMSiren
from aniportrait_hub.host import on_host


class ExpressionDeformer(ModelMixin, ConfigMixin):
    """D^e. ``mapping(z_id, z_exp)`` per frame, ``forward(points, film)`` per point.

    Args:
        id_dim / exp_dim: face identity and expression sizes (reference 80 / 64 for BFM; the
            open face model has 80 / 52).
        hidden / num_layers: FiLM-SIREN width and depth (reference 128 x 3).
        mapping_hidden / mapping_depth: mapping MLP.
        region_center / region_half_size / region_falloff: the support box (world units,
            neutral-pose space; the face centre is the origin).
        input_scale: points enter the SIREN as ``input_scale * (x - region_center) /
            region_half_size`` when > 0 (our choice for the default model: the support box spans
            [-s, s], so SIREN frequencies resolve the jaw, lips and lids; the face is only
            +-0.1 world units wide, where the reference's raw coordinates give the first layer
            about one radian of phase across the face); 0 = raw coordinates (reference).
        output_scale: the output layer's value is multiplied by this (our choice; reference 1).
            Expression offsets are millimetres in world units of metres: with a unit scale one
            Adam step of 5e-4 on the 128 output weights can move a point by centimetres, and
            D^e's imitation error stayed at the size of the offsets themselves (0.5% explained
            after 600 steps); 0.01 makes the output's natural unit a centimetre.
        basis_hidden / basis_layers: an expression basis beside the FiLM-SIREN (our choice; 0 =
            reference, FiLM-SIREN only). A sine network of the point alone (``basis_layers`` x
            ``basis_hidden``, learned per-layer frequencies) gives ``exp_dim`` displacement fields
            B_k(x), and ``delta = FiLM-SIREN(x) + sum_k z_exp[k] B_k(x)``. The face model D^e
            imitates is a linear blendshape model: the displacement that undoes unit k is
            constant along each vertex's path, so B_k carries it exactly for one unit and the
            FiLM-SIREN only the identity's and the mixtures' residual. Without it, D^e taught on
            a bank of 2,048 (person, expression) rows undid 52% of a full jawOpen and 33% of a
            full blink on new people (80% on its own rows): the frequencies FiLM modulates
            change the field's shape non-linearly with every unit.
        guide: ``"none"`` (reference: the network is D^e) or ``"face_model"`` (our choice for the
            default model): ``delta(x) = sum_j w_j (x_n,j - x_p,j) + network(x)``, the face
            model's own backward warp at the ``guide_neighbours`` vertices of the expressive face
            nearest to x (x_p,j, with x_n,j their neutral positions: exactly Eq. 10's targets),
            blended by ``w = softmax(-|x - x_p,j|^2 / guide_sigma^2)``, with the network as a
            learned residual (zero-initialised). Eq. 10 asks D^e to imitate the face model; the
            guide is that imitation at its limit, the way mesh-guided deformation fields do it
            (RigNeRF, INSTA). Why: the network alone, taught on this CPU, undid half a jawOpen
            (MediaPipe's ARKit model read 0.47 at jawOpen 1 on 16 new people, the teacher 0.81;
            smile 0.22 vs 0.88); the guide reads 0.73 and 0.61, and the opened mouth is dark
            (face-mesh jawOpen Spearman 0.46 -> 0.70). At full closure the lids meet: a ray takes
            the lid's offset (14 mm) in front of it and the eyeball's (0) behind it, and showed the
            canonical eye in a band (blink -0.63 -> -0.31) until the renderer held the offset
            behind the face (:attr:`RenderSettings.expression_hold`).
            The frame's guide comes with the FiLM parameters (``mapping(..., guide=)``;
            :meth:`PortraitRenderer.expression_film` builds it).
        guide_neighbours / guide_sigma: the blend's vertex count and width (world units).
        guide_openings: the guide also carries points inside the openings of the seams the
            expression parts (:func:`seam_pairs`: the lips), sent to the closed seam, the dark
            line between the lips, at their own depth (our choice). Without them a point of an
            open mouth takes the offset of the nearer lip and shows lip where the teacher shows
            the dark mouth (the face mesh then reads closed lips).
        guide_reach: the guide's reach (world units): the blend has a null neighbour (offset 0)
            at this distance, so the displacement fades to 0 farther than it from the expressive
            face (deep in the head, out in the air), and the neighbour search gives up there.
        guide_residual: with a guide, add the network's residual (True) or use the guide alone
            (False: the network is not evaluated; a 128^2 frame spends ~1.4 s in it here).
    """

    @register_to_config
    def __init__(self, id_dim: int = 80, exp_dim: int = 52, hidden: int = 128, num_layers: int = 3,
                 mapping_hidden: int = 256, mapping_depth: int = 3,
                 region_center: tuple[float, float, float] = (0.0, -0.01, -0.02),
                 region_half_size: tuple[float, float, float] = (0.09, 0.12, 0.09),
                 region_falloff: float = 0.03, input_scale: float = 0.0, output_scale: float = 1.0,
                 basis_hidden: int = 0, basis_layers: int = 3, guide: str = "none", guide_neighbours: int = 4,
                 guide_sigma: float = 0.003, guide_openings: bool = False, guide_residual: bool = True,
                 guide_reach: float = 0.015):
        super().__init__()
        if guide not in GUIDES:
            raise ValueError(f"guide must be one of {GUIDES}, got {guide!r}")
        self.layers = nn.ModuleList([FiLMSiren(3 if i == 0 else hidden, hidden, first=i == 0)
                                     for i in range(num_layers)])
        self.out = nn.Linear(hidden, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.mapping_net = FiLMMapping(id_dim + exp_dim, mapping_hidden, mapping_depth, num_layers, hidden)
        if basis_hidden:
            self.basis_net = nn.ModuleList([FiLMSiren(3 if i == 0 else basis_hidden, basis_hidden, first=i == 0)
                                               for i in range(basis_layers)])
            # Unmodulated sine layers: their frequency and phase are learned, starting at
            # pi-GAN's unmodulated values (frequency 30, phase 0).
            self.basis_freqs = nn.Parameter(torch.full((basis_layers, basis_hidden), 30.0))
            self.basis_phases = nn.Parameter(torch.zeros(basis_layers, basis_hidden))
            self.basis_out = nn.Linear(basis_hidden, 3 * exp_dim)
            nn.init.zeros_(self.basis_out.weight)
            nn.init.zeros_(self.basis_out.bias)

    def mapping(self, face_id: torch.Tensor, expression: torch.Tensor,
                guide: "ExpressionGuide | None" = None) -> FiLMParams:
        """face_id [B, id_dim], expression [B, exp_dim] -> FiLM parameters; ``guide`` is the
        frame's :class:`ExpressionGuide` (required with ``guide="face_model"``)."""
        if expression.dim() != 2 or expression.shape[1] != self.config.exp_dim:
            raise ValueError(f"expression must be [B, {self.config.exp_dim}] for this model, got "
                             f"{tuple(expression.shape)}")
        if self.config.guide != "none" and guide is None:
            raise ValueError("this D^e is guided by the face model: pass the frame's ExpressionGuide "
                             "(PortraitRenderer.expression_film builds it)")
        z = torch.cat([face_id, expression], -1)
        film = self.mapping_net(z.to(self.dtype))
        return FiLMParams(film.freqs.to(z.dtype), film.phases.to(z.dtype),
                          coefficients=expression if self.config.basis_hidden else None,
                          guide=guide if self.config.guide != "none" else None)

    def region_weight(self, points: torch.Tensor) -> torch.Tensor:
        """Support weight in [0, 1]: points [..., 3] -> [...]."""
        c = points.new_tensor(self.config.region_center)
        h = points.new_tensor(self.config.region_half_size)
        f = self.config.region_falloff
        out = ((points - c).abs() - h).clamp(min=0.0) / f  # 0 inside, 1 at the falloff's end
        w = 0.5 * (1 + torch.cos(math.pi * out.clamp(max=1.0)))
        return w.prod(-1)

    def forward(self, points: torch.Tensor, film: FiLMParams) -> torch.Tensor:
        """points [B, N, 3] (neutral pose) -> displacement delta [B, N, 3]; x_c = x_p + delta."""
        cfg = self.config
        if cfg.guide == "none":
            out = self._network(points, film)
        else:
            if film.guide is None:
                raise ValueError("this D^e is guided by the face model: its FiLM parameters must come from "
                                 "mapping(..., guide=) (PortraitRenderer.expression_film)")
            out = film.guide.offsets_at(points, cfg.guide_neighbours, cfg.guide_sigma, cfg.guide_reach)
            if cfg.guide_residual:
                out = out + self._network(points, film)
        return out * self.region_weight(points).unsqueeze(-1)

    def _network(self, points: torch.Tensor, film: FiLMParams) -> torch.Tensor:
        """The FiLM-SIREN (and basis) displacement, before the support weight."""
        dt = self.dtype
        h = points.to(dt)
        s = self.config.input_scale
        if s > 0:
            c, half = h.new_tensor(self.config.region_center), h.new_tensor(self.config.region_half_size)
            h = s * (h - c) / half
        x = h
        for i, layer in enumerate(self.layers):
            h = layer(h, film.freqs[:, i].to(dt), film.phases[:, i].to(dt))
        out = self.out(h)
        if self.config.basis_hidden:
            if film.coefficients is None:
                raise ValueError("this D^e has an expression basis: its FiLM parameters must come from its "
                                 "own mapping() (they carry the expression coefficients)")
            g = x
            for i, layer in enumerate(self.basis_net):
                g = layer(g, self.basis_freqs[i].expand(g.shape[0], -1), self.basis_phases[i].expand(g.shape[0], -1))
            basis = self.basis_out(g).unflatten(-1, (self.config.exp_dim, 3))  # [B, N, K, 3]
            out = out + torch.einsum("bk,bnkc->bnc", film.coefficients.to(dt), basis)
        if self.config.output_scale != 1.0:
            out = out * self.config.output_scale
        return out.to(points.dtype)


GUIDES = ("none", "face_model")


@dataclasses.dataclass
class ExpressionGuide:
    """One frame's face-model warp: ``points`` [B, V, 3] the expressive face's vertices in the
    neutral pose (x_p), ``offsets`` [B, V, 3] what undoes the expression there (x_n - x_p)."""

    points: torch.Tensor
    offsets: torch.Tensor
    faces: torch.Tensor | None = None
    """[F, 3] the expressive face's triangles (indices into the first points: the vertices), for
    :meth:`first_hits`; None where the guide was built without them."""

    @classmethod
    def from_face_model(cls, body, face_model, face_id: torch.Tensor, betas: torch.Tensor, expression: torch.Tensor,
                        seams: torch.Tensor | None = None, across: int = 6,
                        depths: tuple[float, ...] = (-0.006, -0.003, 0.0, 0.003),
                        faces: torch.Tensor | None = None) -> "ExpressionGuide":
        """The guide of B frames: every face vertex of ``face_model`` (Eq. 10's pairs), and with
        ``seams`` ([P, 2] from :func:`seam_pairs`) ``across`` points on each opened pair's
        segment at each of ``depths`` (world z), whose offset leads to the seam's neutral
        midpoint at the same depth. Pairs that have not parted (by 2 mm beyond their neutral
        distance) place their points far away, where no query finds them. ``faces``: the face
        mesh's :func:`face_triangles` where the caller keeps them (a property of the mesh)."""
        x_p, t = imitation_targets(body, face_model, face_id, betas, expression, face_model.body_vertex_ids)
        if faces is None:
            faces = face_triangles(body.faces, face_model.body_vertex_ids)
        if seams is None or not len(seams):
            return cls(x_p, t, faces)
        up, lp = x_p[:, seams[:, 0]], x_p[:, seams[:, 1]]  # [B, P, 3]
        un, ln = up + t[:, seams[:, 0]], lp + t[:, seams[:, 1]]
        parted = (lp - up).norm(dim=-1) - (ln - un).norm(dim=-1) > 0.002  # [B, P]
        s = torch.linspace(0, 1, across + 2, device=x_p.device, dtype=x_p.dtype)[1:-1]
        z = x_p.new_tensor(depths)
        ez = x_p.new_tensor([0.0, 0.0, 1.0])
        seg = up[:, :, None] + s[None, None, :, None] * (lp - up)[:, :, None]  # [B, P, A, 3]
        pts = seg[:, :, :, None] + z[:, None] * ez  # [B, P, A, D, 3]
        off = ((un + ln) / 2)[:, :, None, None] - seg[:, :, :, None]  # the same at every depth
        off = off.expand_as(pts)
        pts = torch.where(parted[:, :, None, None, None], pts, pts.new_tensor(PARKED))
        b = x_p.shape[0]
        return cls(torch.cat([x_p, pts.reshape(b, -1, 3)], 1), torch.cat([t, off.reshape(b, -1, 3)], 1), faces)

    def __getitem__(self, index) -> "ExpressionGuide":
        return ExpressionGuide(self.points[index], self.offsets[index], self.faces)

    @torch.no_grad()
    def first_hits(self, origins: torch.Tensor,
                   directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Where rays in the neutral pose (origins, unit directions [B, R, 3]) first meet the
        expressive face: the distance along each ray [B, R] (inf on a miss), the point
        [B, R, 3] (the origin on a miss) and the triangle hit [B, R] (an index into ``faces``;
        -1 on a miss). Embree's ray casting, as the synthetic renderer's."""
        from aniportrait_hub.data.raycast import cast

        if self.faces is None:
            raise ValueError("this ExpressionGuide has no triangles (build it with from_face_model)")
        if not on_host(origins):
            return self._first_hits_torch(origins, directions)
        n_v = int(self.faces.max()) + 1
        depth = torch.full(origins.shape[:2], float("inf"), dtype=origins.dtype, device=origins.device)
        triangle = torch.full(origins.shape[:2], -1, dtype=torch.long, device=origins.device)
        for b in range(origins.shape[0]):
            hits = cast(self.points[b, :n_v].double().cpu().numpy(), self.faces.cpu().numpy(),
                        origins[b].double().cpu().numpy(), directions[b].double().cpu().numpy(), (origins.shape[1],))
            depth[b] = torch.from_numpy(hits.depth).to(depth)
            triangle[b] = torch.from_numpy(hits.triangle).to(triangle)
        hit = torch.isfinite(depth)
        points = origins + directions * torch.where(hit, depth, torch.zeros_like(depth)).unsqueeze(-1)
        return depth, points, triangle

    def _first_hits_torch(self, origins: torch.Tensor, directions: torch.Tensor,
                          chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`first_hits` as batched Moller-Trumbore ray-triangle tests in torch (every ray
        against every triangle, ``chunk`` rays at a time): no host copies, for accelerators.
        Embree's answers to within float32 rounding (test)."""
        tri = self.points[:, self.faces.reshape(-1)].view(origins.shape[0], -1, 3, 3).to(origins.dtype)  # [B, F, 3, 3]
        v0, e1, e2 = tri[:, :, 0], tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0]
        depth, triangle = [], []
        for o, d in zip(origins.split(chunk, 1), directions.split(chunk, 1)):
            p = torch.cross(d[:, :, None], e2[:, None], dim=-1)  # [B, r, F, 3]
            det = (e1[:, None] * p).sum(-1)
            inv = 1.0 / torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
            s = o[:, :, None] - v0[:, None]
            u = (s * p).sum(-1) * inv
            q = torch.cross(s, e1[:, None].expand_as(s), dim=-1)
            v = (d[:, :, None] * q).sum(-1) * inv
            t = (e2[:, None] * q).sum(-1) * inv
            ok = (det.abs() > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
            t = torch.where(ok, t, torch.full_like(t, float("inf")))
            best, idx = t.min(-1)
            depth.append(best)
            triangle.append(torch.where(torch.isfinite(best), idx, torch.full_like(idx, -1)))
        depth, triangle = torch.cat(depth, 1), torch.cat(triangle, 1)
        hit = torch.isfinite(depth)
        points = origins + directions * torch.where(hit, depth, torch.zeros_like(depth)).unsqueeze(-1)
        return depth, points, triangle

    def offsets_at(self, points: torch.Tensor, k: int, sigma: float, reach: float) -> torch.Tensor:
        """The guide's displacement at ``points`` [B, N, 3] -> [B, N, 3]: the softmax blend of
        the k nearest guide vertices' offsets and a null one (offset 0) at distance ``reach``
        (differentiable in the points: the blend weights). A point farther than ``reach`` from
        every guide vertex gets exactly 0; such points are found first on a voxel grid of side
        ``reach`` (a voxel with no vertex in its 3 x 3 x 3 block), so the neighbour search runs
        only near the face (a 128^2 frame's 137k support samples: ~1/3 searched)."""
        from aniportrait_hub.body.skinning import nearest_vertex_indices

        if not on_host(points):
            return self._offsets_everywhere(points, k, sigma, reach)
        out = torch.zeros_like(points)
        for b in range(points.shape[0]):
            keep = self.points[b].abs().amax(-1) < PARKED / 2  # the guide's real points
            v, off = self.points[b][keep].to(points.dtype), self.offsets[b][keep].to(points.dtype)
            if not len(v) or not points.shape[1]:
                continue
            if not (off.requires_grad or points.requires_grad) and not bool(off.any()):
                continue  # a neutral face: any blend of zero offsets is exactly zero; skip the search
            lo = v.detach().amin(0) - reach
            cells = ((v.detach().amax(0) + reach - lo) / reach).floor().long() + 1
            occ = torch.zeros(*cells.tolist(), dtype=torch.float32, device=v.device)
            iv = ((v.detach() - lo) / reach).floor().long()
            occ[iv[:, 0], iv[:, 1], iv[:, 2]] = 1.0
            occ = torch.nn.functional.max_pool3d(occ[None, None], 3, stride=1, padding=1)[0, 0] > 0
            iq = ((points[b].detach() - lo) / reach).floor().long()
            inside = ((iq >= 0) & (iq < cells)).all(-1)
            near_face = inside.clone()
            iq_in = iq[inside]
            near_face[inside] = occ[iq_in[:, 0], iq_in[:, 1], iq_in[:, 2]]
            q = points[b][near_face]
            if not len(q):
                continue
            idx = nearest_vertex_indices(q[None], v[None], k, reach=reach)[0]  # [n, k]
            found = idx < len(v)
            idx = idx.clamp(max=len(v) - 1)
            out = _put_rows(out, b, near_face, _blend(q, v[idx], off[idx], found, sigma, reach))
        return out

    def _offsets_everywhere(self, points: torch.Tensor, k: int, sigma: float, reach: float) -> torch.Tensor:
        """:meth:`offsets_at` without the host's shortcuts (the voxel pre-pass, the masks, the
        skip of a neutral face): every point's k nearest guide vertices (parked ones are never
        within ``reach``), the same blend. For accelerators; equal values (test)."""
        from aniportrait_hub.body.skinning import nearest_vertex_indices

        v, off = self.points.to(points.dtype), self.offsets.to(points.dtype)
        idx = nearest_vertex_indices(points, v, k, reach=reach)  # [B, N, k]; V where none within reach
        found = idx < v.shape[1]
        idx = idx.clamp(max=v.shape[1] - 1)
        return _blend(points, _gather_rows(v, idx), _gather_rows(off, idx), found, sigma, reach)


def _blend(q: torch.Tensor, near: torch.Tensor, near_off: torch.Tensor, found: torch.Tensor, sigma: float,
           reach: float) -> torch.Tensor:
    """The guide's blend at points ``q`` [..., 3] of their k neighbours ``near`` [..., k, 3] and
    their offsets ``near_off`` (``found`` [..., k]: within reach): softmax weights of the squared
    distances over ``sigma``^2, with a null offset at distance ``reach``."""
    k = near.shape[-2]
    d2 = (q.unsqueeze(-2) - near).pow(2).sum(-1)
    d2 = torch.cat([torch.where(found, d2, reach ** 2), torch.full_like(d2[..., :1], reach ** 2)], -1)
    w = torch.softmax(-d2 / sigma ** 2, -1)[..., :k] * found
    return (near_off * w.unsqueeze(-1)).sum(-2)


def _gather_rows(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """rows [B, V, C] at idx [B, N, k] -> [B, N, k, C]."""
    b, n, k = idx.shape
    return torch.gather(rows, 1, idx.reshape(b, n * k, 1).expand(-1, -1, rows.shape[-1])).view(b, n, k, -1)


#: Where the guide parks the points of seams that have not opened (never a query's neighbour).
PARKED = 1e3


def _put_rows(target: torch.Tensor, b: int, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``target[b][mask] = values`` out of place (autograd follows it)."""
    row = target[b].masked_scatter(mask.unsqueeze(-1), values)
    return torch.cat([target[:b], row.unsqueeze(0), target[b + 1:]])


def face_triangles(body_faces: torch.Tensor, vertex_ids: torch.Tensor) -> torch.Tensor:
    """[F, 3] the body triangles whose three corners are all in ``vertex_ids``, re-indexed into it."""
    where = torch.full((int(max(body_faces.max(), vertex_ids.max())) + 1,), -1, dtype=torch.long,
                       device=vertex_ids.device)
    where[vertex_ids] = torch.arange(len(vertex_ids), device=vertex_ids.device)
    tri = where[body_faces.long().to(vertex_ids.device)]
    return tri[(tri >= 0).all(-1)]


@torch.no_grad()
def imitation_targets(body, face_model, face_id: torch.Tensor, betas: torch.Tensor, expression: torch.Tensor,
                      vertex_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 10's pairs: face vertices with the expression in the neutral pose, x_p [B, V, 3], and
    the displacement that undoes it, x_n - x_p [B, V, 3] (what D^e should output at x_p).

    ``body`` is the body model (:class:`~aniportrait_hub.body.model.BodyModel`), ``face_model``
    the face model whose offsets are added to its rest shape; vertex_ids index body vertices.
    """
    zero = torch.zeros(face_id.shape[0], 6, 3, device=face_id.device, dtype=face_id.dtype)
    x_p = body(betas, zero, vertex_ids=vertex_ids,
               rest_offsets=face_model.body_offsets(face_id, expression, vertex_ids=vertex_ids)).neutral_vertices
    x_n = body(betas, zero, vertex_ids=vertex_ids,
               rest_offsets=face_model.body_offsets(face_id, None, vertex_ids=vertex_ids)).neutral_vertices
    return x_p, x_n - x_p


def seam_pairs(body, face_model, closed_mm: float = 3.0, open_mm: float = 8.0) -> torch.Tensor:
    """[P, 2] face-vertex index pairs (into ``face_model.body_vertex_ids``) that touch in the
    neutral face (< ``closed_mm`` apart) and part under some unit at full intensity (> ``open_mm``),
    below the nose tip: the two sides of the seams an expression opens (the lips; 234 pairs under
    jawOpen in the open face model). The eyelids also leave the eyeball they touch under a blink,
    but there the lid slides over a surface that stays; sending those points to the open lid
    undid the blink (face-mesh Spearman -0.63 -> +0.07). Mean identity and shape: the pairs are a
    property of the mesh, not of the person. ``body`` is the body model, ``face_model`` the face
    model on it."""
    dev = face_model.landmark_ids.device
    n_exp = face_model.num_expression
    fid = torch.zeros(n_exp, face_model.num_identity, device=dev)
    betas = torch.zeros(n_exp, NUM_BETAS, device=dev)
    with torch.no_grad():
        x_p, t = imitation_targets(body, face_model, fid, betas, torch.eye(n_exp, device=dev), face_model.body_vertex_ids)
        x_n = (x_p + t)[0]
        near = torch.cdist(x_n, x_n) < closed_mm / 1000
        if "nose_tip" in face_model.landmark_names:
            nose_y = x_n[face_model.landmark_ids[face_model.landmark_names.index("nose_tip")], 1]
            near &= (x_n[:, None, 1] + x_n[None, :, 1]) / 2 < nose_y
        # Whether a touching pair parts is asked of the touching pairs only (a few thousand of the
        # 4,594^2 / 2): one [V, V] distance matrix per unit took 3 s of every model's first frame.
        pairs = torch.nonzero(torch.triu(near, 1))
        apart = (x_p[:, pairs[:, 0]] - x_p[:, pairs[:, 1]]).norm(dim=-1)  # [E, P]
        parted = (apart > open_mm / 1000).any(0)
    return pairs[parted]
