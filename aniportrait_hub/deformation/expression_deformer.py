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

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from aniportrait_hub.conditioning.mapping import FiLMMapping, FiLMParams
from aniportrait_hub.fields.siren import FiLMSiren


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
    """

    @register_to_config
    def __init__(self, id_dim: int = 80, exp_dim: int = 52, hidden: int = 128, num_layers: int = 3,
                 mapping_hidden: int = 256, mapping_depth: int = 3,
                 region_center: tuple[float, float, float] = (0.0, -0.01, -0.02),
                 region_half_size: tuple[float, float, float] = (0.09, 0.12, 0.09),
                 region_falloff: float = 0.03, input_scale: float = 0.0, output_scale: float = 1.0,
                 basis_hidden: int = 0, basis_layers: int = 3):
        super().__init__()
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

    def mapping(self, face_id: torch.Tensor, expression: torch.Tensor) -> FiLMParams:
        """face_id [B, id_dim], expression [B, exp_dim] -> FiLM parameters."""
        if expression.dim() != 2 or expression.shape[1] != self.config.exp_dim:
            raise ValueError(f"expression must be [B, {self.config.exp_dim}] for this model, got "
                             f"{tuple(expression.shape)}")
        z = torch.cat([face_id, expression], -1)
        film = self.mapping_net(z.to(self.dtype))
        return FiLMParams(film.freqs.to(z.dtype), film.phases.to(z.dtype),
                          coefficients=expression if self.config.basis_hidden else None)

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
        return out.to(points.dtype) * self.region_weight(points).unsqueeze(-1)


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

