"""Reenact's kernels: batched face crop (affine warp), paste-back with a feathered attention blend,
and colour/layout conversion. This is the plain-torch reference; it runs on any torch device.

Conventions: points (x, y) in pixels with pixel centres at integers; 2x3 matrices named by the
frames they map (``crop_from_frame``); images uint8 (H, W, 3) RGB at the edges, float (N, 3, H, W)
in [-1, 1] inside.
"""
from reenact.kernels.color import to_float, to_numpy_image, to_uint8
from reenact.kernels.paste import feather_ramp, paste_faces, paste_weight
from reenact.kernels.warp import crop_faces, invert_affines

__all__ = ["crop_faces", "paste_faces", "paste_weight", "feather_ramp", "invert_affines",
           "to_float", "to_uint8", "to_numpy_image"]
