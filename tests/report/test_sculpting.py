"""The mjj sculpting plot (anomsearch.report.sculpting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from anomsearch.exceptions import ConfigError
from anomsearch.report.sculpting import plot_mjj_sculpting


def test_plot_mjj_sculpting_returns_a_figure_and_writes_atomically(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    mjj = 3.0 + rng.exponential(0.5, 3000)
    fig = plot_mjj_sculpting(mjj, mjj + rng.normal(0, 0.5, 3000), title="toy", bins=20)
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "no cut"
    assert len(labels) == 4 and all("JSD" in t for t in labels[1:])
    out = tmp_path / "plots" / "sculpting.png"
    plot_mjj_sculpting(mjj, rng.random(3000), background_efficiencies=(1.0, 0.2), path=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["sculpting.png"]  # no temporary left
    with pytest.raises(ConfigError, match="background_efficiencies"):
        plot_mjj_sculpting(mjj, mjj, background_efficiencies=(0.0,))


def test_plot_mjj_sculpting_without_a_cut_draws_the_uncut_shape_only() -> None:
    rng = np.random.default_rng(11)
    mjj = 3.0 + rng.exponential(0.5, 2000)
    fig = plot_mjj_sculpting(mjj, rng.random(2000), background_efficiencies=(1.0,))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["no cut"]
