"""Named feature sets and the names of the extra per-jet columns.

Per-jet quantities beyond the seven of the LHC Olympics files (the *extra jet fields*):

- N-subjettiness ``tau_N^beta`` for ``N = 1..9`` and ``beta`` in ``{0.5, 1, 2}``
  (:data:`NSUB_FIELDS`, 27 per jet), named ``tau{N}_b{beta}`` with ``b05``, ``b1``, ``b2``;
  exclusive-kT axes and ``tau_N = sum_i pT_i min_k dR_ik^beta / (sum_i pT_i R^beta)`` as in
  :mod:`anomsearch.data.features.jets` (``tau{N}_b1`` for ``N <= 3`` is the file's ``tau{N}``);
- energy flow polynomials (:data:`EFP_FIELDS`, 53 per jet): the connected EFPs of degree
  ``1..5`` (:func:`anomsearch.data.features.efp.efp_graphs`), named ``efp{d}_{k}``.

Two spellings, as for the standard quantities (``tau1j1`` in the file, ``tau21_j1`` as a feature):

- in a features file, ``{field}j1`` / ``{field}j2`` (e.g. ``tau3_b05j1``) are the jets in *file
  order* (pT ordered), like ``pxj1 ... tau3j2``;
- as features of :meth:`~anomsearch.data.events.EventTable.feature`, ``{field}_j1`` /
  ``{field}_j2`` (e.g. ``tau3_b05_j1``, ``efp2_1_j2``) follow the derived features' *mass order*:
  ``j1`` is the lighter jet, ``j2`` the heavier (:data:`~anomsearch.data.events.DERIVED_FEATURES`).

Feature sets (:func:`feature_set`), each a tuple of feature names:

| name | columns | features |
| --- | --- | --- |
| `standard` | 4 | `mj1, delta_mj, tau21_j1, tau21_j2` (the CATHODE-family inputs) |
| `subjettiness` | 56 | `mj1, delta_mj` and `tau_N^beta` of both jets (arXiv:2309.13111) |
| `efp` | 108 | `mj1, delta_mj` and the 53 EFPs of both jets |
| `kitchen_sink` | 166 | `standard`, `tau32_j1, tau32_j2`, every `tau_N^beta` and EFP |

References:
    N-subjettiness: arXiv:1011.2268. Tree ensembles on 56 N-subjettiness features:
    arXiv:2309.13111. EFPs: arXiv:1712.07124.

Examples:
    >>> feature_set("standard")
    ('mj1', 'delta_mj', 'tau21_j1', 'tau21_j2')
    >>> len(feature_set("subjettiness")), feature_set("subjettiness")[2:5]
    (56, ('tau1_b05_j1', 'tau1_b1_j1', 'tau1_b2_j1'))
    >>> extra_jet_fields("subjettiness")[:2], len(extra_jet_fields("kitchen_sink"))
    (('tau1_b05', 'tau1_b1'), 80)
"""

from __future__ import annotations

import re

from anomsearch.data.features.efp import EFP_MAX_DEGREE, efp_names
from anomsearch.exceptions import ConfigError

__all__ = [
    "EFP_FIELDS",
    "EXTRA_JET_FIELDS",
    "FEATURE_SETS",
    "NSUB_BETAS",
    "NSUB_FIELDS",
    "NSUB_MAX_N",
    "extra_jet_fields",
    "feature_set",
    "file_column",
    "is_extra_feature",
    "nsub_field",
]

#: The angular exponents beta of the extra N-subjettiness columns.
NSUB_BETAS: tuple[float, ...] = (0.5, 1.0, 2.0)
#: The largest N of the extra N-subjettiness columns (``N = 1..NSUB_MAX_N``).
NSUB_MAX_N = 9


def _beta_label(beta: float) -> str:
    """``0.5 -> "05"``, ``1.0 -> "1"``, ``2.0 -> "2"``."""
    text = f"{beta:g}"
    return text.replace(".", "") if text.startswith("0.") else text.replace(".", "p")


