"""Teacher training of the default model: the synthetic renderer supervises every network where
it knows the answer, in 3D, without rendering a single image (issue: the embedded default model).

    python -m train.teacher --out runs/teacher [--identities 320] [--radiance_minutes 40] ...

Phases, each checkpointed into ``OUT`` (a killed run resumes at the phase it was in):

0. ``data``: K synthetic people (the synthesizer's identities, held-out ones skipped); for each,
   the teacher's canonical surface over the radiance-map grid (:mod:`aniportrait_hub.data.canonical`:
   supersampled at the bake resolution, one ray per texel at U's resolution), its labels and
   its appearance code (:mod:`aniportrait_hub.data.appearance_code`).
1. ``manifold``: M regressed onto a level field that brackets all people's canonical surfaces:
   s = 23 at ``front`` (the front-most surface over all people, dilated, plus a margin) falling
   linearly to 8 at ``back`` (the rearmost, minus a margin), so the 24 manifolds are layered
   height fields wrapping every person from the start.
2. ``radiance``: phi at the bake points (where the 24 manifolds meet the baking rays): opacity
   against the teacher's coverage (a point behind the surface is inside), colour against the
   surface colour, for each person's latent [face_id, appearance code + free noise, betas].
   ``face``: the same, continued with the face's texels sampled ``face_weight`` times as
   often (eyes, brows, lips are a few percent of the surface; phi learns the body first).
3. ``expression``: D^e against the face model's expression offsets (Eq. 10) at face vertices,
   with the smoothness and minimal-deformation terms (Eq. 12-13) in its support box.
4. ``superres``: U from phi's baked maps (phi frozen) to the teacher's high-resolution maps,
   on random crops.
5. ``export``: the pipeline (priors from the synthesizer's label distribution), its model card
   figures and per-phase pictures.

D^p stays at its box-filter initialisation, which is what Eq. 11 pulls it towards.

Modules: :mod:`.config` (``TeacherConfig``, ``PHASES``), one per phase (:mod:`.data`,
:mod:`.manifold`, :mod:`.radiance`, :mod:`.expression`, :mod:`.superres`, :mod:`.export`) and
:mod:`.run` (the driver and the command line).
"""

from train.teacher.config import PHASES, TeacherConfig  # noqa: E402
from train.teacher.run import main, run  # noqa: E402

__all__ = ["PHASES", "TeacherConfig", "main", "run"]
