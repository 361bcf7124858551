"""Convert a user's SMPL model pickle (MPI's layout) into a plain ``.npz``, without chumpy.

``aniportrait convert-smpl SMPL_NEUTRAL.pkl smpl_neutral.npz``

MPI's pickles hold ``chumpy`` arrays, and chumpy does not import on Python 3.11 / numpy 2.
This reads them with a restricted unpickler instead: chumpy objects and scipy sparse matrices
are rebuilt from their pickled state as plain numpy arrays, numpy arrays are allowed, and any
other class is refused (a pickle can run code; nothing else is ever constructed). The output
holds ``v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f`` and is read by
``BodyModel.from_smpl_file``. SMPL's licence forbids redistribution: keep the files private.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from aniportrait_hub.body.assets import SMPL_FIELDS, AssetError, check_smpl_arrays

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("copyreg", "_reconstructor"), ("builtins", "object"),  # protocol 0/1 object records
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    ("builtins", "set"), ("builtins", "frozenset"),  # chumpy's bookkeeping state
}
#: Python 2 module names as they stand in MPI's pickles.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _PickledState:
    """Stand-in for a chumpy or scipy-sparse object: keeps the state it is unpickled with."""

    source = ""

    def __init__(self, *args):
        self.args = args
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_array(self) -> np.ndarray:
        st = self.state
        if isinstance(st, tuple) and len(st) == 2 and isinstance(st[1], dict):
            st = st[1]  # (slots, dict) form
        if not isinstance(st, dict):
            raise AssetError(f"cannot read the pickled {self.source} object (state {type(st).__name__})")
        if "sparse" in self.source:
            shape = st.get("_shape", st.get("shape"))
            data, indices, indptr = st["data"], st["indices"], st["indptr"]
            dense = np.zeros(shape, dtype=np.float64)
            if self.source.endswith(("csc_matrix", "csc_array")):
                for col in range(shape[1]):
                    sl = slice(indptr[col], indptr[col + 1])
                    dense[indices[sl], col] = data[sl]
            elif self.source.endswith(("csr_matrix", "csr_array")):
                for row in range(shape[0]):
                    sl = slice(indptr[row], indptr[row + 1])
                    dense[row, indices[sl]] = data[sl]
            else:
                raise AssetError(f"unsupported sparse format {self.source}")
            return dense
        if "x" not in st:
            raise AssetError(f"pickled {self.source} object has no array value ('x'); keys {sorted(st)}")
        x = st["x"]
        return x.to_array() if isinstance(x, _PickledState) else np.asarray(x)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = _PY2_MODULES.get(module, module)
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module.replace("numpy.core.", "numpy._core."), name)
        if module.split(".")[0] == "chumpy" or module.startswith("scipy.sparse"):
            return type(name, (_PickledState,), {"source": f"{module}.{name}"})
        raise AssetError(f"the pickle refers to {module}.{name}, which an SMPL model file does not "
                         "hold; refusing to load it")


def read_smpl_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """The SMPL arrays of an MPI pickle as numpy arrays (no chumpy, no code run).

    Raises:
        AssetError: the file is missing, not a pickle, or not an SMPL model.
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"SMPL file not found: {path}")
    try:
        with open(path, "rb") as fh:
            raw = _RestrictedUnpickler(fh, encoding="latin1").load()
    except AssetError:
        raise
    except Exception as err:
        raise AssetError(f"{path} is not a readable SMPL pickle ({type(err).__name__}: {err})") from err
    if not isinstance(raw, dict):
        raise AssetError(f"{path} holds a {type(raw).__name__}, not an SMPL model dictionary")
    out = {}
    for key in (*SMPL_FIELDS, "posedirs"):
        if key not in raw:
            continue
        val = raw[key]
        out[key] = val.to_array() if isinstance(val, _PickledState) else np.asarray(val)
    return out


def convert(src: str | Path, dst: str | Path, overwrite: bool = False) -> Path:
    """Convert ``src`` (MPI pickle) to ``dst`` (``.npz``), validating every field first."""
    dst = Path(dst)
    if dst.suffix != ".npz":
        raise AssetError(f"output must end in .npz, got {dst}")
    if Path(src).resolve() == dst.resolve():
        raise AssetError("output would overwrite the input")
    if dst.exists() and not overwrite:
        raise AssetError(f"{dst} exists; pass --overwrite to replace it")
    arrays = check_smpl_arrays(read_smpl_pickle(src), str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(dst)
    return dst


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.body.convert_smpl", "convert-smpl"))
