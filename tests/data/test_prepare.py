"""Real-photo preparation: landmark embedding, label fitting, the prepare CLI on real photos
shipped in packages and on bad files, and the round trip on held-out synthetic renders."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aniportrait_hub.commands.prepare import main
from aniportrait_hub.data import open_dataset
from aniportrait_hub.data.fit import LabelFitter, head_orientations
from aniportrait_hub.data.landmarks import LandmarkEmbedding
from aniportrait_hub.data.prepare import PrepareConfig, Preparer
from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer, sample_labels

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def fitter():
    return LabelFitter()


def _photo(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:] / 255.0
    return (rgba[..., :3] * a + 255 * (1 - a)).round().astype(np.uint8)


def test_shipped_embedding_fits_the_open_body(body, fitter):
    emb = LandmarkEmbedding.load()
    assert emb.num_vertices == body.num_vertices and len(emb.mesh_index) == 70
    assert np.median(emb.residual_px) < 4 and emb.residual_px.max() < 10  # pixels at 512 on the build renders
    assert np.abs(emb.shoulder_offsets).max() < 0.03  # metres from joints 16 / 17
    with torch.no_grad():
        out = body(torch.zeros(1, 10), torch.zeros(1, 6, 3))
        sub = body(torch.zeros(1, 10), torch.zeros(1, 6, 3), vertex_ids=torch.as_tensor(emb.corner_ids))
    assert torch.allclose(emb.face_points(out.vertices), emb.face_points(sub.vertices, corners_only=True))
    with pytest.raises(ValueError, match="rebuild it"):
        emb.face_points(out.vertices[:, :100])


def test_fit_recovers_labels_and_the_crop_from_exact_landmarks(fitter):
    rng = np.random.default_rng(0)
    labs = [sample_labels(rng, SynthConfig(), fitter.face.exp_names) for _ in range(4)]
    lab = {k: torch.tensor(np.array([x[k] for x in labs]), dtype=torch.float32)
           for k in ("betas", "joint_eulers", "face_id", "expression", "camera")}
    with torch.no_grad():
        uv, sh, _ = fitter.model_points(lab, 256)
    scale, offset = 1.6, np.array([40.0, -25.0])  # the "photo": canonical crop scaled and moved
    face = np.zeros((4, 478, 2))
    face[:, fitter.emb.mesh_index] = uv.numpy() * scale + offset
    fit = fitter.fit(face, sh.numpy() * scale + offset, 256)
    assert fit.residual.max() < 2.0  # canonical pixels
    assert np.allclose(fit.scale, scale, rtol=0.12) and np.allclose(fit.offset, offset, atol=0.12 * 256 * scale)
    _, cam_true = head_orientations(fitter.body, lab["joint_eulers"].numpy(), lab["camera"].numpy())
    _, cam_fit = head_orientations(fitter.body, fit.joint_eulers, fit.camera)
    assert np.degrees(np.abs(cam_true - cam_fit)).mean() < 2.0
    assert fit.joint_eulers.shape == (4, 6, 3) and (fit.expression >= 0).all() and (fit.expression <= 1).all()


def test_fit_warm_started_from_the_previous_frame_follows_a_head_turn(fitter):
    """A video's next frame: started from the previous frame's fit (same person: shape and
    identity held), a third of a cold fit's steps follow a 6 deg head turn."""
    rng = np.random.default_rng(1)
    lab = sample_labels(rng, SynthConfig(), fitter.face.exp_names)
    frames = []
    for turn in (0.0, 0.1):  # head yaw, rad
        eul = np.array(lab["joint_eulers"])
        eul[3, 1] += turn
        frames.append({**lab, "joint_eulers": eul})
    lab2 = {k: torch.tensor(np.array([f[k] for f in frames]), dtype=torch.float32)
            for k in ("betas", "joint_eulers", "face_id", "expression", "camera")}
    with torch.no_grad():
        uv, sh, _ = fitter.model_points(lab2, 256)
    face = np.zeros((2, 478, 2))
    face[:, fitter.emb.mesh_index] = uv.numpy()
    first = fitter.fit(face[:1], sh.numpy()[:1], 256)
    warm = fitter.fit(face[1:], sh.numpy()[1:], 256, init=first.state, steps=100)
    _, cam_true = head_orientations(fitter.body, lab2["joint_eulers"].numpy(), lab2["camera"].numpy())
    _, cam_first = head_orientations(fitter.body, first.joint_eulers, first.camera)
    _, cam_warm = head_orientations(fitter.body, warm.joint_eulers, warm.camera)
    turned = np.degrees(cam_warm[0, 1] - cam_first[0, 1])
    assert abs(turned - np.degrees(cam_true[1, 1] - cam_true[0, 1])) < 2.5, turned  # a cold fit: 1.1
    assert warm.residual[0] < 2.0
    with pytest.raises(ValueError, match="previous FitResult.state"):
        fitter.fit(face[1:], sh.numpy()[1:], 256, init={"head": first.state["head"]})


