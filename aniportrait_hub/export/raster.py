"""A raster path for exported avatars: OpenGL through ``moderngl`` on a headless EGL context
(Mesa's software rasteriser on a machine without a GPU, the GPU's driver on one with).

What a glTF viewer does with the file, in Python: morph targets (on the CPU, only the units
that are on), then linear blend skinning with the body's joint transforms for the given pose (in
the vertex shader), then the portrait camera of the volumetric
renderer (same pinhole, same pixel centres), every level's triangles alpha-blended back to front
over white, no depth test (:mod:`aniportrait_hub.export.avatar`); then the mouth's interior:
the face mesh into the depth buffer only, its cavity triangles where they are the nearest
surface, multiplying the colour by the tint. The alpha channel carries the coverage, so the mask
comes out too.

    raster = AvatarRaster(read_glb("portrait.glb"))
    image, mask = raster.render(camera, joint_transforms, expression, 512)
"""

from __future__ import annotations

import numpy as np

from aniportrait_hub.export.avatar import SMPL_JOINTS, Avatar

_VERTEX = """
#version 330
uniform mat4 mvp;
uniform mat4 joint[24];
in vec3 pos;
in vec2 uv;
in vec4 joints;
in vec4 weights;
out vec2 v_uv;
void main() {
    mat4 skin = weights.x * joint[int(joints.x)] + weights.y * joint[int(joints.y)]
              + weights.z * joint[int(joints.z)] + weights.w * joint[int(joints.w)];
    v_uv = uv;
    gl_Position = mvp * skin * vec4(pos, 1.0);
}
"""
_FRAGMENT = """
#version 330
uniform sampler2D atlas;
in vec2 v_uv;
out vec4 colour;
void main() { colour = texture(atlas, v_uv); }
"""
_VERTEX_MOUTH = _VERTEX.replace("in vec2 uv;\n", "").replace("out vec2 v_uv;\n", "").replace("    v_uv = uv;\n", "")
_TINT = """
#version 330
uniform vec3 tint;
out vec4 colour;
void main() { colour = vec4(tint, 1.0); }
"""


