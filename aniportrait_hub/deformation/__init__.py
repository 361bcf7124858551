"""Pose deformer D^p and expression deformer D^e (METHOD.md 1.4)."""

from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer
from aniportrait_hub.deformation.pose_deformer import PoseDeformer

__all__ = ["ExpressionDeformer", "PoseDeformer"]
