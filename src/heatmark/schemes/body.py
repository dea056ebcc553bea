"""Body joint scheme of the Leeds Sports Pose dataset (Johnson & Everingham, BMVC 2010).

Joint order of ``joints.mat``: 0 right ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee,
5 left ankle, 6 right wrist, 7 right elbow, 8 right shoulder, 9 left shoulder, 10 left elbow,
11 left wrist, 12 neck, 13 head top ("right" is the person's right). PCK on LSP is commonly
normalised by the torso: the distance between the right shoulder and the left hip.
"""

from __future__ import annotations

from heatmark.schemes.base import Scheme, mirror_pairs

LSP_14 = Scheme(
    name="lsp-14",
    num_points=14,
    flip_permutation=mirror_pairs(14, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)]),
    torso=(8, 3),
    source="Leeds Sports Pose joints.mat",
    point_names=(
        "right_ankle",
        "right_knee",
        "right_hip",
        "left_hip",
        "left_knee",
        "left_ankle",
        "right_wrist",
        "right_elbow",
        "right_shoulder",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "neck",
        "head_top",
    ),
)
