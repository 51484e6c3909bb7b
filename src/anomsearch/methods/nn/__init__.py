"""Neural-network pieces shared by the methods: networks and the Lightning training loop."""

from __future__ import annotations

from anomsearch.methods.nn.classifier import (
    BinaryClassifierModule,
    Standardizer,
    TrainedClassifier,
    balanced_weights,
    train_classifier,
)
from anomsearch.methods.nn.disco import (
    DiscoClassifierModule,
    distance_correlation_loss,
    train_disco_classifier,
)
from anomsearch.methods.nn.mlp import MLP

__all__ = [
    "MLP",
    "BinaryClassifierModule",
    "DiscoClassifierModule",
    "Standardizer",
    "TrainedClassifier",
    "balanced_weights",
    "distance_correlation_loss",
    "train_classifier",
    "train_disco_classifier",
]
