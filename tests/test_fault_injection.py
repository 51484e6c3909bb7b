"""Fault injection: bad inputs, hostile files, interrupted and concurrent runs.

Every probe checks the exit code (2 for bad input, 130 for Ctrl-C), that the message names the
field or the file, that no traceback is printed, and that nothing is written or deleted that the
user did not ask for. The slow tests interrupt real runs (Ctrl-C, ``kill -9`` at random points)
in subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables
import yaml
from typer.testing import CliRunner

from anomsearch.cli import app
from anomsearch.compute import UnitCache
from anomsearch.compute import cache as cache_module
from anomsearch.data import EventTable, ToyConfig, generate_toy, write_features_h5
from anomsearch.data.io.lhco import FEATURE_COLUMNS, read_features_h5, read_master_key
from anomsearch.data.io.lhco_raw import raw_h5_info
from anomsearch.exceptions import DataFormatError
from anomsearch.report import outputs
from anomsearch.report.outputs import RESULTS_MARKER, check_output_dir, write_outputs
from anomsearch.report.sections import build_report

runner = CliRunner()
#: The command line in a subprocess (the console script beside the interpreter, as installed).
_SCRIPT = Path(sys.executable).with_name("anomsearch")
CLI = (
    [str(_SCRIPT)]
    if _SCRIPT.is_file()
    else [sys.executable, "-c", "from anomsearch.cli import app; app()"]
)


# ------------------------------------------------------------------------------ helpers
def _invoke(args: list[Any]) -> Any:
    logger = logging.getLogger("anomsearch")  # the CLI's handler of an earlier invocation
    for handler in [h for h in logger.handlers if getattr(h, "_anomsearch_cli", False)]:
        logger.removeHandler(handler)  # writes to that invocation's (closed) stderr
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def _fails(args: list[Any], *expected: str) -> str:
    """Run the CLI in-process: exit code 2, one ``error:`` line naming everything in
    ``expected``, no traceback."""
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    assert "error: " in result.output
    for text in expected:
        assert text in result.output, (text, result.output)
    return result.output


def _tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every file and folder under ``root``: (is a dir, size, mtime) by relative path."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return out


def _write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def tiny(tmp_path: Path, tiny_scan: Any) -> Path:
    """The tiny config without its scan (one window, 40k events: a few seconds), as a file."""
    cfg = tiny_scan()
    del cfg["scan"]
    cfg["name"] = "tiny"
    cfg["data"]["n_background"] = 40_000
    # one epoch of a small MLP per fold: a run that lasts long enough after its first fold is
    # stored for the Ctrl-C test to interrupt it (the default trees can finish before it looks)
    cfg["method"] = {
        "name": "cwola",
        "n_folds": 2,
        "classifier": "mlp",
        "max_epochs": 1,
        "hidden": [8],
        "batch_size": 4096,
    }
    return _write_config(tmp_path / "tiny.yaml", cfg)


def _lhco_config(path: Path, data: Path, **regions: Any) -> Path:
    return _write_config(
        path,
        {
            "name": path.stem,
            "data": {"source": "lhco", "path": str(data)},
            "regions": regions or {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
            "method": {
                "name": "cwola",
                "n_folds": 2,
                "classifier": "mlp",
                "max_epochs": 1,
                "hidden": [8],
            },
            "background": {"name": "bumphunt", "efficiency": 0.2},
            "output": {"plots": False},
        },
    )


class _Payload:
    """Unpickling it creates ``marker``: proof that code from a data file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _to_hdf(frame: pd.DataFrame, path: Path, **options: Any) -> Path:
    with warnings.catch_warnings():  # pandas warns that object columns are pickled
        warnings.simplefilter("ignore")
        frame.to_hdf(path, key="df", mode="w", **options)
    return path


def _features_frame(n: int = 50) -> pd.DataFrame:
    events = generate_toy(n, 0, seed=1)
    return pd.DataFrame(events.jets.reshape(n, -1), columns=list(FEATURE_COLUMNS))


# ------------------------------------------------------------------------------ 1. outputs
def test_a_folder_of_the_users_is_refused_before_any_work(tmp_path, tiny):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("data\n")
    before = _tree(tmp_path)
    _fails(["run", tiny, "-o", mine, "-q"], str(mine), "not a results directory", "--overwrite")
    assert _tree(tmp_path) == before  # nothing written (no cache: no training), nothing deleted


