"""Scan and ABCD-plane plots: the files are valid images, bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from anomsearch.data import EventTable, Regions, generate_toy
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.report.scan_plots import (
    plot_abcd_plane,
    plot_fits_per_efficiency,
    plot_scan_significance,
)
from anomsearch.search.scan import ScanResult, scan_windows, sliding_window_search

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Scorer:
    def score(self, events: EventTable) -> np.ndarray:
        return -np.abs(events.feature("delta_mj") - 0.4)


class _Method:
    name = "delta_mj"

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> _Scorer:
        return _Scorer()


@pytest.fixture(scope="module")
def scan() -> ScanResult:
    windows = scan_windows(mjj_min=2.6, mjj_max=4.4, width=0.4, step=0.4, sideband_width=0.3)
    events = generate_toy(20_000, 300, seed=2)
    return sliding_window_search(
        events,
        _Method(),
        windows=windows,
        efficiencies=(0.5, 0.1),
        folds=2,
        seed=1,
        bin_width=0.05,
        n_params=3,
        progress=False,
    )


def _check_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temporary file left behind


def test_scan_significance_plot(scan: ScanResult, tmp_path: Path) -> None:
    out = plot_scan_significance(scan, tmp_path / "scan.png", title="toy")
    assert out == tmp_path / "scan.png"
    _check_png(out)
    # a scan with a missing point (skipped window) still plots, with a gap
    partial = scan._replace(results=scan.results[1:])
    _check_png(plot_scan_significance(partial, tmp_path / "partial.png"))


def test_scan_significance_plot_rejects_bad_input(scan: ScanResult, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no successful window"):
        plot_scan_significance(scan._replace(results=[], best=None), tmp_path / "a.png")
    with pytest.raises(DataFormatError, match="needs a ScanResult"):
        plot_scan_significance(scan.results, tmp_path / "b.png")
    assert not list(tmp_path.iterdir())


def test_fits_per_efficiency_plot(scan: ScanResult, tmp_path: Path) -> None:
    results = scan.for_window(1)
    assert [r.efficiency for r in results] == [0.5, 0.1]
    _check_png(plot_fits_per_efficiency(results, tmp_path / "fits.png", title="toy"))


def test_fits_per_efficiency_rejects_mixed_windows(scan: ScanResult, tmp_path: Path) -> None:
    mixed = scan.for_window(0)[:1] + scan.for_window(2)[:1]
    with pytest.raises(DataFormatError, match=r"one window expected, got windows \[0, 2\]"):
        plot_fits_per_efficiency(mixed, tmp_path / "a.png")
    with pytest.raises(DataFormatError, match="no window results"):
        plot_fits_per_efficiency([], tmp_path / "b.png")
    with pytest.raises(DataFormatError, match="WindowResult"):
        plot_fits_per_efficiency([r.hunt for r in scan.for_window(0)], tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


def test_abcd_plane_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=5000), rng.normal(size=5000)
    out = plot_abcd_plane(
        x, y, x_cut=1.0, y_cut=0.5, path=tmp_path / "abcd.png", labels=("score 1", "score 2")
    )
    _check_png(out)
    # cuts outside the data range still give a complete plane (one side is empty)
    _check_png(plot_abcd_plane(x, y, x_cut=10.0, y_cut=-10.0, path=tmp_path / "edge.png"))


def test_abcd_plane_rejects_bad_input(tmp_path: Path) -> None:
    x = np.arange(10.0)
    with pytest.raises(DataFormatError, match="expected"):
        plot_abcd_plane(x, x[:5], x_cut=1.0, y_cut=1.0, path=tmp_path / "a.png")
    with pytest.raises(DataFormatError, match="finite"):
        plot_abcd_plane(x, np.full(10, np.nan), x_cut=1.0, y_cut=1.0, path=tmp_path / "b.png")
    with pytest.raises(ConfigError, match="x_cut"):
        plot_abcd_plane(x, x, x_cut=np.inf, y_cut=1.0, path=tmp_path / "c.png")
    with pytest.raises(DataFormatError, match="no events"):
        plot_abcd_plane(np.array([]), np.array([]), x_cut=0, y_cut=0, path=tmp_path / "d.png")
    with pytest.raises(DataFormatError, match="labels must be two strings"):
        plot_abcd_plane(x, x, x_cut=1.0, y_cut=1.0, path=tmp_path / "e.png", labels=("x",))
    assert not list(tmp_path.iterdir())
