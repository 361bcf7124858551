"""A photo's person becomes a personal model: pivotal tuning brings the render closer to the
photo while other identities do not move (FiLM mode: exactly; weights mode: barely) and the base
generator stays as it was; saved, the model loads with ``from_pretrained`` (by folder and by
repo id from a Hub cache) and draws the same person; an occupied folder is refused."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from skimage import data

from aniportrait_hub import AniPortraitGAN
from aniportrait_hub.inversion import (InversionConfig, PhotoQuality, PhotoTarget, TuneConfig, identity_from_target,
                                       photo_loss, prepare_photo, save_personal_model, tune_identity)
from aniportrait_hub.inversion.latents import LossWeights, bake_low
from aniportrait_hub.inversion.maps import MapTuneConfig
from aniportrait_hub.pretrained import DEFAULT_MODEL


@pytest.fixture(scope="module")
def made():
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    before = {k: v.clone() for k, v in pipe.radiance.state_dict().items()}
    target = PhotoTarget.from_prepared(prepare_photo(data.astronaut()), side=64, face_side=64)
    q = PhotoQuality(InversionConfig(steps=3), TuneConfig(steps=3, film_lr=0.02),
                     MapTuneConfig(steps=2, resolution=128, face_resolution=128))
    tuned, person = identity_from_target(pipe, target, q, info={"photo": "astronaut"})
    return pipe, before, target, tuned, person


def _loss(pipe, latents, target):
    with torch.no_grad():
        return float(photo_loss(pipe, bake_low(pipe, latents, 64), target, LossWeights())[0])


def _unchanged(pipe, before):
    return all(torch.equal(before[k], v) for k, v in pipe.radiance.state_dict().items())


def test_film_tuning_fits_the_photo_and_moves_nobody_else(made):
    pipe, before, target, tuned, person = made
    assert tuned is pipe and _unchanged(pipe, before)  # other identities render exactly as before
    assert person.info["tune_mode"] == "film" and person.latents.film_offset.abs().max() > 0
    untuned = dataclasses.replace(person.latents, film_offset=None)
    base_loss, tuned_loss = _loss(pipe, untuned, target), _loss(pipe, person.latents, target)
    assert tuned_loss < 0.95 * base_loss, (base_loss, tuned_loss)
    with pytest.raises(ValueError, match="film_offset must be"):
        pipe(latents=dataclasses.replace(person.latents, film_offset=person.latents.film_offset[:, :, :2]))


@pytest.mark.slow  # tunes phi's heads (not the default FiLM mode) and bakes 4 people with each phi
def test_weights_tuning_fits_the_photo_and_barely_moves_other_people(made):
    pipe, before, target, _, person = made
    pivot = dataclasses.replace(person.latents, film_offset=None)
    result = tune_identity(pipe, target, pivot, TuneConfig(mode="weights", steps=3, lr=5e-4))
    tuned = result.pipe
    assert _unchanged(pipe, before)
    assert tuned.radiance is not pipe.radiance and tuned.manifold is pipe.manifold
    assert torch.equal(result.latents.appearance_face_id, pivot.appearance_face_id)  # the pivot as inverted
    base_loss, tuned_loss = _loss(pipe, pivot, target), _loss(tuned, pivot, target)
    assert tuned_loss < 0.97 * base_loss, (base_loss, tuned_loss)
    def moved(latents):
        a = pipe(latents=latents, seed=1, resolution=64, output_type="np").images
        return float(np.abs(a - tuned(latents=latents, seed=1, resolution=64, output_type="np").images).mean())

    others, own = moved(pipe.sample_latents(4, seed=11)), moved(pivot)  # not the seeds the locality term watched
    assert others < own, (others, own)  # the change is aimed at the person, though shared (BENCHMARKS.md)


def _hub_cache(tmp_path, folder, repo="me/my-portrait"):
    root = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    sha = "0123456789abcdef0123456789abcdef01234567"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    shutil.copytree(folder, root / "snapshots" / sha)
    return tmp_path / "hub"


def test_a_saved_personal_model_loads_and_draws_the_person(made, tmp_path):
    pipe, _, target, tuned, person = made
    folder = save_personal_model(tuned, person, tmp_path / "me")
    assert (folder / "identity.safetensors").is_file() and "Personal model" in (folder / "README.md").read_text()
    # the person and a reference to the embedded base, not a copy of it (issue 31: < 10 MB)
    assert json.loads((folder / "personal.json").read_text())["base"] == "default"
    assert sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) < 10_000_000
    for loaded in (AniPortraitGAN.from_pretrained(folder),
                   AniPortraitGAN.from_pretrained("me/my-portrait", cache_dir=_hub_cache(tmp_path, folder))):
        assert torch.equal(loaded.identity.latents.noise, person.latents.noise)
        assert torch.equal(loaded.identity.latents.film_offset, person.latents.film_offset)
        assert torch.equal(loaded.identity.latents.map_residual.rgb, person.latents.map_residual.rgb)
        assert loaded.identity.info["photo"] == "astronaut"
        got = loaded(expression=target.expression, joint_eulers=target.joint_eulers, camera=target.camera,
                     resolution=64, output_type="np").images
        ref = tuned(latents=person.latents, truncation_psi=1.0, expression=target.expression,
                    joint_eulers=target.joint_eulers, camera=target.camera, resolution=64, output_type="np").images
        assert np.abs(got - ref).max() < 1e-4
    assert AniPortraitGAN.from_pretrained(DEFAULT_MODEL).identity is None
    with pytest.raises(FileExistsError, match="not empty"):
        save_personal_model(tuned, person, folder)
    # a base whose weights changed since, and a folder without its identity, are refused by name
    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)
    ref = json.loads((changed / "personal.json").read_text())
    (changed / "personal.json").write_text(json.dumps({**ref, "base_fingerprint": "0" * 16}))
    with pytest.raises(ValueError, match="other weights"):
        AniPortraitGAN.from_pretrained(changed)
    (folder / "identity.safetensors").unlink()
    with pytest.raises(ValueError, match="identity.safetensors is missing"):
        AniPortraitGAN.from_pretrained(folder)