def test_a_file_as_the_output_is_refused_and_kept(tmp_path, tiny):
    target = tmp_path / "afile"
    target.write_text("precious\n")
    before = _tree(tmp_path)
    _fails(["run", tiny, "-o", target, "-q"], str(target), "is not a directory", "--overwrite")
    assert _tree(tmp_path) == before and target.read_text() == "precious\n"


def test_the_working_directory_its_parents_home_and_inputs_are_never_replaced(
    tmp_path, tiny, monkeypatch
):
    project = tmp_path / "project"
    config = _write_config(project / "my_search.yaml", yaml.safe_load(tiny.read_text()))
    data = tmp_path / "data"
    write_features_h5(generate_toy(100, 0, seed=1), data / "box.h5")
    lhco = _lhco_config(tmp_path / "lhco.yaml", data / "box.h5")
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    before = _tree(tmp_path)
    for flags in ([], ["--overwrite"]):
        _fails(["run", "my_search.yaml", "-o", ".", "-q", *flags], "is the working directory")
        _fails(["run", "my_search.yaml", "-o", "..", "-q", *flags], "parent of the working")
        _fails(["run", config, "-o", tmp_path / "home", "-q", *flags], "your home directory")
    monkeypatch.chdir(tmp_path / "home")
    _fails(["run", config, "-o", project, "-q", "--overwrite"], f"holds {config}, an input")
    _fails(["run", lhco, "-o", data, "-q", "--overwrite"], "box.h5, an input of the run")
    assert _tree(tmp_path) == before


def test_only_a_previous_results_directory_is_replaced(tmp_path, tiny):
    out = tmp_path / "out"
    first = _invoke(["run", tiny, "-o", out, "-q"])
    assert first.exit_code == 0, first.output
    marker = json.loads((out / RESULTS_MARKER).read_text())
    assert marker["anomsearch_results"] == 1
    assert set(marker["files"]) == {p.name for p in out.iterdir()} - {RESULTS_MARKER}
    report = (out / "report.json").read_text()

    assert _invoke(["submit", out]).exit_code == 0  # the answer files do not block a rerun
    again = _invoke(["run", tiny, "-o", out, "-q"])
    assert again.exit_code == 0, again.output
    assert (out / "report.json").read_text().split('"timing"')[0] == report.split('"timing"')[0]

    (out / "notes.txt").write_text("mine\n")
    _fails(["run", tiny, "-o", out, "-q"], str(out), "notes.txt", "which no run wrote")
    assert (out / "notes.txt").read_text() == "mine\n"
    forced = _invoke(["run", tiny, "-o", out, "-q", "--overwrite"])  # asked for: replaced
    assert forced.exit_code == 0, forced.output
    assert not (out / "notes.txt").exists() and (out / RESULTS_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".anomsearch-cache", "out", "tiny.yaml"]


def test_an_unwritable_output_or_cache_location_fails_before_any_work(tmp_path, tiny):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    before = _tree(tmp_path)
    _fails(["run", tiny, "-o", blocker / "out", "-q"], f"{blocker} is a file, not a directory")
    cfg = yaml.safe_load(tiny.read_text())
    cfg["compute"] = {"cache_dir": str(blocker / "cache")}
    cached = _write_config(tmp_path / "cached.yaml", cfg)
    before["cached.yaml"] = _tree(tmp_path)["cached.yaml"]
    _fails(["run", cached, "-o", tmp_path / "out", "-q"], "config field compute.cache_dir")
    if os.geteuid() != 0:  # root writes anywhere: permissions cannot be tested as root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        before = _tree(tmp_path)
        _fails(["run", tiny, "-o", locked / "out", "-q"], f"cannot write into {locked}")
    elif Path("/proc").is_dir():  # nothing can be created in /proc, not even by root
        _fails(["run", tiny, "-o", "/proc/anomsearch-test/out", "-q"], "cannot write into /proc")
    assert _tree(tmp_path) == before


