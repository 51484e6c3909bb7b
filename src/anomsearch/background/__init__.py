"""anomsearch.background: dijet fit functions and the sideband fit of the mjj spectrum."""

from __future__ import annotations

from anomsearch.background.abcd import (
    ABCDClosure,
    ABCDCounts,
    ABCDEstimate,
    abcd_closure,
    abcd_counts,
    abcd_estimate,
)
from anomsearch.background.bumphunter import (
    BumpHunterResult,
    BumpHunterScan,
    bumphunter_global_pvalue,
    bumphunter_statistic,
)
from anomsearch.background.dijet import (
    DEFAULT_SQRT_S,
    DIJET_N_PARAMS,
    dijet_basis,
    dijet_bin_integrals,
    dijet_bin_jacobian,
    dijet_function,
    dijet_log_function,
)
from anomsearch.background.function_choice import (
    FunctionChoice,
    NestedFitTest,
    SpuriousSignal,
    alternative_function_variation,
    choose_dijet_function,
    nested_fit_test,
    spurious_signal,
)
from anomsearch.background.sideband_fit import (
    BackgroundPrediction,
    SidebandFit,
    fit_binned_sideband,
    fit_binned_spectrum,
    fit_sideband_background,
    predict_background,
    validate_fit_binning,
)

__all__ = [
    "DEFAULT_SQRT_S",
    "DIJET_N_PARAMS",
    "ABCDClosure",
    "ABCDCounts",
    "ABCDEstimate",
    "BackgroundPrediction",
    "BumpHunterResult",
    "BumpHunterScan",
    "FunctionChoice",
    "NestedFitTest",
    "SidebandFit",
    "SpuriousSignal",
    "abcd_closure",
    "abcd_counts",
    "abcd_estimate",
    "alternative_function_variation",
    "bumphunter_global_pvalue",
    "bumphunter_statistic",
    "choose_dijet_function",
    "dijet_basis",
    "dijet_bin_integrals",
    "dijet_bin_jacobian",
    "dijet_function",
    "dijet_log_function",
    "fit_binned_sideband",
    "fit_binned_spectrum",
    "fit_sideband_background",
    "nested_fit_test",
    "predict_background",
    "spurious_signal",
    "validate_fit_binning",
]
