"""Exported avatars: a portrait as a rigged, layered glTF mesh (issue 32).

- :mod:`.avatar`: :func:`build_avatar`, the layered meshes, atlas, skin and morph targets;
- :mod:`.gltf`: :func:`write_glb` / :func:`read_glb`, binary glTF 2.0 through ``pygltflib``.

May import: ``rendering``, ``body``, ``deformation`` and ``commands`` (from the deprecated
``export/command.py`` alone, the old path of ``aniportrait export``, kept for one release).
Nothing imports it but ``pipelines`` (the ``export_gltf`` method) and the commands.
"""

from aniportrait_hub.export.avatar import Avatar, AvatarConfig, AvatarLevel, build_avatar

__all__ = ["Avatar", "AvatarConfig", "AvatarLevel", "build_avatar"]
