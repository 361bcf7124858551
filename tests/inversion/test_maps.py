"""Map-level tuning: the photo's own pixels become the person's appearance. On a person of the
default model (another seed's render as the photo), tuning the maps raises the input view far
above the inversion alone; the tuned person saves and loads bit for bit, renders the same after
loading, and nobody else moves."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from aniportrait_hub.inversion import InversionConfig, MapTuneConfig, PhotoTarget, invert_latents, tune_maps
from aniportrait_hub.inversion.personal import PersonalIdentity, read_identity_file, write_identity_file


@pytest.fixture(scope="module")
def tuned(default_pipe):
    pipe = default_pipe
    exp = torch.zeros(1, pipe.assets.config.exp_dim)
    eul, cam = torch.zeros(1, 6, 3), torch.tensor([[math.pi / 2, math.pi / 2]])
    truth = pipe.sample_latents(1, seed=11)
    with torch.no_grad():
        out = pipe.render_frame(pipe.bake_identity(truth, 0.7), exp, eul, cam, 256, face_resolution=128)
        other = pipe.render_frame(pipe.bake_identity(pipe.sample_latents(1, seed=5)), exp, eul, cam, 64).image
    weights = {f"{n}.{k}": v.clone() for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)
               for k, v in m.state_dict().items()}
    image, mask, face = out.image[0], out.mask[0, 0], out.face_image[0]
    target = PhotoTarget.from_images(image, mask, face, truth.face_id, truth.betas, exp, eul, cam, side=64,
                                     face_side=64)
    inv = invert_latents(pipe, target, InversionConfig(steps=1))
    maps = tune_maps(pipe, inv.latents, target.pixels, exp, eul, cam,
                     MapTuneConfig(steps=12, resolution=128, face_resolution=128))
    person = dataclasses.replace(inv.latents, map_residual=maps.residual)
    return pipe, (exp, eul, cam), image, inv.latents, person, maps, other, weights


def _psnr(pipe, latents, labels, image) -> float:
    with torch.no_grad():
        out = pipe.render_frame(pipe.bake_identity(latents, 1.0), *labels, 128)
    ref = F.interpolate(image[None], size=128, mode="area")
    return float(-10 * torch.log10(((out.image - ref) ** 2).mean()))


def test_tuning_the_maps_brings_the_photo_into_the_input_view(tuned):
    pipe, labels, image, inverted, person, maps, _, _ = tuned
    before, after = _psnr(pipe, inverted, labels, image), _psnr(pipe, person, labels, image)
    assert after >= before + 5.0, (before, after)  # measured 17.3 -> 24.3 dB (12 steps)
    assert maps.losses[-1] < 0.5 * maps.losses[0]
    # what the photo sees neither directly nor in the mirror, beyond the fill's reach, stays the
    # generator's exactly; nearer, the neighbours' residual fades out
    seen = (maps.seen > 0).float()
    k = 4 * MapTuneConfig().fill_reach + 3
    far = F.max_pool2d(torch.maximum(seen, seen.flip(-1)), k, stride=1, padding=k // 2)[:, 0] == 0
    change = maps.residual.rgb[0].abs().sum(1)
    assert far.float().mean() > 0.3 and change[far].max() == 0, (far.float().mean(), change[far].max())
    assert change[~far & (seen[:, 0] == 0)].mean() < change[seen[:, 0] > 0].mean()


def test_a_tuned_person_saves_bit_for_bit_and_nobody_else_moves(tuned, tmp_path):
    pipe, labels, image, _, person, _, other_before, weights = tuned
    ident = PersonalIdentity(person, *labels, {"photo": "seed 11"})
    path = write_identity_file(ident, tmp_path / "me.safetensors")
    assert path.stat().st_size < 3_000_000  # the residual is two PNG atlases
    back = read_identity_file(path).latents
    assert torch.equal(back.map_residual.rgb, person.map_residual.rgb)
    assert torch.equal(back.map_residual.alpha, person.map_residual.alpha)
    with torch.no_grad():
        a = pipe.render_frame(pipe.bake_identity(person, 1.0), *labels, 64).image
        b = pipe.render_frame(pipe.bake_identity(back, 1.0), *labels, 64).image
        other = pipe.render_frame(pipe.bake_identity(pipe.sample_latents(1, seed=5)), *labels, 64).image
    assert torch.equal(a, b)
    # the generator's weights are untouched, and others render exactly as before
    now = {f"{n}.{k}": v for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)
           for k, v in m.state_dict().items()}
    assert now.keys() == weights.keys() and all(torch.equal(now[k], weights[k]) for k in now)
    assert torch.equal(other, other_before)
    with pytest.raises(ValueError, match="map residual must be"):
        pipe.bake_identity(dataclasses.replace(person, map_residual=dataclasses.replace(
            person.map_residual, alpha=person.map_residual.alpha[:, :, :, :8])))
