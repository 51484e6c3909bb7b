"""Our workspaces in the tools a collaboration uses: the ``pyhf`` command line and cabinetry.

Both the bump-hunt and the ABCD workspaces are written to JSON, inspected and fitted by the
``pyhf`` CLI, and fitted by cabinetry, whose best-fit signal strength and discovery
significance must agree with :func:`anomsearch.stats.discovery_test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anomsearch.background import dijet_bin_integrals, fit_binned_sideband, predict_background
from anomsearch.stats import build_bumphunt_spec, discovery_test, gaussian_signal_template
from anomsearch.stats.abcd_model import build_abcd_spec

cabinetry = pytest.importorskip("cabinetry")

PYHF_CLI = Path(sys.executable).with_name("pyhf")


def _bumphunt_spec() -> dict[str, Any]:
    edges = np.linspace(2.6, 6.5, 40)
    truth = np.array([0.0, 10.0, 5.0, 0.0])
    truth[0] = np.log(2e5 / dijet_bin_integrals(edges, truth).sum())
    rng = np.random.default_rng(5)
    counts = rng.poisson(dijet_bin_integrals(edges, truth)).astype(float)
    prediction = predict_background(
        fit_binned_sideband(counts, bin_edges=edges, signal_region=(3.3, 3.7), n_params=4)
    )
    template = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    observed = rng.poisson(prediction.expected + 600.0 * template).astype(float)
    return build_bumphunt_spec(observed=observed, background=prediction, signal_template=template)


SPECS = {
    "bumphunt": _bumphunt_spec,
    "abcd": lambda: build_abcd_spec((130.0, 200.0, 300.0, 600.0), non_closure=0.1),
}


@pytest.fixture(params=sorted(SPECS))
def spec(request: pytest.FixtureRequest) -> dict[str, Any]:
    return SPECS[request.param]()


def _run_pyhf(*args: str) -> str:
    result = subprocess.run(
        [str(PYHF_CLI), *args], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not PYHF_CLI.exists(), reason="pyhf command not next to the interpreter")
def test_pyhf_cli_inspects_and_fits(spec: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(spec))
    inspect = _run_pyhf("inspect", str(path))
    assert "mu" in inspect
    small = json.loads(_run_pyhf("cls", str(path), "--test-poi", "1.0"))
    assert 0.05 < small["CLs_obs"] <= 1.0  # one signal event is not excluded
    huge = json.loads(_run_pyhf("cls", str(path), "--test-poi", "2000"))
    assert huge["CLs_obs"] < 0.05  # 2000 signal events are


def test_cabinetry_fit_agrees_with_discovery_test(spec: dict[str, Any]) -> None:
    ours = discovery_test(spec)
    with warnings.catch_warnings():
        # pyhf 0.7 validates with jsonschema's deprecated RefResolver
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        model, data = cabinetry.model_utils.model_and_data(spec)
        fit = cabinetry.fit.fit(model, data)
        significance = cabinetry.fit.significance(model, data)
    mu_index = fit.labels.index(model.config.poi_name)
    assert fit.bestfit[mu_index] == pytest.approx(ours.mu_hat, rel=2e-3, abs=1e-3)
    assert fit.uncertainty[mu_index] == pytest.approx(ours.mu_hat_error, rel=0.02)
    assert significance.observed_significance == pytest.approx(ours.significance, abs=2e-3)
