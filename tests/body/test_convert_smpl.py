import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from aniportrait_hub.body import AssetError, BodyModel, inverse_skinning
from aniportrait_hub.body.conventions import SMPL_PARENTS
from aniportrait_hub.body.convert_smpl import convert
from aniportrait_hub.commands.convert_smpl import main


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A stand-in ``chumpy.ch.Ch`` so that pickles record chumpy objects as MPI's files do."""
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:  # pickled as a plain object with its value in the state's 'x'
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch, pkg.ch = Ch, mod
    monkeypatch.setitem(sys.modules, "chumpy", pkg)
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
    return Ch


def _synthetic_smpl(rng):
    """SMPL's array layout (6890 vertices, 24 joints, 207 pose correctives), random values."""
    v = 6890
    tmpl = rng.normal(scale=0.3, size=(v, 3))
    jreg = scipy.sparse.random(24, v, density=0.01, random_state=1, format="csc")
    jreg = scipy.sparse.csc_matrix(jreg.multiply(1.0 / jreg.sum(1)))
    weights = rng.dirichlet(np.ones(24) * 0.2, size=v)
    return {
        "v_template": tmpl, "shapedirs": rng.normal(scale=0.01, size=(v, 3, 10)),
        "posedirs": rng.normal(scale=0.002, size=(v, 3, 207)), "J_regressor": jreg, "weights": weights,
        "kintree_table": np.array([[4294967295] + list(SMPL_PARENTS[1:]), list(range(24))], dtype=np.int64),
        "f": rng.integers(0, v, size=(13776, 3)).astype(np.uint32),
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


def test_mpi_pickle_converts_without_chumpy_and_drives_the_body(tmp_path, fake_chumpy):
    rng = np.random.default_rng(0)
    ref = _synthetic_smpl(rng)
    raw = dict(ref)
    for k in ("v_template", "shapedirs", "posedirs", "weights"):
        raw[k] = fake_chumpy(ref[k])
    src = tmp_path / "SMPL_NEUTRAL.pkl"
    src.write_bytes(pickle.dumps(raw, protocol=2))
    before = src.read_bytes()
    dst = tmp_path / "smpl.npz"
    assert main([str(src), str(dst)]) == 0
    assert src.read_bytes() == before  # input untouched
    got = dict(np.load(dst))
    assert np.allclose(got["v_template"], ref["v_template"], atol=1e-6)
    assert np.allclose(got["J_regressor"], ref["J_regressor"].toarray(), atol=1e-6)
    assert np.allclose(got["posedirs"], ref["posedirs"], atol=1e-6)

    body = BodyModel.from_smpl_file(dst)
    betas, eul = torch.randn(2, 10) * 0.5, (torch.rand(2, 6, 3) - 0.5)
    out = body(betas, eul)
    theirs = body.smplx_forward(betas, eul)
    assert torch.allclose((theirs.vertices - out.origin_m[:, None]) / body.world_frame.scale, out.vertices, atol=1e-4)
    # Pose correctives included, the inverse skinning still returns the neutral vertices.
    cand = torch.arange(body.num_vertices)
    sk = inverse_skinning(out.vertices, out, cand)
    same = sk.vertex_index == cand  # duplicate positions may pick a twin vertex
    assert same.float().mean() > 0.99
    assert (sk.neutral_points - out.neutral_vertices)[same].abs().max() < 1e-4


def test_converter_refuses_overwrite_and_foreign_pickles(tmp_path, fake_chumpy):
    dst = tmp_path / "out.npz"
    dst.write_bytes(b"precious")
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps(_synthetic_smpl(np.random.default_rng(1)), protocol=2))
    with pytest.raises(AssetError, match="exists; pass --overwrite"):
        convert(src, dst)
    assert dst.read_bytes() == b"precious"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    with pytest.raises(AssetError, match=r"refers to (posix|os|nt)\.system.*refusing"):
        convert(evil, tmp_path / "evil.npz")
    assert not (tmp_path / "evil.npz").exists()

    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"\x80\x02not really")
    assert main([str(broken), str(tmp_path / "b.npz")]) == 2

    partial = tmp_path / "partial.pkl"
    partial.write_bytes(pickle.dumps({"v_template": np.zeros((6890, 3))}, protocol=2))
    with pytest.raises(AssetError, match=r"missing SMPL field\(s\)"):
        convert(partial, tmp_path / "p.npz")
