"""aniportrait_hub: an open implementation of AniPortraitGAN (Wu et al., SIGGRAPH Asia 2023).

A 3D-aware GAN of head-and-shoulder portraits with explicit camera, expression, head-pose and
shoulder-pose control. See the README for the method's conventions, the layout and the
embedded default model (``DEFAULT_MODEL``).

Dimension letters used in shape comments throughout the package:

====  ==========================================================
B     batch
N     query points (ray samples) per batch element
V     body-mesh vertices; Vc upper-body candidate vertices
Vf    face-model vertices
J     body joints (24, SMPL's tree)
P     reduced-pose joints (6: SMPL joints 12-17)
K     face identity components; E expression components
L     landmarks
F     mesh triangles
====  ==========================================================
"""

__version__ = "0.1.0"

# Components are importable from the package top level: diffusers resolves a pipeline's
# model_index.json entries ["aniportrait_hub", "ClassName"] with getattr on this module.
from aniportrait_hub.conditioning.priors import LabelPriors  # noqa: E402
from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer  # noqa: E402
from aniportrait_hub.deformation.pose_deformer import PoseDeformer  # noqa: E402
from aniportrait_hub.fields.manifold import ManifoldPredictor  # noqa: E402
from aniportrait_hub.fields.radiance import RadianceGenerator  # noqa: E402
from aniportrait_hub.models.body_assets import BodyFaceAssets  # noqa: E402
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN, AniPortraitOutput, PortraitLatents  # noqa: E402
from aniportrait_hub.pretrained import DEFAULT_MODEL  # noqa: E402
from aniportrait_hub.rendering.superres import ManifoldSuperResolution  # noqa: E402

__all__ = [
    "DEFAULT_MODEL", "AniPortraitGAN", "AniPortraitOutput", "BodyFaceAssets", "ExpressionDeformer", "LabelPriors",
    "ManifoldPredictor", "ManifoldSuperResolution", "PortraitLatents", "PoseDeformer", "RadianceGenerator",
]