def nsub_field(n: int, beta: float) -> str:
    """The field name of ``tau_N^beta``: ``nsub_field(3, 0.5) == "tau3_b05"``."""
    return f"tau{n}_b{_beta_label(beta)}"


#: tau_N^beta fields, N major: ``tau1_b05, tau1_b1, tau1_b2, tau2_b05, ..., tau9_b2`` (27).
NSUB_FIELDS: tuple[str, ...] = tuple(
    nsub_field(n, beta) for n in range(1, NSUB_MAX_N + 1) for beta in NSUB_BETAS
)
#: EFP fields ``efp1_0 ... efp5_32`` (53, see :func:`~anomsearch.data.features.efp.efp_graphs`).
EFP_FIELDS: tuple[str, ...] = efp_names(EFP_MAX_DEGREE)
#: Every extra per-jet field, in the order the features file stores them (80).
EXTRA_JET_FIELDS: tuple[str, ...] = NSUB_FIELDS + EFP_FIELDS

_MASSES = ("mj1", "delta_mj")


def _both_jets(fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{f}_j1" for f in fields) + tuple(f"{f}_j2" for f in fields)


#: Feature-set name -> (feature names, extra per-jet fields the set needs).
FEATURE_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "standard": ((*_MASSES, "tau21_j1", "tau21_j2"), ()),
    "subjettiness": ((*_MASSES, *_both_jets(NSUB_FIELDS)), NSUB_FIELDS),
    "efp": ((*_MASSES, *_both_jets(EFP_FIELDS)), EFP_FIELDS),
    "kitchen_sink": (
        (
            *_MASSES,
            "tau21_j1",
            "tau21_j2",
            "tau32_j1",
            "tau32_j2",
            *_both_jets(NSUB_FIELDS),
            *_both_jets(EFP_FIELDS),
        ),
        EXTRA_JET_FIELDS,
    ),
}


def _lookup(name: object, option: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(name, str) or name not in FEATURE_SETS:
        raise ConfigError(
            f"{option}: unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)}"
        )
    return FEATURE_SETS[name]


def feature_set(name: str, *, option: str = "feature_set") -> tuple[str, ...]:
    """The feature names of a named set (see the module docstring).

    Args:
        name: ``"standard"``, ``"subjettiness"``, ``"efp"`` or ``"kitchen_sink"``.
        option: the option named in the error (e.g. ``"method.features"``).

    Returns:
        Feature names for :meth:`~anomsearch.data.events.EventTable.features`.

    Raises:
        ConfigError: an unknown name (the message names ``option`` and the known sets).
    """
    return _lookup(name, option)[0]


def extra_jet_fields(name: str | None, *, option: str = "extra_features") -> tuple[str, ...]:
    """The extra per-jet fields a feature set needs from the constituents.

    Args:
        name: a feature-set name, or None (no extra fields).
        option: the option named in the error.

    Returns:
        Field names, a sub-sequence of :data:`EXTRA_JET_FIELDS` (empty for ``"standard"``).

    Raises:
        ConfigError: an unknown name.
    """
    return () if name is None else _lookup(name, option)[1]


_EXTRA_FEATURE = re.compile(r"^(?P<field>\w+)_j(?P<jet>[12])$")


def is_extra_feature(name: str) -> bool:
    """Whether ``name`` is an extra jet feature (``tau3_b05_j1``, ``efp2_1_j2``, ...)."""
    match = _EXTRA_FEATURE.match(name)
    return bool(match) and match.group("field") in EXTRA_JET_FIELDS


def file_column(field: str, jet: int) -> str:
    """The features-file column of a per-jet field of file jet ``jet`` (1 or 2):
    ``file_column("tau3_b05", 1) == "tau3_b05j1"``."""
    return f"{field}j{jet}"