def test_stale_staging_folders_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
    try:
        names = {
            "dead": f".res.anomsearch-staging-{host}-{dead.pid}-0123abcd",
            "dead_backup": f".res.anomsearch-old-{host}-{dead.pid}-4567cdef",
            "alive": f".res.anomsearch-staging-{host}-{alive.pid}-89abcdef",
            "other_host": f".res.anomsearch-staging-otherhost{host}-{dead.pid}-0123abcd",
            "users": ".res.backup",
        }
        for name in names.values():
            (tmp_path / name).mkdir()
            (tmp_path / name / "report.json").write_text("{}")
        check_output_dir(tmp_path / "res")
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {names["alive"], names["other_host"], names["users"]}
    finally:
        alive.kill()
        alive.wait()


def _write(window_fixture: Any, final: Path, **options: Any) -> dict[str, Any]:
    config, window, _ = window_fixture
    report, background_like = build_report(config, window, headline="config")
    write_outputs(
        report,
        window,
        config=config,
        final_dir=final,
        method_name="cwola",
        background_like=background_like,
        **options,
    )
    return report


def test_concurrent_publishes_of_one_directory_do_not_collide(tiny_window, tmp_path):
    final = tmp_path / "res"
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            for _ in range(2):
                _write(tiny_window, final)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(3)]
    with warnings.catch_warnings():  # jsonschema warns (deprecated RefResolver) when threaded
        warnings.simplefilter("ignore", DeprecationWarning)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no staging, no backup
    assert json.loads((final / "report.json").read_text())["name"] == "tiny_scan"
    assert outputs.is_results_dir(final)


def test_a_publish_interrupted_between_its_renames_keeps_the_previous_results(
    tiny_window, tmp_path, monkeypatch
):
    final = tmp_path / "res"
    _write(tiny_window, final)
    before = _tree(final)
    real_replace = os.replace

    def interrupted(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".res.anomsearch-staging-"):  # staging -> final
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _write(tiny_window, final)
    monkeypatch.setattr(outputs.os, "replace", real_replace)
    assert _tree(final) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


# ------------------------------------------------------------------------------ 2. pickles
def test_a_pickled_object_column_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    frame = _features_frame()
    frame["mj1"] = frame["mj1"].astype(object)
    frame.loc[0, "mj1"] = _Payload(marker)
    evil = _to_hdf(frame, tmp_path / "evil.features.h5", format="fixed")
    assert not marker.exists()
    with pytest.raises(DataFormatError, match=r"evil\.features\.h5: column\(s\) 'mj1' hold Python"):
        read_features_h5(evil)
    config = _lhco_config(tmp_path / "lhco.yaml", evil)
    _fails(["run", config, "-o", tmp_path / "out", "-q"], "evil.features.h5", "never unpickles")
    assert not marker.exists()

    raw = pd.DataFrame(np.zeros((3, 2100))).astype({5: object})
    raw.loc[0, 5] = _Payload(marker)
    raw_path = _to_hdf(raw, tmp_path / "evil.raw.h5")
    with pytest.raises(DataFormatError, match=r"evil\.raw\.h5: column\(s\) '5' hold Python"):
        raw_h5_info(raw_path)
    _fails(["data", "features", raw_path, "-o", tmp_path / "f.h5", "-q"], "evil.raw.h5")
    assert not marker.exists() and not (tmp_path / "f.h5").exists()


