"""The :class:`EventTable`: two large-R jets per event and the standard derived features.

Raw jet quantities are kept exactly as in the LHC Olympics features files (GeV, file jet order).
Derived features follow the conventions of the CATHODE-family papers (arXiv:2109.00546): jets are
re-ordered by mass, ``j1`` is the *lighter* jet, and masses are in TeV.

A table may also carry *extra* per-jet fields computed from the constituents (tau_N^beta, energy
flow polynomials: :mod:`anomsearch.data.features.sets`), stored in file jet order like ``jets``;
:meth:`EventTable.feature` returns them mass ordered as ``{field}_j1`` (lighter jet) and
``{field}_j2`` (heavier), e.g. ``tau3_b05_j1``, ``efp2_1_j2``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from anomsearch.data.features.sets import feature_set, is_extra_feature
from anomsearch.exceptions import DataFormatError

__all__ = ["DERIVED_FEATURES", "JET_FIELDS", "EventTable", "resolve_features"]

#: Per-jet quantities, in the order of the LHCO features file columns (``pxj1 pyj1 ... tau3j1``).
JET_FIELDS: tuple[str, ...] = ("px", "py", "pz", "m", "tau1", "tau2", "tau3")

#: Names accepted by :meth:`EventTable.feature`. Masses in TeV, N-subjettiness ratios dimensionless.
DERIVED_FEATURES: tuple[str, ...] = (
    "mjj",
    "mj1",
    "mj2",
    "delta_mj",
    "tau21_j1",
    "tau21_j2",
    "tau32_j1",
    "tau32_j2",
    "pt_j1",
    "pt_j2",
)

_GEV_PER_TEV = 1000.0
_FIELD_NAME = re.compile(r"^[A-Za-z]\w*$")
_PER_JET = re.compile(r"^(?P<field>\w+)_j(?P<jet>[12])$")


def resolve_features(features: str | Sequence[str], *, option: str = "features") -> tuple[str, ...]:
    """Feature names from a feature-set name or a list of names.

    Args:
        features: a set name of :func:`anomsearch.data.features.sets.feature_set`
            (``"standard"``, ``"subjettiness"``, ``"efp"``, ``"kitchen_sink"``) or feature names.
        option: the option named in the error.

    Returns:
        The feature names (a list is returned as a tuple, unchecked: :meth:`EventTable.feature`
        checks them against the table).

    Raises:
        ConfigError: an unknown set name.

    Examples:
        >>> resolve_features("standard")
        ('mj1', 'delta_mj', 'tau21_j1', 'tau21_j2')
        >>> resolve_features(["mj1", "tau3_b05_j2"])
        ('mj1', 'tau3_b05_j2')
    """
    if isinstance(features, str):
        return feature_set(features, option=option)
    return tuple(features)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (an N-subjettiness ratio of a jet with tau_N = 0)."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True, eq=False)
class EventTable:
    """Dijet events as stored in the LHC Olympics features format, with derived features.

    Args:
        jets: array of shape ``(n_events, 2, 7)``: for each of the two jets (file order)
            ``px, py, pz, m, tau1, tau2, tau3`` in GeV (tau's are dimensionless).
        label: optional 0/1 truth label per event (1 = signal).
        weight: optional per-event weight.
        extra: optional ``(n_events, 2, len(extra_fields))`` extra per-jet fields, file jet
            order (stored as an ``(n_events, 2, 0)`` array when absent).
        extra_fields: the names of the extra fields (e.g. ``"tau3_b05"``, ``"efp2_1"``), features
            ``{field}_j1`` / ``{field}_j2`` (lighter / heavier jet).

    Raises:
        DataFormatError: wrong shape, non-finite values, label/weight of the wrong length, or
            bad/duplicate extra field names.

    Examples:
        >>> import numpy as np
        >>> jets = np.zeros((1, 2, 7))
        >>> jets[0, 0, :4] = [1500.0, 0.0, 0.0, 500.0]
        >>> jets[0, 1, :4] = [-1500.0, 0.0, 0.0, 100.0]
        >>> jets[0, :, 4:] = [[0.4, 0.1, 0.05], [0.2, 0.15, 0.1]]
        >>> ev = EventTable(jets)
        >>> round(float(ev.feature("mjj")[0]), 3), float(ev.feature("mj1")[0])
        (3.084, 0.1)
        >>> round(float(ev.feature("tau21_j1")[0]), 2)
        0.75
        >>> extra = np.array([[[0.3], [0.7]]])  # one extra field, file jet order
        >>> ev = EventTable(jets, extra=extra, extra_fields=("tau4_b05",))
        >>> float(ev.feature("tau4_b05_j1")[0])  # j1 = the lighter jet (file jet 2)
        0.7
    """

    jets: np.ndarray
    label: np.ndarray | None = None
    weight: np.ndarray | None = None
    extra: np.ndarray | None = None
    extra_fields: tuple[str, ...] = ()
    _cache: dict[str, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        jets = np.asarray(self.jets, dtype=np.float64)
        if jets.ndim != 3 or jets.shape[1:] != (2, len(JET_FIELDS)):
            raise DataFormatError(
                f"EventTable.jets must have shape (n_events, 2, {len(JET_FIELDS)}), "
                f"got {jets.shape}"
            )
        if not np.all(np.isfinite(jets)):
            bad = np.argwhere(~np.isfinite(jets))[0]
            raise DataFormatError(
                f"EventTable.jets has a non-finite value: event {bad[0]}, jet {bad[1] + 1}, "
                f"field {JET_FIELDS[bad[2]]!r}"
            )
        object.__setattr__(self, "jets", jets)
        n = jets.shape[0]
        for name in ("label", "weight"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value)
            if arr.shape != (n,):
                raise DataFormatError(f"EventTable.{name} must have shape ({n},), got {arr.shape}")
            if name == "label":
                if not np.all(np.isin(arr, (0, 1))):
                    raise DataFormatError("EventTable.label must contain only 0 and 1")
                arr = arr.astype(np.int8)
            else:
                arr = arr.astype(np.float64)
                if not np.all(np.isfinite(arr)):
                    raise DataFormatError("EventTable.weight has non-finite values")
            object.__setattr__(self, name, arr)
        self._check_extra(n)

    def _check_extra(self, n: int) -> None:
        fields = tuple(self.extra_fields)
        for f in fields:
            if not isinstance(f, str) or not _FIELD_NAME.match(f):
                raise DataFormatError(f"EventTable.extra_fields: bad field name {f!r}")
            if f in JET_FIELDS or f"{f}_j1" in DERIVED_FEATURES:
                raise DataFormatError(
                    f"EventTable.extra_fields: {f!r} clashes with a standard jet field or feature"
                )
        if len(set(fields)) != len(fields):
            raise DataFormatError(f"EventTable.extra_fields has duplicates: {fields}")
        extra = np.zeros((n, 2, 0)) if self.extra is None else self.extra
        extra = np.asarray(extra, dtype=np.float64)
        if extra.shape != (n, 2, len(fields)):
            raise DataFormatError(
                f"EventTable.extra must have shape ({n}, 2, {len(fields)}) for "
                f"{len(fields)} extra field(s), got {extra.shape}"
            )
        if not np.all(np.isfinite(extra)):
            bad = np.argwhere(~np.isfinite(extra))[0]
            raise DataFormatError(
                f"EventTable.extra has a non-finite value: event {bad[0]}, jet {bad[1] + 1}, "
                f"field {fields[bad[2]]!r}"
            )
        object.__setattr__(self, "extra", extra)
        object.__setattr__(self, "extra_fields", fields)

    def __len__(self) -> int:
        return int(self.jets.shape[0])

    def __repr__(self) -> str:
        extras = [k for k in ("label", "weight") if getattr(self, k) is not None]
        more = f", extra_fields={len(self.extra_fields)}" if self.extra_fields else ""
        return f"EventTable(n_events={len(self)}, extras={extras}{more})"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every name :meth:`feature` accepts: :data:`DERIVED_FEATURES`, then the extra fields'
        ``{field}_j1`` and ``{field}_j2``."""
        per_jet = tuple(f"{f}_j{j}" for j in (1, 2) for f in self.extra_fields)
        return DERIVED_FEATURES + per_jet

    # ------------------------------------------------------------------ derived features
    def _jet(self, field_name: str) -> np.ndarray:
        return self.jets[:, :, JET_FIELDS.index(field_name)]

    @functools.cached_property
    def _mass_order(self) -> tuple[np.ndarray, np.ndarray]:
        m = self._jet("m")
        light = np.where(m[:, 0] <= m[:, 1], 0, 1)
        return light, 1 - light

    def _by_mass(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        light, heavy = self._mass_order
        idx = np.arange(len(self))
        return values[idx, light], values[idx, heavy]

    def _compute(self, name: str) -> np.ndarray:
        px, py, pz, m = (self._jet(f) for f in ("px", "py", "pz", "m"))
        if name == "mjj":
            e = np.sqrt(px**2 + py**2 + pz**2 + m**2).sum(axis=1)
            p2 = px.sum(axis=1) ** 2 + py.sum(axis=1) ** 2 + pz.sum(axis=1) ** 2
            return np.sqrt(np.clip(e**2 - p2, 0.0, None)) / _GEV_PER_TEV
        if name in ("mj1", "mj2"):
            light, heavy = self._by_mass(m)
            return (light if name == "mj1" else heavy) / _GEV_PER_TEV
        if name == "delta_mj":
            return self.feature("mj2") - self.feature("mj1")
        if name in ("pt_j1", "pt_j2"):
            light, heavy = self._by_mass(np.hypot(px, py))
            return (light if name == "pt_j1" else heavy) / _GEV_PER_TEV
        if name.startswith(("tau21_", "tau32_")):
            num, den = ("tau2", "tau1") if name.startswith("tau21") else ("tau3", "tau2")
            light, heavy = self._by_mass(_safe_ratio(self._jet(num), self._jet(den)))
            return light if name.endswith("j1") else heavy
        match = _PER_JET.match(name)
        if match and match.group("field") in self.extra_fields:
            values = self.extra[:, :, self.extra_fields.index(match.group("field"))]
            light, heavy = self._by_mass(values)
            return light if match.group("jet") == "1" else heavy
        raise KeyError(name)

    def _unknown(self, name: str) -> DataFormatError:
        if is_extra_feature(name) or (_PER_JET.match(name) and self.extra_fields):
            fields = self.extra_fields
            shown = ", ".join(fields if len(fields) <= 6 else (*fields[:3], "...", *fields[-2:]))
            have = f"its extra jet fields: {shown}" if fields else "it has no extra jet fields"
            return DataFormatError(
                f"feature {name!r} is not in this table ({have}); compute it from the "
                "constituents, e.g. raw_to_features(..., extra_features='kitchen_sink'), and read "
                "that features file"
            )
        more = f" and {2 * len(self.extra_fields)} extra jet features" if self.extra_fields else ""
        return DataFormatError(
            f"unknown feature {name!r}; available: {', '.join(DERIVED_FEATURES)}{more}"
        )

    def feature(self, name: str) -> np.ndarray:
        """Return one feature as a float64 array: a derived feature (:data:`DERIVED_FEATURES`)
        or an extra jet field, ``{field}_j1`` / ``{field}_j2`` (lighter / heavier jet).

        Raises:
            DataFormatError: ``name`` is not a feature of this table.
        """
        if name not in self._cache and name not in self.feature_names:
            raise self._unknown(name)
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def features(self, names: str | Sequence[str]) -> np.ndarray:
        """Stack several features into an ``(n_events, len(names))`` float64 array.

        Args:
            names: feature names, or a feature-set name
                (:func:`anomsearch.data.features.sets.feature_set`).

        Raises:
            DataFormatError: no names, or a name that is not a feature of this table.
            ConfigError: an unknown feature-set name.
        """
        names = resolve_features(names, option="EventTable.features")
        if len(names) == 0:
            raise DataFormatError("at least one feature name is required")
        return np.column_stack([self.feature(n) for n in names])

    @property
    def mjj(self) -> np.ndarray:
        """Dijet invariant mass in TeV."""
        return self.feature("mjj")

    # ------------------------------------------------------------------ manipulation
    def subset(self, index: np.ndarray) -> EventTable:
        """Return the events selected by a boolean mask or an integer index array."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise DataFormatError(f"boolean mask has shape {index.shape}, expected ({len(self)},)")
        return EventTable(
            self.jets[index],
            None if self.label is None else self.label[index],
            None if self.weight is None else self.weight[index],
            self.extra[index],
            self.extra_fields,
        )

    @staticmethod
    def concatenate(tables: Sequence[EventTable]) -> EventTable:
        """Concatenate tables; ``label``/``weight`` are kept only if every table has them, and
        the extra jet fields that every table has (in the first table's order)."""
        if not tables:
            raise DataFormatError("cannot concatenate an empty list of EventTables")
        jets = np.concatenate([t.jets for t in tables])
        label = (
            np.concatenate([t.label for t in tables])
            if all(t.label is not None for t in tables)
            else None
        )
        weight = (
            np.concatenate([t.weight for t in tables])
            if all(t.weight is not None for t in tables)
            else None
        )
        common = tuple(
            f for f in tables[0].extra_fields if all(f in t.extra_fields for t in tables)
        )
        extra = np.concatenate(
            [t.extra[:, :, [t.extra_fields.index(f) for f in common]] for t in tables]
        )
        return EventTable(jets, label, weight, extra.reshape(len(jets), 2, len(common)), common)

    def with_label(self, label: np.ndarray | int | None) -> EventTable:
        """Return a copy with ``label`` replaced (an int broadcasts to every event)."""
        if label is not None and np.ndim(label) == 0:
            label = np.full(len(self), int(label), dtype=np.int8)
        return EventTable(self.jets, label, self.weight, self.extra, self.extra_fields)
