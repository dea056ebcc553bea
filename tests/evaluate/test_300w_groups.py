"""300W test groups (common / challenge / full / private test) from sample subsets, with partial
groups labelled by their counts. Synthetic sample lists: no data needed."""

import numpy as np
import pytest

from heatmark.data.sample import Sample
from heatmark.evaluate.evaluation import evaluate_samples, subset_groups, w300_groups, w300_part
from heatmark.schemes import FACE_68

RNG = np.random.default_rng(0)
POINTS = RNG.uniform(0, 100, size=(68, 2))


def faces(**counts: int) -> list[Sample]:
    """``faces(ibug=3)``: samples of those subsets (``__`` in a name stands for ``/``)."""
    return [
        Sample(points=POINTS, scheme=FACE_68, subset=name.replace("__", "/"))
        for name, count in counts.items()
        for _ in range(count)
    ]


def counts(groups: dict[str, np.ndarray]) -> dict[str, int]:
    return {name: int(selected.sum()) for name, selected in groups.items()}


@pytest.mark.parametrize(
    ("subset", "part"),
    [
        ("helen/testset", "common"),
        ("lfpw/testset", "common"),
        ("ibug", "challenge"),
        ("01_Indoor", "indoor"),
        ("300W/02_Outdoor", "outdoor"),
        ("300w/01_indoor", "indoor"),
        ("helen/trainset", ""),
        ("afw", ""),
        ("indoor", ""),
        ("", ""),
    ],
)
def test_each_subset_belongs_to_its_300w_part(subset: str, part: str) -> None:
    assert w300_part(subset) == part


def test_the_complete_test_sets_get_plain_labels() -> None:
    samples = faces(lfpw__testset=224, helen__testset=330, ibug=135)
    assert counts(w300_groups(samples)) == {
        "300W common": 554,
        "300W challenge": 135,
        "300W full": 689,
    }
    samples = faces(**{"300W__01_Indoor": 300, "300W__02_Outdoor": 300})
    assert counts(w300_groups(samples)) == {
        "300W private test": 600,
        "300W private indoor": 300,
        "300W private outdoor": 300,
    }


def test_partial_sets_say_how_many_faces_they_hold() -> None:
    samples = faces(lfpw__testset=224, ibug=135)
    assert counts(w300_groups(samples)) == {
        "300W common (partial: 224 of 554 faces)": 224,
        "300W challenge": 135,
        "300W full (partial: 359 of 689 faces)": 359,
    }
    samples = faces(ibug=7)  # challenge alone: no full
    assert counts(w300_groups(samples)) == {"300W challenge (partial: 7 of 135 faces)": 7}
    samples = faces(**{"01_Indoor": 300})  # indoor alone: the private set is partial
    assert counts(w300_groups(samples)) == {"300W private test (partial: 300 of 600 faces)": 300}
    samples = faces(ibug=136)
    assert list(w300_groups(samples)) == ["300W challenge (136 faces; the official set has 135)"]


def test_training_parts_and_other_datasets_get_no_300w_group() -> None:
    assert w300_groups(faces(afw=3, helen__trainset=2, lfpw__trainset=1)) == {}
    assert w300_groups(faces(train=2, test=2)) == {}


def test_groups_reach_the_evaluation_next_to_the_subsets() -> None:
    samples = faces(helen__testset=3, ibug=2, **{"300W__01_Indoor": 1, "300W__02_Outdoor": 2})
    groups = subset_groups(samples)
    assert counts(groups) == {
        "300W/01_Indoor": 1,
        "300W/02_Outdoor": 2,
        "helen/testset": 3,
        "ibug": 2,
        "300W common (partial: 3 of 554 faces)": 3,
        "300W challenge (partial: 2 of 135 faces)": 2,
        "300W full (partial: 5 of 689 faces)": 5,
        "300W private test (partial: 3 of 600 faces)": 3,
        "300W private indoor (partial: 1 of 300 faces)": 1,
        "300W private outdoor (partial: 2 of 300 faces)": 2,
    }
    pred = np.stack([s.points for s in samples]) + [1.0, 0.0]
    evaluation = evaluate_samples(pred, samples)
    private = evaluation.subsets["300W private test (partial: 3 of 600 faces)"]
    assert private.count == 3
    assert evaluation.to_dict()["subsets"]["300W full (partial: 5 of 689 faces)"]["images"] == 5
