"""Export a portrait as a rigged glTF avatar.

    aniportrait export (--seed N | --identity DIR_OR_FILE) --out portrait.glb [--model M]
        [--psi 0.7] [--texture 512] [--stride 2] [--no_morphs] [--keep_hidden] [--overwrite]

Writes a binary glTF 2.0 (``.glb``) that Blender, three.js or any glTF viewer opens: one
alpha-blended mesh layer per manifold, the person's radiance maps as an unlit texture atlas, a
skin on the SMPL joint tree, and the 52 ARKit blend shapes as morph targets
(:mod:`aniportrait_hub.export.avatar`). ``--identity`` takes a personal model's folder or an
identity file (``animate --save_identity``, the app's downloads). Never overwrites without
``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aniportrait_hub.commands.common import claim_output, new_parser, run_command


def run(out: Path, seed: int | None = None, identity: Path | None = None, model: str | None = None,
        psi: float = 0.7, texture: int = 512, stride: int = 2, morphs: bool = True, overwrite: bool = False,
        keep_hidden: bool = False) -> Path:
    """Export one person (a seed of ``model``, or a saved identity) to ``out``; returns ``out``."""
    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN
    from aniportrait_hub.export.avatar import AvatarConfig
    from aniportrait_hub.inversion.personal import IDENTITY_FILE, read_identity_file

    out = claim_output(out, overwrite, ".glb")
    if (seed is None) == (identity is None):
        raise ValueError("export one person: --seed N or --identity DIR_OR_FILE")
    if texture not in (128, 256, 512, 1024):
        raise ValueError(f"--texture must be 128, 256, 512 or 1024, got {texture}")
    if not 1 <= stride <= 4:
        raise ValueError(f"--stride must be 1 to 4, got {stride}")
    if identity is not None:
        identity = Path(identity)
        is_folder = identity.is_dir()
        pipe = AniPortraitGAN.from_pretrained(identity if is_folder else (model or DEFAULT_MODEL))
        person = pipe.identity if is_folder else read_identity_file(identity)
        if person is None:
            raise ValueError(f"{identity} holds no {IDENTITY_FILE}: not a personal model")
        latents, psi = person.latents, 1.0
    else:
        pipe = AniPortraitGAN.from_pretrained(model or DEFAULT_MODEL)
        latents = pipe.sample_latents(1, seed=seed)
    cfg = AvatarConfig(texture=texture, stride=stride, morph_targets=morphs)
    if keep_hidden:
        cfg.seen_views = ()
    # written beside, then moved over: an --overwrite that fails leaves the old file in place
    part = out.with_name(f".{out.name}.part")
    part.unlink(missing_ok=True)
    try:
        pipe.export_gltf(latents, part, cfg, truncation_psi=psi)
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return out


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--seed", type=int, help="a person sampled by the model with this seed")
    who.add_argument("--identity", type=Path,
                     help="a personal model's folder or an identity .safetensors file (animate --save_identity)")
    p.add_argument("--out", type=Path, required=True, help="the .glb to write")
    p.add_argument("--model", default=None, help="model folder or Hub repo id (default: the embedded default model)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation of a sampled person (default 0.7)")
    p.add_argument("--texture", type=int, default=512, help="side of each layer's texture: 128, 256, 512 (default), 1024")
    p.add_argument("--stride", type=int, default=2,
                   help="mesh density: every N-th row and column of the 128^2 bake grid (default 2, ~70k triangles; "
                        "3 for software WebGL)")
    p.add_argument("--no_morphs", action="store_true", help="leave out the 52 ARKit morph targets (smaller)")
    p.add_argument("--keep_hidden", action="store_true",
                   help="keep the mesh cells no view within +-30 deg sees (by default they are dropped: "
                        "less than half the triangles, for real-time players)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    return run_command(lambda: f"wrote {run(a.out, a.seed, a.identity, a.model, a.psi, a.texture, a.stride, not a.no_morphs, a.overwrite, a.keep_hidden)}",
                       (ValueError, FileExistsError, FileNotFoundError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
