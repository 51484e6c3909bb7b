"""CATHODE: a sideband-trained conditional density interpolated into the signal region.

Classifying Anomalies THrough Outer Density Estimation:

1. a conditional normalizing flow ``p(x | mjj)`` of the classifier features is trained on the
   sideband events (outside the signal region), where the data are background dominated;
2. mjj values for the signal region are drawn from a Gaussian kernel density estimate of the SR
   data's mjj (or resampled from the SR data), and the flow, *interpolated* into the SR, draws a
   synthetic background sample ``x ~ p(x | mjj)`` at these masses; ``oversampling`` synthetic
   events are drawn per SR data event;
3. a classifier is trained to separate the SR data (label 1) from the synthetic background
   (label 0). If the synthetic sample follows the SR background, the classifier approaches the
   idealized anomaly detector: a monotonic function of the signal-vs-background likelihood ratio.

Unlike CWoLa hunting, the background features may depend on mjj: the flow learns the dependence in
the sidebands and carries it into the SR.

Physical ranges: a synthetic event with a feature outside the range ``[min, max]`` observed in the
sideband training events (the flow's tails can reach e.g. negative jet masses or ``tau21 > 1``) is
rejected and redrawn at the same mjj (up to ``_MAX_REDRAWS`` times; what is still outside is
dropped). Rejection instead of clipping avoids pile-ups at the edges that the classifier could
learn. The rejected fraction is reported in :class:`CathodeDiagnostics`.

References:
    A. Hallin, J. Isaacson, G. Kasieczka, C. Krause, B. Nachman, T. Quadfasel, M. Schlaffer,
    D. Shih, M. Sommerhalder, "Classifying Anomalies THrough Outer Density Estimation (CATHODE)",
    Phys. Rev. D 106 (2022) 055006, arXiv:2109.00546.
    B. Nachman, D. Shih, "Anomaly Detection with Density Estimation" (ANODE), Phys. Rev. D 101
    (2020) 075042, arXiv:2001.04990.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.options import (
    FLOW_KINDS,
    ClassifierOptions,
    check_positive,
    check_widths,
)

if TYPE_CHECKING:
    from anomsearch.methods.nn.flow import TrainedFlow

__all__ = [
    "MJJ_SAMPLING",
    "BackgroundTemplate",
    "Cathode",
    "CathodeDiagnostics",
    "CathodeFit",
    "sample_sr_mjj",
]

log = logging.getLogger(__name__)

#: How SR masses for the synthetic sample are drawn: Gaussian KDE of the SR data mjj, or resampling.
MJJ_SAMPLING: tuple[str, ...] = ("kde", "data")

#: Seed keys (see :func:`derive_seed`) of the flow training and of the sampling: three keys, so
#: they never coincide with the classifier's ``derive_seed(seed, i)`` / ``derive_seed(seed, j, i)``.
_FLOW_KEY = (0xCA7, 0, 1)
_SAMPLE_KEY = (0xCA7, 0, 2)

#: Redraws of synthetic events outside the sideband feature ranges before they are dropped.
_MAX_REDRAWS = 10


def sample_sr_mjj(
    mjj_sr: np.ndarray, n: int, *, regions: Regions, method: str, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` masses inside the SR following the SR data's mjj distribution.

    ``"kde"``: a Gaussian kernel density estimate with Scott's bandwidth ``std * m**(-1/5)``
    (``m`` SR events), truncated to the SR window by redrawing values outside it; ``"data"``:
    resampling of the SR masses with replacement.

    Examples:
        >>> r = Regions(3.3, 3.7, 3.0, 4.0)
        >>> m = sample_sr_mjj(np.array([3.4, 3.5, 3.6]), 1000, regions=r, method="kde",
        ...                   rng=np.random.default_rng(0))
        >>> m.shape, bool(np.all(r.in_sr(m)))
        ((1000,), True)
    """
    mjj_sr = np.asarray(mjj_sr, dtype=np.float64)
    if mjj_sr.size < 2:
        raise DataFormatError(f"need at least 2 SR events to sample mjj, got {mjj_sr.size}")
    if method == "data":
        return rng.choice(mjj_sr, size=n, replace=True)
    if method != "kde":
        raise ConfigError(f"method.mjj_sampling must be one of {MJJ_SAMPLING}, got {method!r}")
    bandwidth = float(mjj_sr.std()) * mjj_sr.size ** (-0.2)
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        draw = rng.choice(mjj_sr, size=todo.size) + bandwidth * rng.standard_normal(todo.size)
        ok = regions.in_sr(draw)
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return out


