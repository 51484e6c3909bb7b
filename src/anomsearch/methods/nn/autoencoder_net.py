"""The dense autoencoder network of the autoencoder method.

References:
    M. Farina, Y. Nakai, D. Shih, "Searching for New Physics with Deep Autoencoders",
    Phys. Rev. D 101 (2020) 075021, arXiv:1808.08992.
    T. Heimel, G. Kasieczka, T. Plehn, J. M. Thompson, "QCD or What?", SciPost Phys. 6 (2019) 030,
    arXiv:1808.08979.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from anomsearch.exceptions import ConfigError

__all__ = ["AutoencoderNet"]


def _dense(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers ``widths[0] -> ... -> widths[-1]`` with ReLU between them (none at the end)."""
    layers: list[nn.Module] = []
    steps = list(pairwise(widths))
    for i, (a, b) in enumerate(steps):
        layers.append(nn.Linear(a, b))
        if i < len(steps) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AutoencoderNet(nn.Module):
    """Dense autoencoder ``n_inputs -> hidden... -> latent_dim -> reversed(hidden)... -> n_inputs``.

    ReLU activations between layers; the latent code and the reconstruction are linear.

    Args:
        n_inputs: number of input features.
        hidden: encoder hidden-layer widths (the decoder mirrors them); may be empty.
        latent_dim: size of the bottleneck.

    Raises:
        ConfigError: non-positive sizes.

    Examples:
        >>> net = AutoencoderNet(4, hidden=(8,), latent_dim=2)
        >>> x = torch.zeros(5, 4)
        >>> tuple(net.encode(x).shape), tuple(net(x).shape)
        ((5, 2), (5, 4))
    """

    def __init__(
        self, n_inputs: int, *, hidden: Sequence[int] = (32, 16), latent_dim: int = 2
    ) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if int(n_inputs) < 1:
            raise ConfigError(f"AutoencoderNet n_inputs must be >= 1, got {n_inputs}")
        if any(h < 1 for h in hidden):
            raise ConfigError(f"method.hidden: layer widths must be >= 1, got {list(hidden)}")
        if int(latent_dim) < 1:
            raise ConfigError(f"method.latent_dim must be >= 1, got {latent_dim}")
        self.n_inputs = int(n_inputs)
        self.hidden = hidden
        self.latent_dim = int(latent_dim)
        self.encoder = _dense((self.n_inputs, *hidden, self.latent_dim))
        self.decoder = _dense((self.latent_dim, *reversed(hidden), self.n_inputs))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent code of ``x``, shape ``(batch, latent_dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the latent code ``z``, shape ``(batch, n_inputs)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x``, shape ``(batch, n_inputs)``."""
        return self.decode(self.encode(x))
