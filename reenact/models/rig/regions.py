"""Named groups of MediaPipe Face Mesh points (478-point topology) the rig moves.

"Left"/"right" are image sides (the person's right eye is on the image's left). Curves are ordered
from the image-left corner to the image-right corner. Indices follow MediaPipe's published
connection lists (FACE_LANDMARKS_LIPS, _EYE, _EYEBROW, _FACE_OVAL).
"""
from __future__ import annotations

# Lips, image-left corner (61 / 78) to image-right corner (291 / 308).
LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
INNER_CORNERS = (78, 308)

# Eyes: upper and lower lid curves, outer-to-inner on the image-left eye, inner-to-outer on the right.
EYE_L_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_L_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_R_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
EYE_R_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
# Crease line above each upper lid (moves with the lid, less).
LID_CREASE_L = (226, 247, 30, 29, 27, 28, 56, 190, 243)
LID_CREASE_R = (463, 414, 286, 258, 257, 259, 260, 467, 446)
# Below each lower lid (cheek top).
UNDER_EYE_L = (130, 25, 110, 24, 23, 22, 26, 112, 243)
UNDER_EYE_R = (463, 341, 256, 252, 253, 254, 339, 255, 359)
IRIS = tuple(range(468, 478))

# Brows, image-left brow outer->inner, image-right brow inner->outer (upper and lower edge).
BROW_L_UPPER = (70, 63, 105, 66, 107)
BROW_L_LOWER = (46, 53, 52, 65, 55)
BROW_R_UPPER = (336, 296, 334, 293, 300)
BROW_R_LOWER = (285, 295, 282, 283, 276)

# Cheeks (malar fat pad) and the nasolabial area.
CHEEK_L = (116, 117, 118, 119, 100, 47, 126, 142, 36, 205, 50, 101, 123, 187)
CHEEK_R = (345, 346, 347, 348, 329, 277, 355, 371, 266, 425, 280, 330, 352, 411)
NOSE_WING = (98, 97, 2, 326, 327, 64, 294, 129, 358, 49, 279)
CHIN = (152, 148, 176, 149, 150, 377, 400, 378, 379, 175, 199, 200, 18, 83, 313, 201, 421, 208, 428,
        32, 262, 171, 396, 140, 369)
JAW = (136, 172, 58, 132, 365, 397, 288, 361, 135, 169, 210, 202, 364, 394, 430, 422, 214, 434)


def inner_mouth_polygon() -> tuple[int, ...]:
    """Closed polygon of the inner lip line: upper curve left->right, lower curve right->left."""
    return LIP_INNER_UPPER + tuple(reversed(LIP_INNER_LOWER[1:-1]))


def eye_lid_pairs() -> list[tuple[int, int]]:
    """(upper, lower) lid point pairs facing each other, corners excluded: a blink moves each upper
    point toward its partner."""
    pairs = list(zip(EYE_L_UPPER[1:-1], EYE_L_LOWER[1:-1]))
    pairs += list(zip(EYE_R_UPPER[1:-1], EYE_R_LOWER[1:-1]))
    return pairs