def _sample_inside(
    flow: TrainedFlow,
    mjj: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, np.ndarray]:
    """One synthetic event per mass, redrawn (up to ``_MAX_REDRAWS`` times) while outside the
    per-feature range ``[low, high]``.

    Returns:
        ``(x, rejected_fraction, bad)``: the samples, the fraction of first draws outside the
        range, and the indices of the events still outside after the redraws.
    """
    x = flow.sample(mjj, seed=int(rng.integers(2**32)))
    bad = np.flatnonzero(np.any((x < low) | (x > high), axis=1))
    rejected_fraction = bad.size / mjj.shape[0]
    for _ in range(_MAX_REDRAWS):
        if bad.size == 0:
            break
        redraw = flow.sample(mjj[bad], seed=int(rng.integers(2**32)))
        x[bad] = redraw
        still = np.any((redraw < low) | (redraw > high), axis=1)
        bad = bad[still]
    return x, rejected_fraction, bad


class CathodeDiagnostics(NamedTuple):
    """What a CATHODE fit reports about its background template.

    Attributes:
        n_sideband: sideband events the flow was trained on.
        n_signal_region: SR data events.
        n_synthetic: synthetic SR background events kept.
        rejected_fraction: fraction of first-draw synthetic events outside the sideband feature
            ranges (redrawn).
        dropped: synthetic events still outside after the redraws (dropped).
        flow_val_nll: best validation NLL of the flow (mean per event, preprocessed space).
        flow_epochs: epochs the flow trained.
        flow_seconds: wall time of the flow training.
        classifier_seconds: wall time of the classifier training (0 for a template only).
    """

    n_sideband: int
    n_signal_region: int
    n_synthetic: int
    rejected_fraction: float
    dropped: int
    flow_val_nll: float
    flow_epochs: int
    flow_seconds: float
    classifier_seconds: float = 0.0


class BackgroundTemplate(NamedTuple):
    """The synthetic SR background of :meth:`Cathode.background_template`.

    Attributes:
        x: synthetic features (order of ``Cathode.features``), shape ``(n_synthetic, n_features)``.
        mjj: their masses, shape ``(n_synthetic,)``.
        flow: the sideband-trained flow.
        diagnostics: counts, rejected fraction and the flow's training record.
    """

    x: np.ndarray
    mjj: np.ndarray
    flow: TrainedFlow
    diagnostics: CathodeDiagnostics


class CathodeFit(NamedTuple):
    """Result of :meth:`Cathode.fit_with_diagnostics`: the scorer plus the template behind it."""

    scorer: ClassifierScorer
    template: BackgroundTemplate
    diagnostics: CathodeDiagnostics


