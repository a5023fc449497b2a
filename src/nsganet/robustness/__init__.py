"""Robustness of trained networks: common corruptions, FGSM adversarial accuracy and its normalised area.

``corruptions`` perturbs batches of images in [0, 1] the way CIFAR-10-C does
(noise, blur, weather, digital distortions at severities 1..5); ``fgsm``
attacks a network with the fast gradient sign method over a list of attack
strengths and condenses the accuracy curve into the robustness measure of
the NSGANetV1 supplement (the ``robustness`` search objective);
``evaluate`` runs both on a test set for ``nsganet evaluate``. The modules
load torch; this package's own namespace does not until a name from them is
used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: FGSM attack strengths (pixel scale 0..1) of the NSGANetV1 supplement.
DEFAULT_EPS = (0.0, 0.01, 0.03, 0.05, 0.07, 0.1, 0.15)

_EXPORTS = {
    "CORRUPTIONS": "corruptions", "RGB_ONLY": "corruptions", "SEVERITIES": "corruptions", "corrupt": "corruptions",
    "corruption_names": "corruptions", "EvaluationReport": "evaluate", "evaluate_network": "evaluate",
    "fgsm_accuracy": "fgsm", "fgsm_attack": "fgsm", "fgsm_robustness": "fgsm", "objective_eps": "fgsm",
    "robustness_area": "fgsm",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nsganet.robustness.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nsganet.robustness' has no attribute {name!r}")


__all__ = ["DEFAULT_EPS", *_EXPORTS]
