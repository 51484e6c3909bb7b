"""Small fully connected networks producing logits: :class:`MLP` (one per event) and
:class:`TwinMLP` (two independent ones, the pair of Double DisCo).

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (CWoLa hunting uses a
    small dense classifier on a handful of jet features).
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, arXiv:2007.14400 (two classifiers for an
    automated ABCD).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from anomsearch.exceptions import ConfigError

__all__ = ["MLP", "TwinMLP"]


class MLP(nn.Module):
    """Dense network ``n_inputs -> hidden... -> 1`` with ReLU activations.

    Args:
        n_inputs: number of input features.
        hidden: widths of the hidden layers (may be empty: a linear model).
        dropout: dropout probability after each hidden activation (0 disables it).
        batch_norm: insert a BatchNorm1d before each hidden activation.

    Raises:
        ConfigError: non-positive sizes or a dropout outside ``[0, 1)``.

    Examples:
        >>> net = MLP(3, hidden=(8, 8))
        >>> tuple(net(torch.zeros(5, 3)).shape)
        (5,)
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        hidden: Sequence[int] = (64, 64, 64),
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if int(n_inputs) < 1:
            raise ConfigError(f"MLP n_inputs must be >= 1, got {n_inputs}")
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden):
            raise ConfigError(f"method.hidden: layer widths must be >= 1, got {list(hidden)}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"method.dropout must be in [0, 1), got {dropout}")
        self.n_inputs = int(n_inputs)
        layers: list[nn.Module] = []
        width = self.n_inputs
        for h in hidden:
            layers.append(nn.Linear(width, h, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = h
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits, shape ``(batch,)``."""
        return self.layers(x).squeeze(-1)


class TwinMLP(nn.Module):
    """Two independent MLPs on the same inputs; ``forward`` returns logits ``(batch, 2)``.

    Args:
        n_inputs: number of input features.
        hidden, dropout, batch_norm: as in :class:`MLP`.

    Examples:
        >>> twin = TwinMLP(3, hidden=(8,))
        >>> tuple(twin(torch.zeros(5, 3)).shape)
        (5, 2)
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        hidden: Sequence[int] = (64, 64, 64),
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.first = MLP(n_inputs, hidden=hidden, dropout=dropout, batch_norm=batch_norm)
        self.second = MLP(n_inputs, hidden=hidden, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of both networks, shape ``(batch, 2)``."""
        return torch.stack([self.first(x), self.second(x)], dim=1)