@dataclass(frozen=True)
class Cathode(ClassifierOptions):
    """CATHODE anomaly method (SR data vs a sideband flow interpolated into the SR).

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, n_ensemble, inner_folds, accelerator: the classifier options of
            :class:`ClassifierOptions` (``val_fraction`` is also the flow's validation fraction).
        min_region_events: minimum number of SR data events and of sideband events.
        flow_kind: ``"maf"`` (affine masked autoregressive flow) or ``"nsf"`` (spline flow).
        flow_transforms: number of autoregressive transforms of the flow.
        flow_hidden: hidden-layer widths of each transform.
        flow_logit: logit preprocessing of the flow inputs (see :mod:`anomsearch.methods.nn.flow`).
        flow_epochs: maximum flow training epochs.
        flow_lr: flow Adam learning rate.
        flow_batch_size: flow training batch size.
        flow_patience: flow early-stopping patience (epochs without a lower validation NLL).
        oversampling: synthetic SR background events per SR data event.
        mjj_sampling: SR masses of the synthetic events: ``"kde"`` (Gaussian KDE of the SR data
            mjj, seeded) or ``"data"`` (resampled SR data masses).

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> Cathode(oversampling=2, flow_hidden=[16]).flow_hidden
        (16,)
        >>> Cathode(oversampling=0)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.oversampling must be a positive number, got 0

    References:
        arXiv:2109.00546, arXiv:2001.04990.
    """

    _no_mjj_reason: ClassVar[str] = "a CATHODE classifier input (the flow is conditioned on it)"

    name: str = field(default="cathode", init=False)
    flow_kind: str = "maf"
    flow_transforms: int = 4
    flow_hidden: Sequence[int] = (64, 64)
    flow_logit: bool = False
    flow_epochs: int = 30
    flow_lr: float = 1e-3
    flow_batch_size: int = 256
    flow_patience: int = 5
    oversampling: float = 4.0
    mjj_sampling: str = "kde"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.flow_kind not in FLOW_KINDS:
            raise ConfigError(
                f"method.flow_kind must be one of {FLOW_KINDS}, got {self.flow_kind!r}"
            )
        if self.mjj_sampling not in MJJ_SAMPLING:
            raise ConfigError(
                f"method.mjj_sampling must be one of {MJJ_SAMPLING}, got {self.mjj_sampling!r}"
            )
        if not isinstance(self.flow_logit, bool):
            raise ConfigError(f"method.flow_logit must be true or false, got {self.flow_logit!r}")
        flow_hidden = check_widths("flow_hidden", self.flow_hidden, allow_empty=False)
        object.__setattr__(self, "flow_hidden", flow_hidden)
        for name in ("flow_transforms", "flow_epochs", "flow_patience", "flow_batch_size"):
            check_positive(name, getattr(self, name), integer=True)
        if int(self.flow_batch_size) < 2:
            raise ConfigError(f"method.flow_batch_size must be >= 2, got {self.flow_batch_size!r}")
        check_positive("flow_lr", self.flow_lr)
        check_positive("oversampling", self.oversampling)

    # ------------------------------------------------------------------------------ template
    def _check_region_counts(self, n_sr: int, n_sb: int, regions: Regions) -> None:
        """Raise unless the SR and the sidebands hold ``min_region_events`` training events."""
        sr_window = f"[{regions.sr_low}, {regions.sr_high}) TeV"
        sb_window = (
            f"[{regions.sb_low}, {regions.sr_low}) + [{regions.sr_high}, {regions.sb_high}) TeV"
        )
        for what, count, window in (
            ("signal region", n_sr, sr_window),
            ("sidebands", n_sb, sb_window),
        ):
            if count < self.min_region_events:
                raise DataFormatError(
                    f"CATHODE: {count} training events in the {what} {window}; "
                    f"at least {self.min_region_events} needed"
                )

    def _train_flow(self, x_sb: np.ndarray, mjj_sb: np.ndarray, *, seed: int) -> TrainedFlow:
        """Train the conditional flow ``p(x | mjj)`` on the sideband events (imports torch)."""
        from anomsearch.methods.nn.flow import train_flow

        return train_flow(
            x_sb,
            mjj_sb,
            kind=self.flow_kind,
            transforms=int(self.flow_transforms),
            hidden=self.flow_hidden,
            logit=self.flow_logit,
            lr=float(self.flow_lr),
            batch_size=int(self.flow_batch_size),
            max_epochs=int(self.flow_epochs),
            patience=int(self.flow_patience),
            val_fraction=float(self.val_fraction),
            seed=seed,
            accelerator=self.accelerator,
        )

    def background_template(
        self, events: EventTable, *, regions: Regions, seed: int
    ) -> BackgroundTemplate:
        """Train the sideband flow and draw the synthetic SR background (no classifier).

        Event weights, if any, are not used by the flow (they enter the classifier only).

        Args:
            events: training events (any mjj; the flow trains on the sidebands, the SR events set
                the number of synthetic events and their mjj distribution).
            regions: SR/SB definition.
            seed: seed of the flow training and of the sampling.

        Returns:
            The :class:`BackgroundTemplate`.

        Raises:
            DataFormatError: fewer than ``min_region_events`` SR or sideband events.
        """
        mjj = events.mjj
        sr, sb = regions.in_sr(mjj), regions.in_sb(mjj)
        n_sr, n_sb = int(sr.sum()), int(sb.sum())
        self._check_region_counts(n_sr, n_sb, regions)
        x_sb = events.features(self.features)[sb]
        log.info("CATHODE: training the flow on %d sideband events", n_sb)
        flow = self._train_flow(x_sb, mjj[sb], seed=derive_seed(seed, *_FLOW_KEY))

        rng = np.random.default_rng(derive_seed(seed, *_SAMPLE_KEY))
        n_syn = max(2, round(float(self.oversampling) * n_sr))
        m_syn = sample_sr_mjj(mjj[sr], n_syn, regions=regions, method=self.mjj_sampling, rng=rng)
        x_syn, rejected_fraction, bad = _sample_inside(
            flow, m_syn, x_sb.min(axis=0), x_sb.max(axis=0), rng=rng
        )
        keep = np.ones(n_syn, dtype=bool)
        keep[bad] = False
        x_syn, m_syn = x_syn[keep], m_syn[keep]
        if bad.size:
            log.warning(
                "CATHODE: dropped %d of %d synthetic events outside the sideband feature ranges",
                bad.size,
                n_syn,
            )
        diagnostics = CathodeDiagnostics(
            n_sideband=n_sb,
            n_signal_region=n_sr,
            n_synthetic=int(keep.sum()),
            rejected_fraction=float(rejected_fraction),
            dropped=int(bad.size),
            flow_val_nll=float(flow.best_val_nll),
            flow_epochs=int(flow.epochs_trained),
            flow_seconds=float(flow.train_seconds),
        )
        log.info(
            "CATHODE: %d synthetic SR events (%.2f%% redrawn outside sideband ranges), "
            "flow val NLL %.4f after %d epochs (%.1f s)",
            diagnostics.n_synthetic,
            100.0 * rejected_fraction,
            diagnostics.flow_val_nll,
            diagnostics.flow_epochs,
            diagnostics.flow_seconds,
        )
        return BackgroundTemplate(x=x_syn, mjj=m_syn, flow=flow, diagnostics=diagnostics)

    # ------------------------------------------------------------------------------ fit
    def fit_with_diagnostics(
        self, events: EventTable, *, regions: Regions, seed: int
    ) -> CathodeFit:
        """Like :meth:`fit`, and also return the background template and the diagnostics."""
        template = self.background_template(events, regions=regions, seed=seed)
        data_sr = events.subset(regions.in_sr(events.mjj))
        x_data = data_sr.features(self.features)
        x = np.concatenate([x_data, template.x])
        y = np.concatenate(
            [np.ones(len(data_sr), dtype=np.int8), np.zeros(template.x.shape[0], dtype=np.int8)]
        )
        w = None
        if data_sr.weight is not None:
            w = np.concatenate([data_sr.weight, np.ones(template.x.shape[0])])
        log.info(
            "CATHODE: training the classifier on %d SR data vs %d synthetic events",
            len(data_sr),
            template.x.shape[0],
        )
        start = time.perf_counter()
        scorer = self.train_scorer(x, y, sample_weight=w, seed=seed)
        diagnostics = template.diagnostics._replace(classifier_seconds=time.perf_counter() - start)
        return CathodeFit(
            scorer=scorer, template=template._replace(diagnostics=diagnostics),
            diagnostics=diagnostics,
        )  # fmt: skip

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Train the sideband flow, sample the SR background and train SR data vs synthetic.

        Args:
            events: training events (any mjj; sideband events train the flow, SR events the
                classifier; others are ignored).
            regions: SR/SB definition.
            seed: seed; the flow and the sampling use seeds derived from it, ensemble member
                ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` that scores events of any mjj.

        Raises:
            DataFormatError: fewer than ``min_region_events`` SR or sideband events.
        """
        return self.fit_with_diagnostics(events, regions=regions, seed=seed).scorer
