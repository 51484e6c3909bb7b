"""Progress bars: drawn on a terminal only, nested bars share one display, quiet in CI."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from rich.console import Console

import anomsearch.progress as progress_module
from anomsearch.methods.nn.training import AdamTrainedModule, fit_with_early_stopping
from anomsearch.progress import active, progress_bar, terminal_progress, track


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """A terminal stderr outside CI; bars render into the returned buffer."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress_module, "_stderr_is_terminal", lambda: True)
    screen = io.StringIO()
    forced = Console(file=screen, force_terminal=True, width=150, color_system=None)
    monkeypatch.setattr(progress_module, "console", lambda: forced)
    return screen


@pytest.mark.parametrize(
    ("ci", "tty", "requested", "expected"),
    [
        (None, True, True, True),
        (None, True, False, False),
        (None, False, True, False),
        ("true", True, True, False),
        ("1", True, True, False),
        ("false", True, True, True),
        ("", True, True, True),
    ],
)
def test_bars_only_on_a_terminal_outside_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, tty: bool, requested: bool, expected: bool
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(sys, "stderr", _TTY() if tty else io.StringIO())
    assert terminal_progress(requested) is expected


def test_bar_renders_count_unit_and_note(terminal: io.StringIO) -> None:
    with progress_bar(4, description="bump scan", unit="window") as bar:
        assert active()
        for _ in range(4):
            bar.update()
        bar.note("Z = 3.1")
    assert not active()
    text = terminal.getvalue()
    assert "bump scan" in text
    assert "4/4 window" in text
    assert "Z = 3.1" in text
    assert bar.completed == 4


def test_resumed_bar_starts_at_initial(terminal: io.StringIO) -> None:
    with progress_bar(10, description="pythia chunks", unit="chunk", initial=7) as bar:
        bar.update(3)
    assert "10/10 chunk" in terminal.getvalue()


def test_byte_bar(terminal: io.StringIO) -> None:
    with progress_bar(3 * 1024**2, description="lhco-rnd", bytes_=True) as bar:
        bar.update(3 * 1024**2)
    assert "3.0 MiB/3.0 MiB" in terminal.getvalue()


def test_inner_bar_joins_the_live_display_and_goes_when_done(terminal: io.StringIO) -> None:
    with progress_bar(2, description="outer", unit="window") as outer:
        with progress_bar(5, description="inner", unit="fold") as inner:
            display = progress_module._display
            assert display is not None
            assert len(display.tasks) == 2
            inner.update(5)
        assert len(display.tasks) == 1
        outer.update(2)
    assert not active()


def test_disabled_bar_counts_and_draws_nothing(
    monkeypatch: pytest.MonkeyPatch, terminal: io.StringIO
) -> None:
    monkeypatch.setenv("CI", "true")
    assert list(track(range(3), description="folds", unit="fold")) == [0, 1, 2]
    with progress_bar(2, description="toys") as bar:
        bar.update(2)
        assert not active()
    assert bar.completed == 2
    assert terminal.getvalue() == ""


def test_bar_closes_on_error(terminal: io.StringIO) -> None:
    with pytest.raises(RuntimeError, match="boom"), progress_bar(3, description="scan"):
        raise RuntimeError("boom")
    assert not active()


class _Line(AdamTrainedModule):
    def __init__(self) -> None:
        super().__init__()
        self.save_hyperparameters({"lr": 1e-2, "weight_decay": 0.0})
        self.net = torch.nn.Linear(1, 1)

    def _common_step(self, batch: list[torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log(f"{stage}_loss", loss, on_epoch=True, on_step=False)
        return loss


def _loader() -> torch.utils.data.DataLoader:
    x = torch.as_tensor(np.linspace(-1, 1, 64, dtype=np.float32)[:, None])
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=64)


def test_training_epochs_join_a_live_bar(terminal: io.StringIO) -> None:
    torch.manual_seed(0)
    with progress_bar(1, description="cwola folds", unit="fold") as folds:
        fit = fit_with_early_stopping(
            _Line(), _loader(), _loader(), max_epochs=3, patience=5, accelerator="cpu"
        )
        folds.update()
    text = terminal.getvalue()
    assert fit.epochs_trained == 3
    assert "_Line epochs" in text
    assert "val_loss" in text
    assert not active()


def test_training_draws_no_bar_by_itself(terminal: io.StringIO) -> None:
    torch.manual_seed(0)
    fit_with_early_stopping(
        _Line(), _loader(), _loader(), max_epochs=2, patience=5, accelerator="cpu"
    )
    assert terminal.getvalue() == ""
