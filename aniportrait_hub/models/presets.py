"""Named architecture presets (architecture config: the arguments of each component).

- ``reference``: the sizes of the authors' release (METHOD.md 1.3-1.4): radiance 8 x 256 with a
  256 x 3 mapping, M 128 x 3, D^e 128 x 3, U with 4 RRDBs (64/32) upscaling 128 -> 512, 64
  samples per ray.
- ``small``: for CPU demos and tests (our choice): radiance 4 x 64, M 64 x 2, D^e 64 x 2, U with
  1 RRDB (16/8) upscaling 64 -> 256, 32 samples per ray; a 256^2 portrait.
- ``default``: the embedded default model, sized for a 2-core CPU (our choice; each size named
  here): M as the reference (128 x 3: it is read from a grid, so its size costs nothing per
  frame); radiance 6 x 128 with a 128 x 3 mapping and 8 feature channels (bake of the 24
  128^2 maps ~1.2 s here, the reference's 8 x 256 3.5 s), opacity scaled x60 so raw outputs of
  +-2 span empty to solid, and points scaled x4.5 (``input_scale``: the 0.44-wide bake window
  to [-1, 1], SIREN's designed range; in 3 minutes from scratch the opacity BCE fell to 0.30
  against 0.48 unscaled); D^e 3 x 128 (reference width) on support-box coordinates
  (``input_scale`` 1); D^p the reference 5 x 9 x 9; U with
  1 RRDB (16/8) upscaling 128 -> 512 and a 64-d style (~1 s of the bake; 32/16 took ~2.5 s);
  32 samples per ray (M is near-linear in depth around the manifolds, so crossings interpolate
  exactly between coarse samples) on a 16 x 40 x 40 pose grid (frame cost); phi and U also see
  the body shape (``radiance_betas``); 512^2.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "reference": {
        "manifold": dict(hidden=128, depth=3),
        "radiance": dict(hidden=256, num_layers=8, mapping_hidden=256, mapping_depth=3, feature_channels=32),
        "pose_deformer": dict(kernel=(5, 9, 9)),
        "expression_deformer": dict(hidden=128, num_layers=3, mapping_hidden=256, mapping_depth=3),
        "superres": dict(nf=64, gc=32, num_rrdb=4, scale=4, style_dim=192, mapping_hidden=256, mapping_depth=2),
        "render": dict(map_resolution=128, samples_per_ray=64, geometry_resolution=128, pose_grid=(32, 64, 64),
                       field_grid=128),
        "resolution": 512,
        "face_resolution": 256,
    },
    "default": {
        "manifold": dict(hidden=128, depth=3),
        "radiance": dict(hidden=128, num_layers=6, mapping_hidden=128, mapping_depth=3, feature_channels=8,
                         sigma_scale=60.0, input_scale=4.5, plane_resolution=128, plane_channels=16),
        "pose_deformer": dict(kernel=(5, 9, 9)),
        "expression_deformer": dict(hidden=128, num_layers=3, mapping_hidden=128, mapping_depth=2, input_scale=1.0,
                                    output_scale=0.01, guide="face_model", guide_openings=True,
                                    guide_residual=False),
        "superres": dict(nf=16, gc=8, num_rrdb=1, scale=4, style_dim=64, mapping_hidden=128, mapping_depth=2),
        "render": dict(map_resolution=128, samples_per_ray=32, geometry_resolution=128, pose_grid=(16, 40, 40),
                       field_grid=128, bake_z_samples=64, radiance_betas=True, expression_at_samples=True,
                       expression_hold=True, mouth_cavity=(0.35, 0.12, 0.12)),
        "resolution": 512,
        "face_resolution": 256,
    },
    "small": {
        "manifold": dict(hidden=64, depth=2),
        "radiance": dict(hidden=64, num_layers=4, mapping_hidden=64, mapping_depth=2, feature_channels=8),
        "pose_deformer": dict(kernel=(3, 5, 5)),
        "expression_deformer": dict(hidden=64, num_layers=2, mapping_hidden=64, mapping_depth=2),
        "superres": dict(nf=16, gc=8, num_rrdb=1, scale=4, style_dim=32, mapping_hidden=64, mapping_depth=1),
        "render": dict(map_resolution=64, samples_per_ray=32, geometry_resolution=128, pose_grid=(16, 48, 48),
                       field_grid=96, bake_z_samples=48),
        "resolution": 256,
        "face_resolution": 128,
    },
}


def preset(name: str) -> dict:
    """The component arguments of a named preset."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name]
