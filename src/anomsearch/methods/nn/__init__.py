"""The torch side of the methods: networks, their Lightning modules and training loops.

Imported only when a method trains or a scorer scores (``anomsearch.methods`` itself does not
import torch). One file per kind of network or loss:

* :mod:`~anomsearch.methods.nn.training`: the seeded Lightning fit every trainer uses;
* :mod:`~anomsearch.methods.nn.mlp`: the MLP (and the twin MLP of Double DisCo);
* :mod:`~anomsearch.methods.nn.classifier_training`: input standardisation, class balancing and
  :func:`train_classifier`, the classifier of CWoLa, SALAD, CATHODE and the references;
* :mod:`~anomsearch.methods.nn.disco_loss` and :mod:`~anomsearch.methods.nn.disco_training`: the
  distance-correlation penalty and the DisCo / Double DisCo trainers;
* :mod:`~anomsearch.methods.nn.sim_assisted_training`: the SA-CWoLa trainer;
* :mod:`~anomsearch.methods.nn.autoencoder_net` and
  :mod:`~anomsearch.methods.nn.autoencoder_training`: the autoencoder;
* :mod:`~anomsearch.methods.nn.flow`: the conditional normalizing flow of CATHODE (zuko).
"""

from __future__ import annotations

from anomsearch.methods.nn.classifier_training import (
    BinaryClassifierModule,
    Standardizer,
    TrainedClassifier,
    balanced_weights,
    train_classifier,
)
from anomsearch.methods.nn.disco_loss import DiscoClassifierModule, distance_correlation_loss
from anomsearch.methods.nn.disco_training import train_disco_classifier
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
