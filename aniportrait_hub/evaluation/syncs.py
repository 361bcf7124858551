"""Count the operations that make the host wait for an accelerator (issue 33).

On a GPU, an op whose result's size or value the host must know (``.item()``, ``bool(t)``,
``nonzero``, boolean-mask indexing, ``unique``) and every copy to host memory stalls the Python
thread until the device has caught up. On a CPU the same ops cost nothing extra, which is why
they creep in unnoticed; this counter finds them on a CPU, so that a test on any machine can hold
a budget:

    with SyncCounter() as syncs:
        pipe.render_frame(cache, exp, eul, cam, 128)
    assert syncs.total <= 5, syncs.report()

It is a ``TorchDispatchMode`` (every aten op passes through it) plus a wrapper around
``Tensor.numpy`` and ``Tensor.tolist`` (a host copy that dispatches nothing on a CPU tensor).
``where`` records the Python frame (file:line in this package) of each, for the report.
"""

from __future__ import annotations

import collections
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: aten ops whose output size or value the host needs before it can go on.
SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique", "_unique2",
           "unique_dim", "unique_consecutive", "repeat_interleave"}


def _is_bool_index(args) -> bool:
    idx = args[1] if len(args) > 1 else None
    return isinstance(idx, (list, tuple)) and any(
        isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8) for t in idx)


def _in_optimizer() -> bool:
    return any("/torch/optim/" in fr.filename for fr in traceback.extract_stack(limit=12))


class SyncCounter(TorchDispatchMode):
    """Counts host syncs by kind; ``total``, ``counts``, ``report()``."""

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()
        self.sites: collections.Counter = collections.Counter()
        self._saved = {}

    def _note(self, kind: str) -> None:
        self.counts[kind] += 1
        for fr in reversed(traceback.extract_stack(limit=40)[:-2]):
            if "aniportrait_hub" in fr.filename or "/train/" in fr.filename:
                if fr.filename.endswith("syncs.py"):
                    continue
                self.sites[f"{kind} at {fr.filename.split('/')[-2]}/{fr.filename.split('/')[-1]}:{fr.lineno}"] += 1
                break

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        kwargs = kwargs or {}
        if name == "_local_scalar_dense" and _in_optimizer():
            pass  # torch.optim keeps its step counts on the host on every device (not a device sync)
        elif name in SYNCING:
            if name != "repeat_interleave" or (len(args) > 1 and isinstance(args[1], torch.Tensor)
                                               and kwargs.get("output_size") is None):
                self._note(name)
        elif name in ("index", "index_put", "index_put_", "_index_put_impl_") and _is_bool_index(args):
            self._note(f"{name} (bool mask)")
        elif name in ("_to_copy", "copy_") and args and isinstance(args[0], torch.Tensor):
            src = args[1] if name == "copy_" else args[0]
            dst = args[0].device if name == "copy_" else kwargs.get("device", src.device)
            if isinstance(src, torch.Tensor) and src.device.type != "cpu" and torch.device(dst).type == "cpu":
                self._note("copy to host")
        return func(*args, **kwargs)

    def __enter__(self):
        for meth in ("numpy", "tolist"):
            orig = getattr(torch.Tensor, meth)
            self._saved[meth] = orig

            def wrapped(t, *a, _orig=orig, _meth=meth, **k):
                self._note(f".{_meth}()")
                return _orig(t, *a, **k)

            setattr(torch.Tensor, meth, wrapped)
        return super().__enter__()

    def __exit__(self, *exc):
        for meth, orig in self._saved.items():
            setattr(torch.Tensor, meth, orig)
        self._saved.clear()
        return super().__exit__(*exc)

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))

    def report(self, top: int = 15) -> str:
        lines = [f"{self.total} host syncs: " + ", ".join(f"{k} {v}" for k, v in self.counts.most_common())]
        lines += [f"  {v:4d}  {k}" for k, v in self.sites.most_common(top)]
        return "\n".join(lines)
