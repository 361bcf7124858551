"""Portrait and face cameras, and their rays (METHOD.md 1.4-1.5; reference conventions).

Portrait camera: at ``radius * (sin(pitch) cos(yaw), cos(pitch), sin(pitch) sin(yaw))``,
looking at the origin (the face centre), then the camera and its target shifted together by
``portrait_shift``; frontal is pitch = yaw = pi/2 (camera on +z). Pinhole, square images.
Face camera: looks at the posed head centre from the portrait camera's direction, at
``face_radius * face_units`` world units, so its image is rendered directly (no crop-and-
resample of the portrait).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from aniportrait_hub.host import on_host


@dataclasses.dataclass
class Camera:
    """Pinhole cameras: ``origin`` [B, 3], ``cam_to_world`` [B, 3, 3] (columns: right, up,
    backward, i.e. the camera looks along -z), ``fov_deg`` full vertical field of view."""

    origin: torch.Tensor
    cam_to_world: torch.Tensor
    fov_deg: float


def look_at(origin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """cam_to_world [B, 3, 3] of cameras at ``origin`` [B, 3] looking at ``target`` [B, 3], y up."""
    back = origin - target
    back = back / back.norm(dim=-1, keepdim=True)
    up = back.new_tensor([0.0, 1.0, 0.0]).expand_as(back)
    right = torch.cross(up, back, dim=-1)
    right = right / right.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    true_up = torch.cross(back, right, dim=-1)
    return torch.stack([right, true_up, back], -1)


def check_camera(camera: torch.Tensor) -> None:
    """Raise ValueError unless camera is [B, 2] (pitch, yaw) radians within (0, pi)."""
    if not torch.is_tensor(camera) or camera.dim() != 2 or camera.shape[1] != 2:
        raise ValueError(f"camera must be a tensor [B, 2] (pitch, yaw) in radians, got "
                         f"{tuple(camera.shape) if torch.is_tensor(camera) else type(camera).__name__}")
    if not on_host(camera):  # values are read on the host only (a device would wait)
        return
    if not torch.isfinite(camera).all() or (camera <= 0).any() or (camera >= math.pi).any():
        bad = camera[(camera <= 0) | (camera >= math.pi) | ~torch.isfinite(camera)]
        raise ValueError(f"camera angle {bad.flatten()[0].item():.3f} rad is outside (0, pi); frontal is (pi/2, pi/2)")


def portrait_camera(camera: torch.Tensor, radius: float, fov_deg: float,
                    shift: tuple[float, float, float]) -> Camera:
    """camera [B, 2] (pitch, yaw) -> the portrait :class:`Camera`."""
    check_camera(camera)
    pitch, yaw = camera.unbind(-1)
    pos = radius * torch.stack([pitch.sin() * yaw.cos(), pitch.cos(), pitch.sin() * yaw.sin()], -1)
    s = camera.new_tensor(shift)
    return Camera(pos + s, look_at(pos + s, s.expand_as(pos)), fov_deg)


def face_camera(portrait: Camera, head_center: torch.Tensor, distance: float, fov_deg: float) -> Camera:
    """The face camera: looks at ``head_center`` [B, 3] along the portrait camera's direction."""
    direction = portrait.origin - head_center
    direction = direction / direction.norm(dim=-1, keepdim=True)
    origin = head_center + distance * direction
    return Camera(origin, look_at(origin, head_center), fov_deg)


def camera_rays(cam: Camera, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixel centres: origins and unit directions [B, H*W, 3] (row-major, top row
    first)."""
    half = math.tan(math.radians(cam.fov_deg) / 2)
    ys = (1 - (torch.arange(height, dtype=cam.origin.dtype, device=cam.origin.device) + 0.5) / height * 2) * half
    xs = ((torch.arange(width, dtype=cam.origin.dtype, device=cam.origin.device) + 0.5) / width * 2 - 1) * half
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    d_cam = torch.stack([xx, yy, -torch.ones_like(xx)], -1).reshape(-1, 3)  # [R, 3]
    d = d_cam @ cam.cam_to_world.transpose(-1, -2)  # [B, R, 3]
    d = d / d.norm(dim=-1, keepdim=True)
    return cam.origin[:, None].expand_as(d), d


def project(cam: Camera, points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates [B, N, 2] (x right, y down; pixel i covers [i, i + 1), as
    :func:`camera_rays`) of world points [B, N, 3] seen by ``cam``."""
    half = math.tan(math.radians(cam.fov_deg) / 2)
    p = (points - cam.origin[:, None]) @ cam.cam_to_world  # camera frame: x right, y up, looks along -z
    depth = (-p[..., 2]).clamp_min(1e-6)
    x = p[..., 0] / depth / half
    y = p[..., 1] / depth / half
    return torch.stack([(x + 1) / 2 * width, (1 - y) / 2 * height], -1)


def face_camera_label(portrait: Camera, head_center: torch.Tensor, distance: float) -> torch.Tensor:
    """The dataset's face-camera label [B, 6]: head centre (3), distance, and the pitch / yaw
    (portrait convention) of the direction from the head centre to the portrait camera."""
    d = portrait.origin - head_center
    d = d / d.norm(dim=-1, keepdim=True)
    return torch.cat([head_center, torch.full_like(d[:, :1], distance), d[:, 1:2].clamp(-1, 1).acos(),
                      torch.atan2(d[:, 2:3], d[:, 0:1])], 1)


def portrait_face_crop(image: torch.Tensor, settings, size: int) -> torch.Tensor:
    """The face camera's field of view cut out of frontal-framed portraits [B, 3, R, R] and
    resized to [B, 3, size, size] (bilinear, differentiable): the ablation without the dual
    camera (``train/config.py``: ``LossConfig.face_source``; the evaluation suite's
    ``face_crop_psnr``). The box is fixed: the square the face camera sees at the head centre
    (``face_distance``, ``face_fov_deg``), placed where the portrait camera shows the world
    origin (the canonical face centre; the camera looks at the origin moved by
    ``portrait_shift``). A turned head moves a few per cent within it."""
    st = settings
    dist = st.portrait_radius + st.portrait_shift[2]  # camera to the origin's depth, frontal
    half = dist * math.tan(math.radians(st.portrait_fov_deg) / 2)  # half the portrait's height there
    centre_up = -st.portrait_shift[1] / half  # the origin above the image centre, in [-1, 1] units
    scale = st.face_distance * math.tan(math.radians(st.face_fov_deg) / 2) / half
    b = image.shape[0]
    theta = image.new_tensor([[scale, 0.0, 0.0], [0.0, scale, -centre_up]]).expand(b, 2, 3)
    grid = F.affine_grid(theta, [b, image.shape[1], size, size], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
