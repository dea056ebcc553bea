"""Robustness tests: synthetic perturbations (occlusion, motion blur, noise, ...) applied the
same way for every model, exported as datasets or scored by the suite."""

from heatmark.robustness.perturbations import (
    PROTOCOLS,
    Perturbed,
    Protocol,
    Severity,
    apply_protocol,
    get_protocol,
    perturb,
)

__all__ = [
    "PROTOCOLS",
    "Perturbed",
    "Protocol",
    "Severity",
    "apply_protocol",
    "get_protocol",
    "perturb",
]
