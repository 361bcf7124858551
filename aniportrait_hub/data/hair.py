"""Hair geometry for synthetic portraits, attached to the head (issue: datasets).

Built in the neutral (canonical-pose) world frame and posed like the body:

- short hair: a shell over the scalp (the scalp triangles, pushed out along the normals);
  every shell vertex moves with its scalp vertex;
- long hair: the shell plus a curtain hanging from ear level behind and beside the head down to
  the shoulders or chest, flaring outward. Its top follows the head and its bottom the nearest
  body vertex (shoulders, back), blended by height, so turning the head drags and shears the
  hair over the shoulders as real long hair does (what the pose deformer D^p exists for).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aniportrait_hub.body.conventions import HEAD


@dataclasses.dataclass
class HairStyle:
    """A sampled style (world units)."""

    thickness: float
    """Shell offset above the scalp."""
    long: bool
    """Add the hanging curtain."""
    length: float
    """Curtain bottom, as a height below the eyes."""
    flare: float
    """Outward growth of the curtain per unit of drop."""

    @classmethod
    def sample(cls, rng: np.random.Generator, long_probability: float = 0.45) -> "HairStyle":
        return cls(float(rng.uniform(0.006, 0.016)), bool(rng.random() < long_probability),
                   float(rng.uniform(0.14, 0.30)), float(rng.uniform(0.03, 0.15)))


@dataclasses.dataclass
class HairMesh:
    """Vertices [H, 3] (neutral pose), faces [G, 3] (indices into the hair vertices), and for
    each vertex two body vertices with a blend weight: its pose is
    ``w * T[anchor_a] + (1 - w) * T[anchor_b]`` applied to it."""

    vertices: np.ndarray
    faces: np.ndarray
    anchor_a: np.ndarray
    anchor_b: np.ndarray
    weight_a: np.ndarray


def build_hair(neutral: np.ndarray, normals: np.ndarray, body_faces: np.ndarray, scalp: np.ndarray,
               lbs_dominant: np.ndarray, eye_y: float, style: HairStyle, n_around: int = 48,
               n_down: int = 24) -> HairMesh:
    """Hair for a body in its neutral pose.

    Args:
        neutral / normals: [V, 3] body vertices and unit normals (neutral pose, world units).
        body_faces: [F, 3]; scalp: [V] mask; lbs_dominant: [V] dominant joint per vertex.
        eye_y: height of the eyes (the curtain starts there).
    """
    if not scalp.any():  # bald: no hair at all
        empty = np.zeros(0, np.int64)
        return HairMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), empty, empty, np.zeros(0))
    # 1. Shell: the scalp triangles, offset along the normals.
    tri = body_faces[scalp[body_faces].all(axis=1)]
    used = np.unique(tri)
    remap = np.full(neutral.shape[0], -1)
    remap[used] = np.arange(len(used))
    verts = [neutral[used] + style.thickness * normals[used]]
    faces = [remap[tri]]
    anchor_a, anchor_b, weight = [used], [used], [np.ones(len(used))]
    if style.long:
        # 2. Curtain: angles around the head's vertical axis, from one side through the back.
        head = lbs_dominant == HEAD
        centre = neutral[scalp].mean(0)
        ring = neutral[head & (np.abs(neutral[:, 1] - eye_y) < 0.02)]
        phi = np.linspace(np.radians(75), np.radians(285), n_around)  # 0 = facing forward (+z)
        rel = ring[:, [0, 2]] - centre[[0, 2]]
        ang = np.arctan2(rel[:, 0], rel[:, 1]) % (2 * np.pi)
        rad = np.linalg.norm(rel, axis=1)
        base_r = np.array([rad[np.abs((ang - a + np.pi) % (2 * np.pi) - np.pi) < 0.3].max(initial=0.07)
                           for a in phi]) + style.thickness + 0.004
        drop = np.linspace(0.0, style.length, n_down)
        pp, dd = np.meshgrid(phi, drop, indexing="ij")  # [A, D]
        r = base_r[:, None] + style.flare * dd
        cv = np.stack([centre[0] + r * np.sin(pp), eye_y - dd, centre[2] + r * np.cos(pp)], -1).reshape(-1, 3)
        a_idx = np.arange(n_around - 1)[:, None] * n_down + np.arange(n_down - 1)[None]
        quads = np.stack([a_idx, a_idx + n_down, a_idx + n_down + 1, a_idx + 1], -1).reshape(-1, 4)
        cf = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]) + sum(len(x) for x in verts)
        # Anchors: the nearest head vertex (top) and the nearest body vertex (bottom), blended
        # by the drop: the top rides with the head, the tips lie on the shoulders.
        from scipy.spatial import cKDTree

        head_ids = np.nonzero(head)[0]
        near_head = head_ids[cKDTree(neutral[head_ids]).query(cv)[1]]
        near_any = cKDTree(neutral).query(cv)[1]
        w = np.clip(1.0 - dd.reshape(-1) / max(style.length * 0.6, 1e-6), 0.0, 1.0)
        verts.append(cv)
        faces.append(cf)
        anchor_a.append(near_head)
        anchor_b.append(near_any)
        weight.append(w)
    return HairMesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(anchor_a),
                    np.concatenate(anchor_b), np.concatenate(weight))


def pose_hair(hair: HairMesh, vertex_transforms: np.ndarray) -> np.ndarray:
    """Posed hair vertices [H, 3] from the body's neutral -> posed transforms [V, 4, 4]."""
    t = (hair.weight_a[:, None, None] * vertex_transforms[hair.anchor_a]
         + (1 - hair.weight_a[:, None, None]) * vertex_transforms[hair.anchor_b])  # [H, 4, 4]
    return np.einsum("hij,hj->hi", t[:, :3, :3], hair.vertices) + t[:, :3, 3]
