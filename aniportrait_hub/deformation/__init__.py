"""Pose deformer D^p and expression deformer D^e (METHOD.md 1.4).

May import: ``body``, ``conditioning``, ``fields``, ``data`` (the face regions of the
expression guide) and ``host``.
"""

from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer
from aniportrait_hub.deformation.pose_deformer import PoseDeformer

__all__ = ["ExpressionDeformer", "PoseDeformer"]
