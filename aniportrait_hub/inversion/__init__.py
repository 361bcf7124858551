"""Own-photo animation (issue: own-photo animation): a photo -> an animatable identity.

So far: :func:`prepare_photo`, one photo prepared the way the dataset preparation prepares
photos (detection, label fit, aligned crop, person mask, face-camera crop), with a specific
error for each photo it cannot use; and :func:`invert_latents`, the appearance code that
renders like a target image at given labels.
"""

from aniportrait_hub.inversion.latents import Inversion, InversionConfig, invert_latents
from aniportrait_hub.inversion.photo import MAX_PHOTO_SIDE, MAX_PROFILE_DEG, PhotoError, PreparedPhoto, prepare_photo

__all__ = ["MAX_PHOTO_SIDE", "MAX_PROFILE_DEG", "Inversion", "InversionConfig", "PhotoError", "PreparedPhoto",
           "invert_latents", "prepare_photo"]
