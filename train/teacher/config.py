"""The teacher's run config (:class:`TeacherConfig`, a docstring per field) and its phases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

PHASES = ("data", "manifold", "radiance", "face", "expression", "superres", "export")


@dataclasses.dataclass
class TeacherConfig:
    """Run config of the teacher recipe (every value our choice unless it says otherwise)."""

    out: Path = Path("runs/teacher")
    """Run folder (phase checkpoints, data, pictures, ``pipeline/``)."""
    preset: str = "default"
    """Architecture preset of the model."""
    seed: int = 0
    """Seed of the synthesizer (identity i is sample i of this seed) and of training."""
    identities: int = 320
    """Synthetic people taught (held-out samples, index % 10 == 9, are skipped)."""
    high_res: int = 512
    """Teacher map resolution for U (map_resolution x U's scale)."""
    supersample: int = 4
    """Sub-rays per texel side for the bake-resolution targets."""
    workers: int = 2
    """Processes building the teacher data."""
    appearance: str = "derived"
    """Appearance code of a training identity: "derived" = the synthesizer's appearance
    parameters sent to N(0, I) (:mod:`aniportrait_hub.data.appearance_code`). The model's eps
    is exactly that code (``noise_dim`` = CODE_DIM = 15 instead of the reference's 80): free
    random dimensions cost phi a long time to learn to ignore."""
    front_margin: float = 0.012
    """Manifold slab: margin in front of the front-most surface (world units)."""
    back_margin: float = 0.015
    """Manifold slab: margin behind the rearmost surface."""
    min_thickness: float = 0.04
    """Manifold slab: minimum thickness."""
    slab_dilation: int = 7
    """Texels of max/min filtering of the slab bounds (covers silhouettes) before blurring."""
    slab_blur: float = 2.0
    """Gaussian blur (texels) of the slab bounds (keeps M smooth: single crossings per ray)."""
    manifold_steps: int = 3000
    """Adam steps of M."""
    manifold_points: int = 16384
    """Points per M step."""
    radiance_minutes: float = 40.0
    """Wall-clock budget of the radiance phase (it stops at this or ``radiance_steps``)."""
    radiance_steps: int = 100000
    """Step limit of the radiance phase."""
    radiance_batch: int = 4
    """Identities per radiance step."""
    radiance_points: int = 8192
    """Bake points per identity and step."""
    near_weight: float = 6.0
    """Sampling weight of bake points within ``near_band`` of the surface (others 1)."""
    near_band: float = 0.015
    """Near-surface band (world units)."""
    opacity_ramp: float = 0.003
    """Opacity targets soften over this depth (world units)."""
    lr_radiance: float = 2e-4
    """Adam learning rate of phi (cosine decay to 10% over the phase)."""
    lr_mapping_factor: float = 1.0
    """Learning rate factor of phi's mapping network."""
    rgb_weight: float = 2.0
    """Weight of the colour L1 against the opacity BCE."""
    lr_plane: float = 5e-3
    """Adam learning rate of phi's feature plane, if it has one (a table: each cell moves by
    about the learning rate a step whatever its gradient's scale)."""
    add_plane: bool = False
    """Warm start: give a loaded stage's plane-less phi the preset's feature plane
    (:meth:`RadianceGenerator.with_plane`; renders unchanged until trained). How the shipped
    model, whose phi predates the plane, got one."""
    face_minutes: float = 15.0
    """Wall-clock budget of the face phase (radiance continued, face-weighted sampling)."""
    face_weight: float = 8.0
    """Face phase: sampling weight factor of texels in ``face_box``."""
    face_box: tuple[float, float, float, float] = (-0.075, 0.075, -0.10, 0.08)
    """Face phase: canonical (x0, x1, y0, y1) of the face (world units; face centre at 0)."""
    lr_face: float = 1e-4
    """Adam learning rate of the face phase (cosine decay to 10%)."""
    expression_bank: int = 2048
    """(person, expression) rows of D^e's precomputed Eq. 10 targets."""
    expression_steps: int = 3000
    """Adam steps of D^e."""
    expression_batch: int = 32
    """Bank rows (people x expressions) per D^e step."""
    expression_vertices: int = 512
    """Face vertices per row and step, drawn at random (0: all of them)."""
    lr_expression: float = 5e-4
    """Adam learning rate of D^e (cosine decay to 10%)."""
    expression_smooth_weight: float = 1e3
    """Weight of D^e's smoothness term (Eq. 12) against 1e4 on the imitation (Eq. 10)."""
    expression_smooth_sigma: float = 0.002
    """Eq. 12's neighbour distance (world units): the std of the perturbation it compares D^e
    across. The face model's offsets jump across the lip seam and the lids (one side still, the
    other moving), which the 1 cm of the first runs smoothed away: with 2 mm (and the offset
    sampling below) blink's face-mesh Spearman went -0.26 -> -0.63 at the same 3,000 steps."""
    renew_expression_deformer: bool = False
    """Before the expression phase, replace the stage's D^e by a new one of the preset's
    architecture (to teach an older stage's D^e anew, e.g. with the preset's expression basis)."""
    expression_offset_sampling: float = 1.0
    """0: a step's face vertices are drawn uniformly; s > 0: with probability proportional to
    ``|offset| + s * mean |offset|`` of their bank row (the lips and lids, which move most)."""
    expression_gap_weight: float = 0.0
    """Weight (against Eq. 10's imitation) of the gap targets: where an expression opens a seam
    (the lips under jawOpen), Eq. 10 has no vertex in the opening, and the minimality term maps
    its points to themselves, so a render shows the canonical lower lip and chin stretched over
    it instead of a mouth. The gap targets send points between the two sides of each opened
    seam (and up to ``expression_gap_depth`` in front of and behind it) to the closed seam, whose
    canonical colour is the dark line between the lips. 0 (default): the paper's losses only.
    Measured (2026-12-02, the shipped D^e taught 2,000 more steps, evaluation's 16 new seeds):
    weight 2 raised jawOpen's Spearman 0.47 -> 0.60; weight 3 (lip pairs only) gave 0.44 and
    blink -0.39, as the imitation RMS rose 0.70 -> 1.31 mm: at this D^e's size the gap targets
    take capacity from Eq. 10, so they are not on by default."""
    expression_gap_points: int = 256
    """Gap points per row and step."""
    expression_gap_depth: float = 0.003
    """Std (world units) of the gap points' offset along the face's forward axis (+z)."""
    superres_minutes: float = 15.0
    """Wall-clock budget of the super-resolution phase."""
    superres_steps: int = 100000
    """Step limit of the super-resolution phase."""
    superres_batch: int = 2
    """Identities per U step."""
    superres_crop: int = 32
    """Low-resolution crop side of a U step (its high-resolution target is x scale)."""
    superres_face_share: float = 0.5
    """Share of U's crops centred on a texel of ``face_box`` (the rest anywhere on the person)."""
    lr_superres: float = 5e-4
    """Adam learning rate of U."""
    priors_rows: int = 4096
    """Rows of the exported label priors (drawn from the synthesizer's label distribution)."""
    device: str = "cpu"
    """Torch device ("cuda" on a GPU)."""
    threads: int = 0
    """CPU threads (0: torch's default)."""
    log_every: int = 50
    """Steps between log lines (``log.jsonl``)."""
    preview_every: int = 500
    """Steps between preview pictures (``previews/``) in the radiance and U phases (0: none)."""

    def validate(self) -> None:
        if self.identities < 2:
            raise ValueError(f"identities must be >= 2, got {self.identities}")
        if self.appearance != "derived":
            raise ValueError(f"appearance must be 'derived', got {self.appearance!r}")
        if self.supersample < 1 or self.high_res < 16:
            raise ValueError("supersample must be >= 1 and high_res >= 16")