def test_turn_head_turns_the_head_as_the_camera_sees_it(fitter):
    """A video frame's start: the last fit with the head turned by MediaPipe's rotation between
    two frames (camera frame). The head seen from the camera turns by exactly that rotation; the
    torso and the camera stay."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(2)
    state = {"head": np.array([[0.05, 0.2, -0.1]], np.float32), "cam": np.array([[0.04, -0.1]], np.float32),
             "collars": rng.normal(0, 0.05, (1, 2)).astype(np.float32), "shoulders": np.zeros((1, 2), np.float32),
             "betas": np.zeros((1, 3), np.float32), "face_id": np.zeros((1, 20), np.float32),
             "expression": np.zeros((1, 22), np.float32), "log_scale": np.zeros(1, np.float32),
             "offset": np.zeros((1, 2), np.float32)}
    turns = Rotation.from_euler("ZYX", [[0.0, 0.3, 0.0], [0.1, -0.2, 0.15]]).as_matrix()  # roll, yaw, pitch
    turned = fitter.turn_head(state, turns)
    assert turned["head"].shape == (2, 3) and np.array_equal(turned["cam"], np.repeat(state["cam"], 2, 0))
    assert np.array_equal(turned["collars"], np.repeat(state["collars"], 2, 0))

    def seen(s):
        lab = fitter._labels({k: torch.as_tensor(v) for k, v in s.items()})
        c = fitter._camera(lab["camera"].double()).cam_to_world.numpy()
        with torch.no_grad():
            head = fitter.body(torch.zeros(len(c), 10), lab["joint_eulers"]).joint_transforms[:, 15, :3, :3]
        return c.transpose(0, 2, 1) @ head.double().numpy()  # the head's rotation in camera coordinates

    before, after = seen(state), seen(turned)
    for k in range(2):
        assert np.degrees((Rotation.from_matrix(after[k] @ before[0].T) * Rotation.from_matrix(turns[k]).inv())
                          .magnitude()) < 0.05


def test_round_trip_on_heldout_renders(tmp_path, fitter):
    """Held-out synthetic renders prepared as photos: head pose (camera frame) within the 4 deg
    target, and an open jaw read as more open than the same face closed."""
    r = SyntheticRenderer(SynthConfig(res=384))
    photos = tmp_path / "photos"
    photos.mkdir()
    truth = {}
    for i in range(9, 90, 10):  # held-out identities
        rec, im = r.render(i)
        Image.fromarray(_photo(im["rgba"])).save(photos / f"{rec.name}.png")
        truth[rec.name] = rec
    jaw = r.face.exp_names.index("jawOpen")
    for v in (0.0, 0.6):
        exp = np.zeros(len(r.face.exp_names))
        exp[jaw] = v
        rec, im = r.render(99, labels={"expression": exp, "joint_eulers": np.zeros((6, 3))})
        Image.fromarray(_photo(im["rgba"])).save(photos / f"jaw{int(v * 10)}.png")
    rep = Preparer(PrepareConfig(images=photos, out=tmp_path / "prep", res=384, face_res=128)).run()
    ds = open_dataset(tmp_path / "prep")
    fitted = {rec.name: rec for rec in ds.records}
    assert len(rep["skipped"]) <= 1, rep["skipped"]
    names = [n for n in truth if n in fitted]
    e_t = np.array([truth[n].joint_eulers for n in names])
    c_t = np.array([truth[n].camera for n in names])
    _, cam_t = head_orientations(fitter.body, e_t, c_t)
    _, cam_f = head_orientations(fitter.body, np.array([fitted[n].joint_eulers for n in names]),
                                 np.array([fitted[n].camera for n in names]))
    assert np.degrees(np.abs(cam_t - cam_f)).mean() < 4.0
    assert fitted["jaw6"].expression[jaw] > fitted["jaw0"].expression[jaw] + 0.25


def test_prepare_real_photos_and_bad_inputs(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    astro = skimage_data.astronaut()
    Image.fromarray(astro).save(src / "astronaut.png")
    Image.fromarray(astro).convert("L").save(src / "astronaut gray.png")
    mpl = pytest.importorskip("matplotlib")
    hopper = Path(mpl.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    (src / "grace_hopper.jpg").write_bytes(hopper.read_bytes())
    (src / "notes.txt").write_text("not a photo")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR broken")
    Image.new("RGB", (60, 60)).save(src / "tiny.png")
    Image.fromarray(np.concatenate([astro, astro], 1)).save(src / "two.png")
    Image.new("RGB", (300, 300), (200, 200, 200)).save(src / "empty.png")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    out = tmp_path / "prepared"
    args = ["--images", str(src), "--out", str(out), "--res", "256", "--face_res", "128"]
    assert main(args) == 0
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}  # only read
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["prepared"]) == {"astronaut.png", "astronaut gray.png", "grace_hopper.jpg"}
    skipped = rep["skipped"]
    assert "not a readable image" in skipped["notes.txt"] and "too small" in skipped["tiny.png"]
    assert "2 faces found" in skipped["two.png"] and "no face found" in skipped["empty.png"]
    assert "corrupt" in skipped["corrupt.png"] or "not a readable" in skipped["corrupt.png"]
    assert "skipped: too small" in (out / "report.md").read_text()
    ds = open_dataset(out)
    assert sorted(r.name for r in ds.records) == ["astronaut", "astronaut_gray", "grace_hopper"]
    rec = {r.name: r for r in ds.records}["astronaut"]
    rgba = ds.load_rgba(rec)
    assert rgba.shape == (256, 256, 4) and 0.15 < (rgba[..., 3] > 127).mean() < 0.95  # background removed
    face = np.asarray(Image.open(ds.face_path(rec)))
    assert face.shape == (128, 128, 3)
    assert abs(rec.camera[1] - math.pi / 2) < 0.5
    smile = [LabelFitter().face.exp_names.index(u) for u in ("mouthSmileLeft", "mouthSmileRight")]
    assert min(rec.expression[i] for i in smile) > 0.1  # she smiles
    assert (out / "contact_sheet.png").is_file()
    # The crop is aligned like the renderer's portraits: her nose tip lies where the mean body's
    # does in a frontal canonical portrait (within 6% of the crop).
    from aniportrait_hub.data.detect import PhotoDetector

    crop = np.asarray(Image.alpha_composite(Image.new("RGBA", (256, 256), "white"),
                                            Image.fromarray(rgba)).convert("RGB"))
    with PhotoDetector() as det:
        nose = det.detect(crop).face[1]
    fitter = LabelFitter()
    lab = {"betas": torch.zeros(1, 10), "joint_eulers": torch.zeros(1, 6, 3), "face_id": torch.zeros(1, 80),
           "expression": torch.zeros(1, 52), "camera": torch.full((1, 2), math.pi / 2)}
    with torch.no_grad():
        uv, _, _ = fitter.model_points(lab, 256)
    canonical_nose = uv[0, list(fitter.emb.mesh_index).index(1)].numpy()
    assert np.linalg.norm(nose - canonical_nose) < 0.06 * 256
    # Never overwrites: a second run into the same folder is refused and leaves it intact.
    stamp = (out / "labels.jsonl").read_bytes()
    assert main(args) == 2 and (out / "labels.jsonl").read_bytes() == stamp


def test_prepare_folder_errors(tmp_path, capsys):
    assert main(["--images", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--images", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no files" in capsys.readouterr().err
