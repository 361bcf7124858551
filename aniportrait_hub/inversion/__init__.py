"""Own-photo animation (issue: own-photo animation): a photo -> an animatable personal model.

- :func:`prepare_photo`: one photo prepared the way the dataset preparation prepares photos
  (detection, label fit, aligned crop, person mask, face-camera crop), with a specific error
  for each photo it cannot use;
- :func:`invert_latents`: the appearance code and appearance face identity that render like
  the photo at its labels, started from the photo encoder's guess (:mod:`.encoder`);
- :func:`tune_identity`: pivotal tuning around that code: the person's own FiLM offset of phi
  (default; nobody else moves) or phi's heads with a locality term;
- :func:`tune_maps`: the photo's own pixels as a residual on the person's radiance maps
  (mirror symmetry and the generator's maps where the photo does not see);
- :func:`photo_to_model`: all of it at a named quality; :func:`save_personal_model` keeps the
  result as a folder ``AniPortraitGAN.from_pretrained`` loads (``pipe.identity``);
  :func:`write_identity_file` / :func:`read_identity_file` hand a person around as one small file;
- :mod:`.edits`: attribute directions (age, gender, weight, hair length, skin tone).

May import: ``body``, ``conditioning``, ``data``, ``models``, ``pipelines``, ``pretrained`` and
``rendering``; the pipeline never imports it.
"""

from aniportrait_hub.inversion.identity import QUALITIES, PhotoQuality, identity_from_target, photo_to_model
from aniportrait_hub.inversion.latents import (Inversion, InversionConfig, LossWeights, PhotoPixels, PhotoTarget,
                                               invert_latents, photo_loss)
from aniportrait_hub.inversion.maps import MapTuneConfig, MapTuning, tune_maps
from aniportrait_hub.inversion.personal import (PersonalIdentity, load_identity, read_identity_file,
                                                save_personal_model, write_identity_file)
from aniportrait_hub.inversion.photo import MAX_PHOTO_SIDE, MAX_PROFILE_DEG, PhotoError, PreparedPhoto, prepare_photo
from aniportrait_hub.inversion.tuning import TuneConfig, Tuning, tune_identity

__all__ = ["MAX_PHOTO_SIDE", "MAX_PROFILE_DEG", "QUALITIES", "Inversion", "InversionConfig", "LossWeights",
           "MapTuneConfig", "MapTuning", "PersonalIdentity", "PhotoError", "PhotoPixels", "PhotoQuality", "PhotoTarget",
           "PreparedPhoto", "TuneConfig", "Tuning",
           "identity_from_target", "invert_latents", "load_identity", "photo_loss", "photo_to_model", "prepare_photo",
           "read_identity_file", "save_personal_model", "tune_identity", "tune_maps", "write_identity_file"]