def projection(camera, near: float = 0.3, far: float = 6.0) -> np.ndarray:
    """[4, 4] OpenGL model-view-projection of a :class:`~aniportrait_hub.rendering.cameras.Camera`
    (batch 1; square images)."""
    r = camera.cam_to_world[0].detach().cpu().double().numpy()
    o = camera.origin[0].detach().cpu().double().numpy()
    view = np.eye(4)
    view[:3, :3] = r.T
    view[:3, 3] = -r.T @ o
    f = 1 / np.tan(np.radians(camera.fov_deg) / 2)
    proj = np.array([[f, 0, 0, 0], [0, f, 0, 0], [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                     [0, 0, -1, 0]])
    return proj @ view


class AvatarRaster:
    """Renders one avatar; keeps its GL objects (create once, render many frames)."""

    def __init__(self, avatar: Avatar):
        import moderngl

        try:
            self.ctx = moderngl.create_context(standalone=True, backend="egl")
        except Exception as err:  # moderngl raises bare Exceptions when no EGL display can be opened
            raise RuntimeError(f"no OpenGL context: EGL could not be opened ({err}); install Mesa's EGL "
                               "(Debian: libegl1 libgl1-mesa-dri)") from err
        self.avatar = avatar
        with self.ctx:  # several rasters in one process: each draws in its own context
            self._upload(avatar)

    def _upload(self, avatar: Avatar) -> None:
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        h, w = avatar.atlas.shape[:2]
        self.tex = self.ctx.texture((w, h), 4, np.ascontiguousarray(avatar.atlas).tobytes())
        self.tex.filter = (self.ctx.LINEAR, self.ctx.LINEAR)
        self.tex.repeat_x = self.tex.repeat_y = False
        # glTF's uv origin is the image's top left, the texture's first row: no flip needed
        self.buffers = []
        for lv in avatar.levels[::-1]:  # back to front
            vbo = self.ctx.buffer(np.ascontiguousarray(lv.positions, np.float32).tobytes(), dynamic=True)
            rest = [self.ctx.buffer(np.ascontiguousarray(a, np.float32).tobytes())
                    for a in (lv.uv, lv.joints.astype(np.float32), lv.weights)]
            ibo = self.ctx.buffer(np.ascontiguousarray(lv.indices, np.uint32).tobytes())
            vao = self.ctx.vertex_array(self.prog, [(vbo, "3f", "pos"), (rest[0], "2f", "uv"), (rest[1], "4f", "joints"),
                                                    (rest[2], "4f", "weights")], index_buffer=ibo, index_element_size=4)
            self.buffers.append((lv, vbo, vao, [False]))
        self.mouth = None
        if avatar.mouth is not None:
            m = avatar.mouth
            self.tint_prog = self.ctx.program(vertex_shader=_VERTEX_MOUTH, fragment_shader=_TINT)
            n = len(m.positions)
            joints, weights = np.zeros((n, 4), np.float32), np.zeros((n, 4), np.float32)
            joints[:, 0], weights[:, 0] = SMPL_JOINTS.index("head"), 1
            vbo = self.ctx.buffer(np.ascontiguousarray(m.positions, np.float32).tobytes(), dynamic=True)
            rest = [self.ctx.buffer(a.tobytes()) for a in (joints, weights)]
            vaos = []
            for prog, tris in ((self.tint_prog, m.faces), (self.tint_prog, m.cavity)):
                ibo = self.ctx.buffer(np.ascontiguousarray(tris, np.uint32).tobytes())
                vaos.append(self.ctx.vertex_array(prog, [(vbo, "3f", "pos"), (rest[0], "4f", "joints"),
                                                         (rest[1], "4f", "weights")],
                                                  index_buffer=ibo, index_element_size=4))
            self.mouth = (m, vbo, vaos, [False])
        self.fbo = None

    @staticmethod
    def morphed(lv, expression: np.ndarray | None) -> np.ndarray | None:
        """A level's vertices under ``expression`` (the morph targets of the units that are on;
        None: the neutral vertices). Skinning runs in the vertex shader, as in a glTF viewer."""
        if expression is None or lv.morphs is None:
            return None
        on = np.nonzero(np.abs(expression) > 1e-6)[0]
        if not len(on):
            return None
        return (lv.positions + np.tensordot(expression[on].astype(np.float32), lv.morphs[on], 1)).astype(np.float32)

    def render(self, camera, joint_transforms, expression=None, resolution: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """-> image [res, res, 3] float32 on white in [0, 1], mask [res, res]."""
        with self.ctx:  # made current here (another raster's context may be)
            return self._render(camera, joint_transforms, expression, resolution)

    def _render(self, camera, joint_transforms, expression, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        import moderngl

        jt = np.asarray(joint_transforms.detach().cpu() if hasattr(joint_transforms, "detach") else joint_transforms,
                        np.float32).reshape(-1, 4, 4)
        ex = None if expression is None else np.asarray(
            expression.detach().cpu() if hasattr(expression, "detach") else expression, np.float32).reshape(-1)
        if self.fbo is None or self.fbo.size != (resolution, resolution):
            self.fbo = self.ctx.simple_framebuffer((resolution, resolution), components=4, dtype="f4")
        self.fbo.use()
        self.fbo.clear(1.0, 1.0, 1.0, 0.0)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self.ctx.enable(moderngl.BLEND)
        # colour: over (straight alpha); alpha: coverage
        self.ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE,
                               moderngl.ONE_MINUS_SRC_ALPHA)
        self.prog["mvp"].write(projection(camera).T.astype(np.float32).tobytes())
        self.prog["joint"].write(np.ascontiguousarray(jt.transpose(0, 2, 1)).tobytes())  # column-major
        self.tex.use(0)
        self.prog["atlas"].value = 0
        for lv, vbo, vao, moved in self.buffers:
            p = self.morphed(lv, ex)
            if p is not None or moved[0]:  # upload only what changed
                vbo.write((lv.positions if p is None else p).tobytes())
                moved[0] = p is not None
            vao.render(moderngl.TRIANGLES)
        if self.mouth is not None:
            self._mouth(ex, projection(camera), jt)
        out = np.frombuffer(self.fbo.read(components=4, dtype="f4"), np.float32).reshape(resolution, resolution, 4)
        out = out[::-1]  # OpenGL's first row is the bottom one
        return np.clip(out[..., :3], 0, 1), np.clip(out[..., 3], 0, 1)

    def _mouth(self, ex, mvp: np.ndarray, jt: np.ndarray) -> None:
        """The mouth's interior over the layers (module docstring)."""
        import moderngl

        m, vbo, (depth_vao, cavity_vao), moved = self.mouth
        p = self.morphed(m, ex)
        if p is not None or moved[0]:
            vbo.write((m.positions if p is None else p).astype(np.float32).tobytes())
            moved[0] = p is not None
        prog = self.tint_prog
        prog["mvp"].write(mvp.T.astype(np.float32).tobytes())
        prog["joint"].write(np.ascontiguousarray(jt.transpose(0, 2, 1)).tobytes())
        prog["tint"].value = tuple(m.tint)
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<"
        self.ctx.blend_func = (moderngl.ZERO, moderngl.ONE)  # depth only: the colour is kept
        depth_vao.render(moderngl.TRIANGLES)
        self.ctx.depth_func = "<="
        # colour times the tint; alpha (the coverage) kept
        self.ctx.blend_func = (moderngl.DST_COLOR, moderngl.ZERO, moderngl.ZERO, moderngl.ONE)
        cavity_vao.render(moderngl.TRIANGLES)
        self.ctx.disable(moderngl.DEPTH_TEST)

    def release(self) -> None:
        self.ctx.release()
