"""Where reading a tensor's values is free (issue 33).

On a GPU, ``.item()``, ``bool(t)``, ``nonzero``, boolean-mask indexing and copies to numpy make
the host wait for the device. On a CPU they cost nothing, and some CPU algorithms (a k-d tree,
Embree's ray casting, sparse loops over the samples that matter) are faster than their batched
torch forms. Code that has both forms asks :func:`on_host`: the CPU form for CPU tensors, the
batched sync-free form for accelerators. Input checks that read values run on the host only.

:func:`device_paths` makes CPU tensors take the accelerator forms: the sync-budget test counts
the syncs a GPU would see on a CPU, and tests hold both forms' outputs together.
"""

from __future__ import annotations

import contextlib

import torch

_FORCED = 0


def on_host(t: torch.Tensor) -> bool:
    """True for a CPU tensor (its values can be read without a device sync), unless
    :func:`device_paths` is active."""
    return t.device.type == "cpu" and not _FORCED


@contextlib.contextmanager
def device_paths():
    """Within it, CPU tensors take the accelerator (sync-free) forms."""
    global _FORCED
    _FORCED += 1
    try:
        yield
    finally:
        _FORCED -= 1
