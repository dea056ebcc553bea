"""The Wasserstein paper's cross-dataset protocols (Yan et al., PR 2021, §4.3, Tables 7 and 10):
a model trained on one benchmark is scored on another one's faces, on the points both markups
share (``heatmark.schemes`` index maps), with one box protocol for every model
(``heatmark.robustness.boxes``) and the test markup's usual normaliser.

Data unlike the training data is where the paper's landmark-wise failure rate FR_L separates
losses that NME on the usual test split does not. A protocol here is a name for a (training
scheme, test scheme) pair plus what it scores; the suite runs it when given a model of the
training scheme and data of the test scheme (``heatmark robustness run --cross NAME``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from heatmark.errors import HeatmarkError
from heatmark.evaluate.metrics import default_normaliser
from heatmark.robustness.boxes import common_indices
from heatmark.schemes import AFLW_19, COFW_29, FACE_68, WFLW_98, Scheme


@dataclass(frozen=True)
class CrossDataset:
    """A model trained on ``train``-scheme data, scored on ``test_set`` (``test`` scheme)."""

    name: str
    train: Scheme
    test: Scheme
    test_set: str

    @property
    def scored_points(self) -> int:
        """How many of the test markup's points have a twin in the training markup."""
        return int(common_indices(self.train, self.test).size)

    def describe(self) -> str:
        normaliser = default_normaliser(self.test).value
        return (
            f"{self.name}: a {self.train.name} model on {self.test_set}, scored on the "
            f"{self.scored_points} of {self.test.num_points} {self.test.name} points with a "
            f"twin, {normaliser}-normalised"
        )


CROSS_DATASET_PROTOCOLS: dict[str, CrossDataset] = {
    p.name: p
    for p in (
        CrossDataset("300w->300vw", FACE_68, FACE_68, "300-VW video frames"),
        CrossDataset("300w->wflw", FACE_68, WFLW_98, "WFLW faces"),
        CrossDataset("wflw->300vw", WFLW_98, FACE_68, "300-VW video frames"),
        CrossDataset("cofw->aflw", COFW_29, AFLW_19, "AFLW faces"),
    )
}


def cross_dataset(name: str) -> CrossDataset:
    """The named protocol; ``HeatmarkError`` listing the known ones."""
    if name not in CROSS_DATASET_PROTOCOLS:
        known = ", ".join(CROSS_DATASET_PROTOCOLS)
        raise HeatmarkError(f"unknown cross-dataset protocol {name!r}; choose from {known}")
    return CROSS_DATASET_PROTOCOLS[name]


def check_cross_dataset(
    protocol: CrossDataset, data_scheme: Scheme, model_schemes: Mapping[str, Scheme]
) -> None:
    """``HeatmarkError`` unless the data follow the protocol's test markup and every model its
    training markup (prediction files, which follow the data's markup, are not checked)."""
    if data_scheme != protocol.test:
        raise HeatmarkError(
            f"{protocol.name} scores on {protocol.test.name} data ({protocol.test_set}); "
            f"--data holds {data_scheme.name} samples"
        )
    for name, scheme in model_schemes.items():
        if scheme != protocol.train:
            raise HeatmarkError(
                f"{protocol.name} needs models trained on {protocol.train.name} points; "
                f"model {name!r} predicts {scheme.name}"
            )
