"""Body joint scheme of the Leeds Sports Pose dataset (Johnson & Everingham, BMVC 2010).

Joint order of ``joints.mat``: 0 right ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee,
5 left ankle, 6 right wrist, 7 right elbow, 8 right shoulder, 9 left shoulder, 10 left elbow,
11 left wrist, 12 neck, 13 head top ("right" is the person's right). PCK on LSP is normalised by
the torso size: the distance between the left shoulder and the right hip, joints 10 and 3 of
``joints.mat`` (1-based), as the evaluation code most LSP results were computed with does
(``norm(gt(:,10) - gt(:,3))`` in the MATLAB ``eval_pck`` of Pishchulin et al., reused by
bearpaw's ``eval_pose``; its comment calls it "right shoulder and left hip" from the observer's
point of view). The other diagonal gives similar, not equal, numbers.
"""

from __future__ import annotations

from heatmark.schemes.base import Scheme, mirror_pairs

LSP_14 = Scheme(
    name="lsp-14",
    num_points=14,
    flip_permutation=mirror_pairs(14, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)]),
    torso=(9, 2),  # left shoulder - right hip (module docstring)
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
