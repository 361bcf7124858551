"""An :class:`~aniportrait_hub.export.avatar.Avatar` as binary glTF 2.0, written and read
through ``pygltflib`` (a maintained glTF container library: the JSON structure, the GLB
chunks; accessors are packed here, it has no numpy layer).

Layout: one mesh, one primitive per manifold level in drawing order (back to front: the last
level first); the atlas as one PNG texture, unlit (``KHR_materials_unlit``: the maps are
radiance), alpha-blended, double-sided; the SMPL joint tree as 24 nodes and a skin; the 52 ARKit
units as morph targets with sparse accessors (offsets only where D^e moves a vertex), named in
``mesh.extras.targetNames`` (the convention three.js and Blender read). Each primitive's
``extras.level`` is its manifold level. The mouth's interior
(:class:`~aniportrait_hub.export.avatar.AvatarMouth`), where there is one, is a second mesh
("mouth", same skin, same target names) of two primitives sharing the face's vertices: the depth
pass (``extras.aniportrait = "depth"``) and the tinted interior (``"multiply"``, the tint in
``extras.tint`` and the material's base colour); both materials are masked out (alpha 0), so a
generic viewer draws neither.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pygltflib as g

from aniportrait_hub.export.avatar import SMPL_JOINTS, Avatar, AvatarLevel, AvatarMouth

_COMPONENT = {np.dtype(np.float32): g.FLOAT, np.dtype(np.uint32): g.UNSIGNED_INT,
              np.dtype(np.uint16): g.UNSIGNED_SHORT, np.dtype(np.uint8): g.UNSIGNED_BYTE}
_TYPE = {1: g.SCALAR, 2: g.VEC2, 3: g.VEC3, 4: g.VEC4, 16: g.MAT4}


class _Packer:
    """Appends arrays to one buffer (4-byte aligned) and makes their views and accessors."""

    def __init__(self, gltf: g.GLTF2):
        self.gltf, self.blob = gltf, bytearray()

    def view(self, data: bytes, target: int | None = None) -> int:
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        self.gltf.bufferViews.append(g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data),
                                                  target=target))
        self.blob.extend(data)
        return len(self.gltf.bufferViews) - 1

    def accessor(self, a: np.ndarray, target: int | None = g.ARRAY_BUFFER, bounds: bool = False) -> int:
        a = np.ascontiguousarray(a)
        width = 1 if a.ndim == 1 else a.shape[1]
        acc = g.Accessor(bufferView=self.view(a.tobytes(), target), componentType=_COMPONENT[a.dtype],
                         count=len(a), type=_TYPE[width])
        if bounds:
            acc.min, acc.max = a.min(0).tolist(), a.max(0).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    def sparse_offsets(self, d: np.ndarray) -> int:
        """A VEC3 morph-target accessor: zeros but where ``d`` [N, 3] is not."""
        rows = np.nonzero(np.abs(d).max(1) > 0)[0].astype(np.uint32)
        acc = g.Accessor(componentType=g.FLOAT, count=len(d), type=g.VEC3, byteOffset=None,
                         min=(d.min(0) if len(rows) else np.zeros(3)).tolist(),
                         max=(d.max(0) if len(rows) else np.zeros(3)).tolist())
        if len(rows):  # no rows: an accessor without a buffer view is all zeros
            acc.sparse = g.Sparse(count=len(rows),
                                  indices=g.AccessorSparseIndices(bufferView=self.view(rows.tobytes()),
                                                                  componentType=g.UNSIGNED_INT),
                                  values=g.AccessorSparseValues(bufferView=self.view(
                                      np.ascontiguousarray(d[rows], np.float32).tobytes())))
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def write_glb(avatar: Avatar, path: str | Path) -> Path:
    """Write ``avatar`` as a ``.glb``; refuses to overwrite an existing file."""
    from PIL import Image

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; choose a new file (nothing was overwritten)")
    gltf = g.GLTF2(asset=g.Asset(generator="aniportrait_hub", version="2.0"), scene=0,
                   extensionsUsed=["KHR_materials_unlit"])
    pack = _Packer(gltf)
    png = io.BytesIO()
    Image.fromarray(avatar.atlas, "RGBA").save(png, format="PNG")
    gltf.images.append(g.Image(bufferView=pack.view(png.getvalue()), mimeType="image/png"))
    gltf.samplers.append(g.Sampler(magFilter=g.LINEAR, minFilter=g.LINEAR, wrapS=g.CLAMP_TO_EDGE,
                                   wrapT=g.CLAMP_TO_EDGE))
    gltf.textures.append(g.Texture(sampler=0, source=0))
    gltf.materials.append(g.Material(
        name="radiance", alphaMode=g.BLEND, doubleSided=True, extensions={"KHR_materials_unlit": {}},
        pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorTexture=g.TextureInfo(index=0), metallicFactor=0.0,
                                                    roughnessFactor=1.0)))
    # joints: local translations along the tree, no rotation in the neutral (bind) pose
    jp, parents = avatar.joint_positions.astype(np.float32), avatar.joint_parents
    for j, name in enumerate(SMPL_JOINTS):
        local = jp[j] - (jp[parents[j]] if parents[j] >= 0 else 0)
        gltf.nodes.append(g.Node(name=name, translation=local.tolist(),
                                 children=[int(c) for c in np.nonzero(parents == j)[0]]))
    inv_bind = np.tile(np.eye(4, dtype=np.float32), (len(jp), 1, 1))
    inv_bind[:, :3, 3] = -jp
    # glTF matrices are column-major: store each transposed
    gltf.skins.append(g.Skin(joints=list(range(len(jp))), skeleton=0,
                             inverseBindMatrices=pack.accessor(inv_bind.transpose(0, 2, 1).reshape(-1, 16), None)))
    mesh = g.Mesh(name="portrait", extras={"targetNames": list(avatar.morph_names)})
    order = list(range(len(avatar.levels)))[::-1]  # back to front
    for k in order:
        lv = avatar.levels[k]
        prim = g.Primitive(
            attributes=g.Attributes(POSITION=pack.accessor(lv.positions, bounds=True),
                                    TEXCOORD_0=pack.accessor(lv.uv), JOINTS_0=pack.accessor(lv.joints),
                                    WEIGHTS_0=pack.accessor(lv.weights)),
            indices=pack.accessor(lv.indices.reshape(-1), g.ELEMENT_ARRAY_BUFFER), material=0, mode=g.TRIANGLES,
            extras={"level": int(lv_level(avatar, k))})
        if lv.morphs is not None and avatar.morph_names:
            prim.targets = [{"POSITION": pack.sparse_offsets(d)} for d in lv.morphs]
        mesh.primitives.append(prim)
    if avatar.morph_names:
        mesh.weights = [0.0] * len(avatar.morph_names)
    gltf.meshes.append(mesh)
    gltf.nodes.append(g.Node(name="portrait", mesh=0, skin=0))
    roots = [0, len(gltf.nodes) - 1]
    if avatar.mouth is not None:
        gltf.meshes.append(_mouth_mesh(gltf, pack, avatar))
        gltf.nodes.append(g.Node(name="mouth", mesh=1, skin=0))
        roots.append(len(gltf.nodes) - 1)
    gltf.scenes.append(g.Scene(nodes=roots))
    gltf.buffers.append(g.Buffer(byteLength=len(pack.blob)))
    gltf.set_binary_blob(bytes(pack.blob))
    path.parent.mkdir(parents=True, exist_ok=True)
    gltf.save_binary(str(path))
    return path


def _mouth_mesh(gltf: g.GLTF2, pack: _Packer, avatar: Avatar) -> g.Mesh:
    """The mouth mesh (module docstring): rigid with the head joint."""
    m = avatar.mouth
    head = SMPL_JOINTS.index("head")
    n = len(m.positions)
    joints = np.zeros((n, 4), np.uint16)
    joints[:, 0] = head
    weights = np.zeros((n, 4), np.float32)
    weights[:, 0] = 1
    attrs = dict(POSITION=pack.accessor(m.positions.astype(np.float32), bounds=True),
                 JOINTS_0=pack.accessor(joints), WEIGHTS_0=pack.accessor(weights))
    targets = ([{"POSITION": pack.sparse_offsets(d)} for d in m.morphs]
               if m.morphs is not None and avatar.morph_names else None)
    mesh = g.Mesh(name="mouth", extras={"targetNames": list(avatar.morph_names)})
    for role, tris, colour in (("depth", m.faces, (0.0, 0.0, 0.0)), ("multiply", m.cavity, m.tint)):
        gltf.materials.append(g.Material(
            name=f"mouth_{role}", alphaMode=g.MASK, alphaCutoff=0.5, doubleSided=True,
            extensions={"KHR_materials_unlit": {}},
            pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorFactor=[*map(float, colour), 0.0],
                                                        metallicFactor=0.0, roughnessFactor=1.0)))
        extras = {"aniportrait": role} | ({"tint": [float(t) for t in m.tint]} if role == "multiply" else {})
        mesh.primitives.append(g.Primitive(
            attributes=g.Attributes(**attrs), indices=pack.accessor(tris.reshape(-1).astype(np.uint32),
                                                                    g.ELEMENT_ARRAY_BUFFER),
            material=len(gltf.materials) - 1, mode=g.TRIANGLES, targets=targets, extras=extras))
    if avatar.morph_names and targets:
        mesh.weights = [0.0] * len(avatar.morph_names)
    return mesh


def lv_level(avatar: Avatar, k: int) -> int:
    """The manifold level of ``avatar.levels[k]`` (levels with no kept cell are left out)."""
    return avatar.info.get("level_ids", list(range(len(avatar.levels))))[k]


def _read(gltf: g.GLTF2, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    dtype = {v: k for k, v in _COMPONENT.items()}[acc.componentType]
    width = {v: k for k, v in _TYPE.items()}[acc.type]
    if acc.bufferView is None:
        out = np.zeros((acc.count, width), dtype)
    else:
        bv = gltf.bufferViews[acc.bufferView]
        start = (bv.byteOffset or 0) + (acc.byteOffset or 0)
        out = np.frombuffer(blob, dtype, acc.count * width, start).reshape(acc.count, width).copy()
    if acc.sparse is not None:
        sp = acc.sparse
        ib, vb = gltf.bufferViews[sp.indices.bufferView], gltf.bufferViews[sp.values.bufferView]
        idt = {v: k for k, v in _COMPONENT.items()}[sp.indices.componentType]
        rows = np.frombuffer(blob, idt, sp.count, (ib.byteOffset or 0) + (sp.indices.byteOffset or 0))
        out[rows] = np.frombuffer(blob, dtype, sp.count * width, (vb.byteOffset or 0) + (sp.values.byteOffset or 0)
                                  ).reshape(sp.count, width)
    return out


def read_glb(path: str | Path) -> Avatar:
    """An avatar back from a ``.glb`` :func:`write_glb` wrote (levels front to back again)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        gltf = g.GLTF2().load_binary(str(path))
        blob = gltf.binary_blob()
        mesh = gltf.meshes[0]
    except Exception as err:  # pygltflib raises bare Exceptions, struct and JSON errors on bad files
        raise ValueError(f"{path} is not a binary glTF avatar ({type(err).__name__}: {err})") from err
    img = gltf.images[0]
    bv = gltf.bufferViews[img.bufferView]
    atlas = np.asarray(Image.open(io.BytesIO(blob[bv.byteOffset or 0:(bv.byteOffset or 0) + bv.byteLength])).convert("RGBA"))
    names = list((mesh.extras or {}).get("targetNames", []))
    levels, ids = [], []
    for prim in mesh.primitives[::-1]:
        at = prim.attributes
        morphs = np.stack([_read(gltf, blob, t["POSITION"]) for t in prim.targets]) if prim.targets else None
        levels.append(AvatarLevel(_read(gltf, blob, at.POSITION), _read(gltf, blob, at.TEXCOORD_0),
                                  _read(gltf, blob, prim.indices).reshape(-1, 3), _read(gltf, blob, at.JOINTS_0),
                                  _read(gltf, blob, at.WEIGHTS_0), morphs))
        ids.append((prim.extras or {}).get("level", len(ids)))
    mouth = None
    extra = [m for m in gltf.meshes[1:] if m.name == "mouth"]
    if extra:
        prims = {(p.extras or {}).get("aniportrait"): p for p in extra[0].primitives}
        dp, mp = prims["depth"], prims["multiply"]
        mouth = AvatarMouth(_read(gltf, blob, dp.attributes.POSITION), _read(gltf, blob, dp.indices).reshape(-1, 3),
                            _read(gltf, blob, mp.indices).reshape(-1, 3), tuple(mp.extras["tint"]),
                            np.stack([_read(gltf, blob, t["POSITION"]) for t in dp.targets]) if dp.targets else None)
    joints = gltf.nodes[:len(SMPL_JOINTS)]
    parents = np.full(len(joints), -1)
    for j, node in enumerate(joints):
        for c in node.children or []:
            parents[c] = j
    pos = np.zeros((len(joints), 3), np.float32)
    for j in range(len(joints)):  # parents come first in SMPL's order
        pos[j] = np.asarray(joints[j].translation, np.float32) + (pos[parents[j]] if parents[j] >= 0 else 0)
    return Avatar(levels, atlas, pos, parents, names, info={"level_ids": ids}, mouth=mouth)
