"""report.html in a real browser: headless Chromium (Debian's chromium + chromium-driver, Selenium).

A small scan search runs end to end; its report.html is opened from disk with the network out of
reach: the answer cards, every section, every embedded plot (decoded, non-empty) and the inline
workspaces must render, the navigation must scroll to its sections, nothing may be fetched from
anywhere but the page itself, and a screenshot must show something. ``make test`` installs
Chromium where it can (scripts/ensure-chromium.sh); without it the test skips, except in CI.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anomsearch import workflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFIG: dict[str, Any] = {
    "name": "browser",
    "seed": 3,
    "data": {"source": "toy", "n_background": 120_000},
    "injection": {"n_signal": 600},
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "scan": {
        "mjj_min": 2.9,
        "mjj_max": 4.5,
        "width": 0.4,
        "step": 0.4,
        "sideband_width": 0.4,
        "efficiencies": [0.1, 0.02],
    },
    "method": {"name": "cwola", "n_folds": 2, "max_epochs": 3},
    "background": {"name": "bumphunt", "efficiency": 0.02, "fit_range": [2.7, 5.5]},
    "stats": {"systematics": [{"name": "lumi", "sample": "signal", "up": 0.017}]},
    "compute": {"cache": False},
    "output": {"plots": True},
}

# Flags for a sandboxed machine with no network (see the environment notes): no first-run UI,
# no background connections, a fresh profile.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
)


def _browser_binaries() -> tuple[str, str]:
    browser = next(
        (
            path
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (path := shutil.which(name))
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = (
        "headless Chromium and ChromeDriver are needed (Debian: apt-get install chromium "
        "chromium-driver; `make test` installs them where it can)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the browser test: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _browser_binaries()  # skip before the search when there is no browser
    out = tmp_path_factory.mktemp("browser") / "results"
    workflow.run(CONFIG, output_dir=out)
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser, chromedriver = _browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    chrome = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def test_report_renders_in_chromium(results: Path, driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    report = json.loads((results / "report.json").read_text())
    driver.get((results / "report.html").as_uri())
    assert driver.title == "anomsearch: browser"

    # The answer first: the cards show the report's numbers.
    cards = {
        card.get_attribute("data-key"): card.find_element(By.CLASS_NAME, "v").text
        for card in driver.find_elements(By.CSS_SELECTOR, "#answer .card")
    }
    assert cards["local significance Z"] == f"{report['significance']:.2f}\u03c3"
    glob = report["global"]
    assert cards["global significance Z"] == (
        f"{glob['significance']:.2f}\u03c3 "
        f"(scan best: {glob['local_significance']:.2f}\u03c3 local)"
    )
    assert cards["fitted signal events in the SR"].startswith(f"{report['mu_hat']:.0f} ±")
    limit = report["limit"]
    assert limit is not None and limit["cl"] == 0.95
    assert cards["95% CL upper limit on signal events"].startswith(f"{limit['observed']:.0f}")
    for card in driver.find_elements(By.CSS_SELECTOR, "#answer .card"):
        assert card.is_displayed() and card.size["width"] > 50

    # Every stage has its section, each linked from the navigation bar.
    sections = [s.get_attribute("id") for s in driver.find_elements(By.TAG_NAME, "section")]
    assert sections == [
        "answer", "fit", "scan", "scores", "performance", "model", "config", "provenance",
    ]  # fmt: skip
    links = driver.find_elements(By.CSS_SELECTOR, "nav a")
    assert [a.get_attribute("hash") for a in links] == [f"#{s}" for s in sections]

    # Every plot is embedded, decoded and laid out with a size.
    images = driver.find_elements(By.TAG_NAME, "img")
    alts = {img.get_attribute("alt") for img in images}
    assert {"mjj_fit.png", "scan_significance.png", "scores.png", "roc_sic.png"} <= alts
    for img in images:
        natural = driver.execute_script(
            "return [arguments[0].complete, arguments[0].naturalWidth]", img
        )
        assert natural[0] and natural[1] > 100, img.get_attribute("alt")
        assert img.size["width"] > 100 or not img.is_displayed()

    # Each window's fits are folded under its summary and unfold on a click.
    windows = driver.find_elements(By.CSS_SELECTOR, "#scan details.window")
    assert len(windows) == report["scan"]["n_windows"]
    first = windows[0].find_element(By.TAG_NAME, "img")
    assert not first.is_displayed()
    summary = windows[0].find_element(By.TAG_NAME, "summary")
    assert summary.text.startswith("window 0: SR [")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    assert first.is_displayed() and first.size["width"] > 100

    # The scan table marks its most significant entry; the navigation scrolls to the scan.
    best = driver.find_element(By.CSS_SELECTOR, "#scan tr.best")
    best_window = report["scan"]["best"]
    assert best.find_element(By.TAG_NAME, "td").text == (
        f"{best_window['sr_low']:.2f}-{best_window['sr_high']:.2f}"
    )
    next(a for a in links if a.get_attribute("hash") == "#scan").click()
    assert driver.execute_script("return location.hash") == "#scan"
    top = driver.execute_script(
        "return document.getElementById('scan').getBoundingClientRect().top"
    )
    assert -5 < top < 200

    # The workspaces open in place.
    summary = driver.find_element(By.CSS_SELECTOR, "#model details summary")
    pre = driver.find_element(By.CSS_SELECTOR, "#model details pre")
    assert not pre.is_displayed()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    assert pre.is_displayed()
    assert json.loads(pre.text)["channels"]
    assert "lumi" in driver.find_element(By.ID, "model").text

    # Self-contained: nothing was requested from anywhere else.
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith(("data:", "file:")) for url in urls), urls

    # A screenshot with content (not a blank page).
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot))
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 500
    assert float(np.std(pixels[..., :3])) > 0.05
    if target := os.environ.get("ANOMSEARCH_SCREENSHOT"):
        shutil.copyfile(shot, target)