def test_pickled_metadata_is_never_read_and_the_table_layout_is_refused(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    frame = _features_frame()
    path = _to_hdf(frame, tmp_path / "attrs.h5")
    with tables.open_file(path, "a") as f:  # PyTables unpickles such attributes when opened
        f.root._v_attrs.TITLE = _Payload(marker)
        f.root.df._v_attrs.pandas_extra = _Payload(marker)
    assert not marker.exists()
    events = read_features_h5(path)  # the numbers are read; the attributes are not
    np.testing.assert_array_equal(events.jets.reshape(len(frame), -1), frame.to_numpy())
    assert not marker.exists()
    table = _to_hdf(frame, tmp_path / "table.h5", format="table")
    with pytest.raises(DataFormatError, match=r"table\.h5: key 'df' is in pandas' table layout"):
        read_features_h5(table)


def test_a_planted_cache_entry_is_refused_before_unpickling(tmp_path, monkeypatch, caplog):
    key_file = tmp_path / "config" / "anomsearch" / "cache.key"
    monkeypatch.setattr(cache_module, "cache_key_path", lambda: key_file)
    monkeypatch.delenv(cache_module.CACHE_KEY_ENV, raising=False)
    marker = tmp_path / "PAYLOAD_RAN"
    cache = UnitCache(tmp_path / "cache")
    key = cache.key("scan_window", window=1)
    cache.store(key, {"z": 2.5})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # the secret, outside the cache
    assert UnitCache(cache.directory).load(key) == {"z": 2.5}

    payload = pickle.dumps((key, _Payload(marker)))
    header = cache.path(key).read_bytes().split(b"\n", 1)[0] + b"\n"
    forged = header + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    cache.path(key).write_bytes(forged)  # what someone who can write the cache could plant
    with caplog.at_level("WARNING", logger="anomsearch.compute"):
        assert UnitCache(cache.directory).load(key) is None
    assert "corrupt cache entry" in caplog.text and "not unpickled" in caplog.text
    assert not marker.exists()

    cache.store(key, {"z": 2.5})
    monkeypatch.setenv(cache_module.CACHE_KEY_ENV, "another user's secret, not ours at all")
    assert UnitCache(cache.directory).load(key) is None  # signed with another secret


# ------------------------------------------------------------------------------ 3. checks
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, float("inf")]}},
         "config field regions.sidebands: must be a finite number"),
        ({"background": {"bin_width": float("nan")}}, "config field background.bin_width"),
        ({"background": {"efficiency": float("nan")}}, "config field background.efficiency"),
        ({"stats": {"signal_width": float("inf")}}, "config field stats.signal_width"),
        ({"scan": {"step": 1e-7}}, "config field scan.step: 1e-07 TeV makes 8000001 windows"),
        ({"regions": {"signal_region": [1.3, 1.7], "sidebands": [0.9, 2.1]}},
         "config field regions.signal_region: [1.3, 1.7] TeV is not inside the mjj range"),
        ({"regions": {"signal_region": [2.0, 9.0], "sidebands": [1.0, 10.0]}},
         "every event of toy data lies inside the signal region"),
        ({"scan": {"mjj_min": 0.5, "mjj_max": 2.3}},
         "config field scan: the scanned range [0.5, 2.3) TeV holds 0 events"),
    ],
    ids=["sidebands-inf", "bin-width-nan", "efficiency-nan", "signal-width-inf", "step-1e-7",
         "sr-below-data", "data-inside-sr", "scan-outside-data"],
)  # fmt: skip
def test_validate_rejects_what_the_run_would_reject(tmp_path, tiny_scan, changes, expected):
    cfg = tiny_scan()
    if "scan" not in changes:  # the config's own window (with a scan, the scan's windows count)
        del cfg["scan"]
    for section, values in changes.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    path = _write_config(tmp_path / "bad.yaml", cfg)
    start = time.perf_counter()
    _fails(["validate", path], "bad.yaml: ", expected)
    assert time.perf_counter() - start < 30  # scan.step 1e-7 used to grow past 3.4 GB
    _fails(["run", path, "-o", tmp_path / "out", "-q"], expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_data_outside_the_windows_fail_before_training(tmp_path):
    high = generate_toy(2000, 0, seed=2, config=ToyConfig(mjj_min=3.8, mjj_max=6.0))
    data = write_features_h5(high, tmp_path / "high.h5")
    config = _lhco_config(tmp_path / "high.yaml", data)
    out = _fails(
        ["run", config, "-o", tmp_path / "out", "-q"], "config field regions.signal_region"
    )
    assert "high.h5 span mjj [3.8" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["high.h5", "high.yaml"]  # no training


def test_a_scan_whose_every_window_is_skipped_is_an_error(tmp_path, tiny_scan):
    cfg = tiny_scan()
    cfg["scan"]["min_sideband_events"] = 10**9
    path = _write_config(tmp_path / "skip.yaml", cfg)
    result = _invoke(["run", path, "-o", tmp_path / "out", "-q"])
    assert result.exit_code == 2, result.output
    assert "config field scan: all 3 windows were skipped" in result.output
    assert "local significance" not in result.output  # no headline for the config's SR
    assert not (tmp_path / "out").exists()


def test_impossible_jets_are_refused_with_their_count(tmp_path, tiny):
    events = generate_toy(3000, 0, seed=3)
    jets = events.jets.copy()
    jets[:500, 0, 3] = -50.0
    data = write_features_h5(EventTable(jets), tmp_path / "neg.h5")
    config = _lhco_config(tmp_path / "neg.yaml", data)
    _fails(["run", config, "-o", tmp_path / "out", "-q"], "neg.h5", "'mj1' (jet mass) is negative")
    assert "in 500 event(s)" in _fails(["run", config, "-o", tmp_path / "out", "-q"])
    cfg = yaml.safe_load(tiny.read_text())
    cfg["data"]["toy"] = {"mass_mjj_shift": -0.02}  # shifts a third of the masses below 0
    shifted = _write_config(tmp_path / "shift.yaml", cfg)
    _fails(["run", shifted, "-o", tmp_path / "out", "-q"], "toy data", "is negative in")
    assert not (tmp_path / "out").exists()


def test_master_key_labels_and_their_documentation_agree(tmp_path):
    (tmp_path / "key.txt").write_text("0\n1\n2\n")
    assert read_master_key(tmp_path / "key.txt").tolist() == [0, 1, 1]
    schema = json.loads(
        (Path(outputs.__file__).parents[1] / "schemas" / "config.v1.json").read_text()
    )
    text = schema["properties"]["data"]["properties"]["master_key"]["description"]
    assert "0 background, 1 signal" in text and "2" in text


# ------------------------------------------------------------------------------ 4. messages
def test_unreadable_inputs_give_one_line_not_a_traceback(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: x\nregions: \xff\xfe\n")
    _fails(["validate", latin], "latin.yaml: not a UTF-8 text file")
    (tmp_path / "adir.yaml").mkdir()
    _fails(["validate", tmp_path / "adir.yaml"], "adir.yaml: is a directory")
    binary = tmp_path / "bin.json"
    binary.write_bytes(bytes(range(256)))
    key = tmp_path / "key.json"
    key.write_text('{"signal": null}')
    _fails(["score-submission", binary, key], "bin.json: not a UTF-8 text file")
    _fails(["score-submission", tmp_path, key], f"{tmp_path}: is a directory, not a JSON file")
    _fails(["submit", key], "key.json: is not a directory")
    with pytest.raises(DataFormatError, match=r"bin\.json: not a text file of labels"):
        read_master_key(binary)


def test_an_unreadable_hdf5_file_is_one_line_without_the_hdf5_stack(tmp_path):
    good = write_features_h5(generate_toy(500, 0, seed=1), tmp_path / "good.h5")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[:2000])
    config = _lhco_config(tmp_path / "trunc.yaml", trunc)
    done = subprocess.run(
        [*CLI, "run", str(config), "-o", str(tmp_path / "out"), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no HDF5-DIAG stack
    assert "trunc.h5: not a readable pandas HDF5 file" in done.stderr


# ------------------------------------------------------------------------------ 5. interrupts
def _first_fold_stored(cache_root: Path) -> bool:
    return any(cache_root.rglob("fold-*.pkl"))


@pytest.mark.slow
def test_ctrl_c_prints_one_line_exits_130_and_writes_nothing(tmp_path, tiny):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, "run", str(tiny), "-o", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not _first_fold_stored(tmp_path / ".anomsearch-cache") and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: no results were written")
    assert "Traceback" not in stderr and stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [".anomsearch-cache", "tiny.yaml"]


def _report_without_timing(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    report.pop("timing")
    return report


@pytest.mark.slow
def test_kill_9_at_random_points_then_a_rerun_gives_the_same_report(tmp_path, tiny_scan):
    config = _write_config(tmp_path / "tiny_scan.yaml", tiny_scan())
    args = [*CLI, "run", str(config), "-q"]
    start = time.monotonic()
    subprocess.run([*args, "-o", str(tmp_path / "ref" / "res")], check=True, timeout=600)
    duration = time.monotonic() - start
    reference = _report_without_timing(tmp_path / "ref" / "res" / "report.json")

    rng = random.Random(18)
    target = tmp_path / "killed" / "res"
    for _ in range(3):  # each kill lands somewhere else: import, data, scan, headline, publish
        proc = subprocess.Popen([*args, "-o", str(target)], stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run([*args, "-o", str(target)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _report_without_timing(target / "report.json") == reference
    left = sorted(p.name for p in target.parent.iterdir())
    assert left == [".anomsearch-cache", "res"], left  # the killed runs' staging is gone
