"""Robustness of trained networks: common corruptions, FGSM adversarial accuracy and its normalised area.

``corruptions`` perturbs batches of images in [0, 1] the way CIFAR-10-C does
(noise, blur, weather, digital distortions at severities 1..5); ``fgsm``
attacks a network with the fast gradient sign method over a list of attack
strengths and condenses the accuracy curve into the robustness measure of
the NSGANetV1 supplement (the ``robustness`` search objective);
``evaluate`` runs both on a test set for ``nsganet evaluate``.
"""

from __future__ import annotations

from nsganet.robustness.corruptions import CORRUPTIONS, RGB_ONLY, SEVERITIES, corrupt, corruption_names
from nsganet.robustness.evaluate import EvaluationReport, evaluate_network
from nsganet.robustness.fgsm import (
    DEFAULT_EPS,
    fgsm_accuracy,
    fgsm_attack,
    fgsm_robustness,
    objective_eps,
    robustness_area,
)

__all__ = ["CORRUPTIONS", "DEFAULT_EPS", "RGB_ONLY", "SEVERITIES", "EvaluationReport", "corrupt",
           "corruption_names", "evaluate_network", "fgsm_accuracy", "fgsm_attack", "fgsm_robustness",
           "objective_eps", "robustness_area"]
