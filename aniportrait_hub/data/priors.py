"""Label-dictionary priors computed from a dataset (METHOD.md 1.2; issue: datasets).

The paper samples identity, expression and pose + camera as whole rows of the labels estimated
on its training set; this turns the ``train`` split of a dataset folder into the
:class:`~aniportrait_hub.conditioning.priors.LabelPriors` component that the pipeline samples.
"""

from __future__ import annotations

import torch

from aniportrait_hub.conditioning.priors import LabelPriors
from aniportrait_hub.data.format import Dataset, DatasetError


def priors_from_dataset(dataset: Dataset, split: str = "train", pose_scale: float = 0.6,
                        noise_dim: int = 80) -> LabelPriors:
    """The label rows of ``split`` as a pipeline component."""
    arr = dataset.arrays(split)
    n = arr["camera"].shape[0]
    if n == 0:
        raise DatasetError(f"{dataset.root}: no '{split}' records to build priors from")
    info = dataset.info
    priors = LabelPriors(num_rows=n, id_dim=info.id_dim, exp_dim=info.exp_dim, pose_scale=pose_scale,
                         noise_dim=noise_dim, source=f"{dataset.root.name} ({info.source}, {split}, {n} rows)")
    with torch.no_grad():
        for key in ("face_id", "betas", "expression", "joint_eulers", "camera"):
            getattr(priors, key).copy_(torch.from_numpy(arr[key]))
    return priors
