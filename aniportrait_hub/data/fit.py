"""Label fitting: body and face model parameters and the camera from 2D landmarks.

For a batch of photos, :func:`fit_labels` finds, by gradient descent through the body model
(:class:`~aniportrait_hub.body.BodyModel`), the face model's offsets and the portrait camera
(METHOD.md 1.2, 1.4), the labels that put our embedded landmarks
(:mod:`aniportrait_hub.data.landmarks`) where mediapipe found them: camera (pitch, yaw), body
shape, joint 12-17 Euler angles, face identity and expression, and the 2D similarity (scale,
translation) from the canonical portrait frame into the photo, which defines the crop.

What a single photo cannot tell apart is settled by priors (all config fields): the neck and
head rotations are tied (``neck_share``); a camera turn and a head turn the other way give
nearly the same face, and only the shoulders (and the priors) separate them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from aniportrait_hub.body import BodyModel, FaceModel
from aniportrait_hub.data.landmarks import LandmarkEmbedding
from aniportrait_hub.rendering.cameras import face_camera_label, portrait_camera, project
from aniportrait_hub.rendering.renderer import RenderSettings

#: Expression units fitted by default: those landmarks can see (eyes, brows, mouth, jaw).
FIT_UNITS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp",
             "browDownLeft", "browDownRight", "browOuterUpLeft", "browOuterUpRight", "mouthPucker", "mouthFunnel",
             "eyeWideLeft", "eyeWideRight", "mouthFrownLeft", "mouthFrownRight", "eyeSquintLeft", "eyeSquintRight",
             "mouthStretchLeft", "mouthStretchRight", "mouthClose", "cheekPuff")


@dataclasses.dataclass
class FitConfig:
    """Label-fitting settings (priors are our choices, close to the synthetic dataset's ranges)."""

    steps: int = 300
    """Adam steps (the first third fits only the similarity, camera and head rotation)."""
    lr: float = 0.03
    """Adam learning rate."""
    landmark_sigma: float = 0.01
    """Landmark noise, as a fraction of the crop side (residual / sigma is the unit of the loss)."""
    shoulder_sigma: float = 0.03
    """Noise of the pose shoulder landmarks (fraction of the crop side)."""
    num_betas: int = 3
    """Body shape components fitted (the rest stay 0)."""
    beta_std: float = 0.8
    """Prior std of each fitted body shape component."""
    num_face_id: int = 20
    """Face identity components fitted (the rest stay 0)."""
    face_id_std: float = 0.8
    """Prior std of each fitted identity component."""
    expression_units: tuple[str, ...] = FIT_UNITS
    """Expression units fitted (others stay 0); values kept in [0, 1]."""
    expression_l1: float = 0.5
    """L1 weight pulling expression units to 0 (sparse expressions)."""
    neck_share: float = 0.25
    """Share of the head's rotation given to the neck joint (12); the head joint (15) takes the rest."""
    head_std: tuple[float, float, float] = (0.12, 0.4, 0.25)
    """Prior std (rad) of the head rotation relative to the torso: roll, yaw, pitch."""
    camera_std: tuple[float, float] = (0.08, 0.2)
    """Prior std (rad) of the camera around frontal: pitch, yaw."""
    shoulder_std: float = 0.15
    """Prior std (rad) of the collar and shoulder joints' z rotation (shrugs, arm lift)."""


@dataclasses.dataclass
class FitResult:
    """Fitted labels, numpy, batch first."""

    camera: np.ndarray
    """[B, 2] pitch, yaw."""
    betas: np.ndarray
    """[B, 10]."""
    joint_eulers: np.ndarray
    """[B, 6, 3]."""
    face_id: np.ndarray
    """[B, K]."""
    expression: np.ndarray
    """[B, E]."""
    face_camera: np.ndarray
    """[B, 6] head centre (3), distance, pitch, yaw of the face camera."""
    scale: np.ndarray
    """[B] photo pixels per canonical pixel."""
    offset: np.ndarray
    """[B, 2] photo position of the canonical frame's (0, 0) corner: photo = scale * canonical + offset."""
    residual: np.ndarray
    """[B] RMS face-landmark residual in canonical pixels."""
    landmarks: np.ndarray
    """[B, L, 2] the fitted model's face landmarks in canonical-crop pixels."""
    state: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """The optimiser's parameters (name -> [B, ...]), to warm-start the next fit from this one
    (:meth:`LabelFitter.fit`'s ``init``: a video's next frame)."""


def similarity_2d(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares scale [...] and translation [..., 2] with dst ~ scale * src + t (no
    rotation), for point sets [..., N, 2]."""
    sc, dc = src.mean(-2, keepdim=True), dst.mean(-2, keepdim=True)
    scale = ((src - sc) * (dst - dc)).sum((-2, -1)) / ((src - sc) ** 2).sum((-2, -1))
    return scale, (dc - scale[..., None, None] * sc)[..., 0, :]


class LabelFitter:
    """Holds the models; :meth:`fit` is batched over photos."""

    def __init__(self, body: BodyModel | None = None, face: FaceModel | None = None,
                 embedding: LandmarkEmbedding | None = None, settings: RenderSettings | None = None,
                 config: FitConfig | None = None):
        self.body = body or BodyModel.from_open_default()
        self.face = face or FaceModel.from_open_default()
        self.emb = embedding or LandmarkEmbedding.load()
        self.st = settings or RenderSettings()
        self.cfg = config or FitConfig()
        if self.face.exp_names is None:
            raise ValueError("label fitting needs a face model with named expression units")
        unknown = [u for u in self.cfg.expression_units if u not in self.face.exp_names]
        if unknown:
            raise ValueError(f"expression units {unknown} are not in the face model's basis")
        self.units = [self.face.exp_names.index(u) for u in self.cfg.expression_units]
        if self.body.num_vertices != self.emb.num_vertices:
            raise ValueError(f"the landmark embedding is for a {self.emb.num_vertices}-vertex body, the body has "
                             f"{self.body.num_vertices}; rebuild it with `aniportrait landmarks`")
        self.corner_ids = torch.as_tensor(self.emb.corner_ids)

    # -- the model -----------------------------------------------------------------------------
    def _camera(self, cam: torch.Tensor):
        return portrait_camera(cam, self.st.portrait_radius, self.st.portrait_fov_deg, self.st.portrait_shift)

    def _labels(self, p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b = p["head"].shape[0]
        eul = torch.zeros(b, 6, 3)
        eul[:, 0] = self.cfg.neck_share * p["head"]
        eul[:, 3] = (1 - self.cfg.neck_share) * p["head"]
        eul[:, 1:3, 0] = p["collars"]
        eul[:, 4:6, 0] = p["shoulders"]
        betas = torch.zeros(b, 10)
        betas[:, :self.cfg.num_betas] = p["betas"]
        face_id = torch.zeros(b, self.face.num_identity)
        face_id[:, :self.cfg.num_face_id] = p["face_id"]
        exp = torch.zeros(b, self.face.num_expression)
        exp[:, self.units] = p["expression"]
        camera = torch.stack([torch.pi / 2 + p["cam"][:, 0], torch.pi / 2 + p["cam"][:, 1]], -1)
        return {"joint_eulers": eul, "betas": betas, "face_id": face_id, "expression": exp, "camera": camera}

    def model_points(self, labels: dict[str, torch.Tensor], res: int):
        """Canonical-frame pixel positions (crop side ``res``) of the face landmarks [B, L, 2]
        and shoulders [B, 2, 2], and the body output (posed at the landmark corners only)."""
        ids = self.corner_ids
        out = self.body(labels["betas"], labels["joint_eulers"], vertex_ids=ids, vertex_transforms=False,
                        rest_offsets=self.face.body_offsets(labels["face_id"], labels["expression"], vertex_ids=ids))
        cam = self._camera(labels["camera"].double())
        pts = torch.cat([self.emb.face_points(out.vertices, corners_only=True),
                         self.emb.shoulder_points(out.joints, out.joint_transforms)], 1)
        uv = project(cam, pts.double(), res, res).float()
        n = len(self.emb.mesh_index)
        return uv[:, :n], uv[:, n:], out

    # -- starting points ------------------------------------------------------------------------
    def _placement(self, p: dict[str, torch.Tensor], face_lm: np.ndarray, shoulders: np.ndarray,
                   res: int) -> dict[str, torch.Tensor]:
        """The least-squares similarity (scale + translation, no rotation) of the model posed by
        ``p`` onto the photo landmarks: the state's ``log_scale`` and ``offset``."""
        obs = torch.as_tensor(face_lm[:, self.emb.mesh_index], dtype=torch.float32)
        obs_sh = torch.as_tensor(shoulders, dtype=torch.float32)
        with torch.no_grad():
            uv0, sh0, _ = self.model_points(self._labels(p), res)
        src, dst = uv0, obs
        if bool(torch.isfinite(obs_sh).all()):
            src, dst = torch.cat([uv0, sh0], 1), torch.cat([obs, obs_sh], 1)
        scale, offset = similarity_2d(src, dst)
        return {"log_scale": scale.clamp_min(1e-3).log(), "offset": offset / res}  # offset in crop sides (Adam)

    def place(self, state: dict[str, np.ndarray], face_lm: np.ndarray, shoulders: np.ndarray,
              res: int) -> dict[str, np.ndarray]:
        """``state`` (a :attr:`FitResult.state`, batch B) with each photo's crop re-placed by
        least squares for the pose the state holds: a warm start for frames that moved
        (photo landmarks [B, >=468, 2] and shoulders [B, 2, 2] as :meth:`fit` takes them)."""
        p = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in state.items()}
        return {**state, **{k: v.numpy() for k, v in self._placement(p, face_lm, shoulders, res).items()}}

    def _head_rotation(self, head: torch.Tensor) -> torch.Tensor:
        """The head joint's neutral -> posed rotation (world frame) [N, 3, 3] of the fitter's
        head parameters [N, 3] (roll, yaw, pitch shared between neck and head)."""
        n = len(head)
        p = {"head": head, "collars": head.new_zeros(n, 2), "shoulders": head.new_zeros(n, 2),
             "betas": head.new_zeros(n, self.cfg.num_betas), "face_id": head.new_zeros(n, self.cfg.num_face_id),
             "expression": head.new_zeros(n, len(self.units)), "cam": head.new_zeros(n, 2)}
        eul = self._labels(p)["joint_eulers"]
        out = self.body(torch.zeros(n, 10), eul, vertex_ids=self.corner_ids[:1], vertex_transforms=False)
        return out.joint_transforms[:, 15, :3, :3]

    def _head_for_rotation(self, target: np.ndarray, start: np.ndarray, iterations: int = 4) -> np.ndarray:
        """Head parameters [N, 3] whose :meth:`_head_rotation` is ``target`` [N, 3, 3] (world
        frame): Gauss-Newton on the rotation vector of the mismatch from ``start`` [N, 3], with
        a finite-difference Jacobian (3 parameters; the neck / head split makes it no plain
        Euler conversion)."""
        from scipy.spatial.transform import Rotation

        h = np.asarray(start, dtype=np.float64).copy()
        tgt_inv = Rotation.from_matrix(np.asarray(target, dtype=np.float64)).inv()
        eps = 1e-3

        def mismatch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                rot = self._head_rotation(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
            return (Rotation.from_matrix(rot) * tgt_inv).as_rotvec()

        for _ in range(iterations):
            r = mismatch(h)
            jac = np.stack([(mismatch(h + eps * np.eye(3)[k]) - r) / eps for k in range(3)], -1)  # [N, 3, 3]
            h -= np.linalg.solve(jac, r[..., None])[..., 0]
        return h

    def turn_head(self, state: dict[str, np.ndarray], rotation: np.ndarray) -> dict[str, np.ndarray]:
        """``state`` (a :attr:`FitResult.state`, batch 1 or N) with the head turned by
        ``rotation`` [N, 3, 3], given in the camera's frame (x right, y up, looking along -z;
        e.g. the change of MediaPipe's facial transform between two frames), the torso and the
        camera kept: a warm start for frames whose head moved."""
        rotation = np.asarray(rotation, dtype=np.float64)
        n = len(rotation)
        state = {k: np.repeat(v, n, 0) if len(v) == 1 and n > 1 else v for k, v in state.items()}
        with torch.no_grad():
            cam = torch.pi / 2 + torch.as_tensor(state["cam"], dtype=torch.float64)
            c2w = self._camera(cam).cam_to_world.numpy()
            now = self._head_rotation(torch.as_tensor(state["head"], dtype=torch.float32)).double().numpy()
        target = c2w @ rotation @ c2w.transpose(0, 2, 1) @ now
        return {**state, "head": self._head_for_rotation(target, state["head"]).astype(np.float32)}

    # -- fitting -------------------------------------------------------------------------------
    @torch.enable_grad()  # an optimisation: it works under a caller's no_grad too
    def fit(self, face_lm: np.ndarray, shoulders: np.ndarray, res: int, init: dict[str, np.ndarray] | None = None,
            steps: int | None = None, hold: tuple[str, ...] = (), lr: float | None = None) -> FitResult:
        """Fit labels to photo landmarks.

        Args:
            face_lm: [B, >=468, 2] mediapipe face-mesh landmarks (photo pixels).
            shoulders: [B, 2, 2] mediapipe pose landmarks 11, 12 (photo pixels); NaN where a
                shoulder was not seen (a video frame without a pose: the face alone decides).
            res: side of the canonical crop the similarity maps to (its pixels are the unit of
                ``FitResult.scale``).
            init: a previous fit's :attr:`FitResult.state` (batch B or 1) to start from (a warm
                start: the same person, so body shape and face identity stay as they are, and
                pose, camera, expression and crop are free from the first step); None: the mean
                frontal model, placed by a least-squares similarity, rigid parameters first.
            steps: Adam steps (None: ``config.steps``; a warm start needs far fewer).
            hold: with ``init``, state entries held as they are besides the identity (e.g.
                ``("cam",)``: a few-step fit per frame lets a camera turn and the opposite
                head turn, which look nearly alike, drift apart by about the learning rate a
                step).
            lr: Adam's learning rate (None: ``config.lr``). Adam's first steps move every free
                parameter by about the rate whatever its gradient: a fit of a few steps from
                a near answer wants a smaller one.
        """
        cfg = self.cfg
        steps = cfg.steps if steps is None else steps
        obs = torch.as_tensor(face_lm[:, self.emb.mesh_index], dtype=torch.float32)
        obs_sh = torch.as_tensor(shoulders, dtype=torch.float32)
        seen_sh = torch.isfinite(obs_sh).all(-1, keepdim=True).float()  # [B, 2, 1]
        obs_sh = torch.nan_to_num(obs_sh)
        b = obs.shape[0]
        p = {"head": torch.zeros(b, 3), "collars": torch.zeros(b, 2), "shoulders": torch.zeros(b, 2),
             "betas": torch.zeros(b, cfg.num_betas), "face_id": torch.zeros(b, cfg.num_face_id),
             "expression": torch.zeros(b, len(self.units)), "cam": torch.zeros(b, 2)}
        if init is not None:
            missing = set(p) | {"log_scale", "offset"}
            missing -= set(init)
            if missing:
                raise ValueError(f"init lacks {sorted(missing)}: pass a previous FitResult.state")
            p = {k: torch.as_tensor(np.asarray(init[k]), dtype=torch.float32).expand(b, *np.shape(init[k])[1:]).clone()
                 for k in list(p) + ["log_scale", "offset"]}
        else:  # the mean frontal model, placed on the photo
            p.update(self._placement(p, face_lm, shoulders, res))
        identity = ("betas", "face_id")
        unknown = set(hold) - set(p)
        if unknown or (hold and init is None):
            raise ValueError(f"hold names state entries of a warm start (init); got {sorted(hold)}")
        free = [k for k in p if init is None or k not in identity + tuple(hold)]
        rigid = ["log_scale", "offset", "head", "cam"]
        opt = torch.optim.Adam([p[k] for k in free], lr=cfg.lr if lr is None else lr)
        head_std = torch.tensor(cfg.head_std)
        cam_std = torch.tensor(cfg.camera_std)
        rigid_steps = 0 if init is not None else steps // 3
        for step in range(steps):
            if step in (0, rigid_steps):  # the rigid phase differentiates the rigid parameters only
                for k in free:
                    p[k].requires_grad_(step >= rigid_steps or k in rigid)
            opt.zero_grad(set_to_none=True)
            lab = self._labels(p)
            uv, sh, _ = self.model_points(lab, res)
            s = p["log_scale"].exp()[:, None, None]
            q_obs = (obs - res * p["offset"][:, None]) / s  # photo -> canonical pixels
            q_sh = (obs_sh - res * p["offset"][:, None]) / s
            r_face = (uv - q_obs) / (cfg.landmark_sigma * res)
            r_sh = (sh - q_sh) / (cfg.shoulder_sigma * res) * seen_sh
            # Huber on both (robust: a shoulder the pose model puts on the hair in a few frames
            # of a clip pulled the collars to 115 deg when squared).
            loss = (torch.nn.functional.huber_loss(r_face, torch.zeros_like(r_face), reduction="none", delta=3.0).sum((1, 2))
                    + torch.nn.functional.huber_loss(r_sh, torch.zeros_like(r_sh), reduction="none", delta=3.0).sum((1, 2))
                    + ((p["head"] / head_std) ** 2).sum(1) + ((p["cam"] / cam_std) ** 2).sum(1)
                    + ((torch.cat([p["collars"], p["shoulders"]], 1) / cfg.shoulder_std) ** 2).sum(1)
                    + ((p["betas"] / cfg.beta_std) ** 2).sum(1) + ((p["face_id"] / cfg.face_id_std) ** 2).sum(1)
                    + cfg.expression_l1 * p["expression"].abs().sum(1))
            loss.sum().backward()
            opt.step()
            with torch.no_grad():
                p["expression"].clamp_(0, 1)
        with torch.no_grad():
            lab = self._labels(p)
            uv, _, out = self.model_points(lab, res)
            s = p["log_scale"].exp()
            q_obs = (obs - res * p["offset"][:, None]) / s[:, None, None]
            residual = (uv - q_obs).norm(dim=-1).pow(2).mean(1).sqrt()
            head = out.head_transform[:, :3, 3]
            face_cam = face_camera_label(self._camera(lab["camera"].double()), head.double(), self.st.face_distance)
        return FitResult(camera=lab["camera"].numpy(), betas=lab["betas"].numpy(),
                         joint_eulers=lab["joint_eulers"].numpy(), face_id=lab["face_id"].numpy(),
                         expression=lab["expression"].numpy(), face_camera=face_cam.numpy(),
                         scale=s.numpy(), offset=res * p["offset"].detach().numpy(), residual=residual.numpy(),
                         landmarks=uv.numpy(), state={k: v.detach().numpy().copy() for k, v in p.items()})


def head_orientations(body: BodyModel, joint_eulers: np.ndarray, camera: np.ndarray,
                      settings: RenderSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation [roll, yaw, pitch] (rad, Euler z-y-x as the labels) relative to the torso,
    and relative to the camera (as a face tracker sees it; zero for the canonical pose seen by
    the frontal camera), for label arrays [B, 6, 3] and [B, 2]."""
    from scipy.spatial.transform import Rotation

    st = settings or RenderSettings()
    with torch.no_grad():
        out = body(torch.zeros(len(camera), 10), torch.as_tensor(joint_eulers, dtype=torch.float32))
        rel = out.joint_transforms[:, 15, :3, :3].double()
        c = portrait_camera(torch.as_tensor(camera, dtype=torch.float64), st.portrait_radius, st.portrait_fov_deg,
                            st.portrait_shift).cam_to_world
        cf = portrait_camera(torch.full_like(torch.as_tensor(camera, dtype=torch.float64), torch.pi / 2),
                             st.portrait_radius, st.portrait_fov_deg, st.portrait_shift).cam_to_world
        in_cam = c.transpose(1, 2) @ rel @ cf
    torso = Rotation.from_matrix(rel.numpy()).as_euler("ZYX")
    cam = Rotation.from_matrix(in_cam.numpy()).as_euler("ZYX")
    return torso, cam
