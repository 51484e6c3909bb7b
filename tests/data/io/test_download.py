"""`anomsearch data download`: registry, cache, resume, checksums and errors.

Every test talks to a local ``http.server`` on 127.0.0.1 that serves tiny files in the exact LHC
Olympics layouts under ``/zenodo/records/<record>/files/<name>``; nothing touches the internet.
"""

from __future__ import annotations

import hashlib
import re
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import anomsearch.data.io.download as dl
from anomsearch.data.generate.toy import generate_toy
from anomsearch.data.io.download import (
    DATA_ENV,
    MIRROR_ENV,
    REGISTRY,
    ZENODO,
    DatasetSpec,
    DownloadError,
    RemoteFile,
    dataset_names,
    dataset_paths,
    default_cache_dir,
    download_dataset,
    format_dataset_table,
    list_datasets,
)
from anomsearch.data.io.lhco import (
    read_features_h5,
    read_master_key,
    write_features_h5,
    write_master_key,
)
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError

FEATURES = "events_anomalydetection_v2.features.h5"
FEATURES_RECORD = "4536377"


class _Server:
    """Local file server. ``mode``: ``"range"`` (honours Range), ``"ignore-range"`` (always 200).

    ``drop_once`` holds names whose first request is cut after half the body.
    """

    def __init__(self, root: Path, mode: str = "range") -> None:
        self.root = root
        self.mode = mode
        self.drop_once: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # silence stderr
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                match = re.fullmatch(r"/zenodo/records/(\d+)/files/([^/?]+)", self.path)
                path = server.root / match.group(1) / match.group(2) if match else None
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                if rng is not None and server.mode == "range":
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path.name in server.drop_once:
                    server.drop_once.discard(path.name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/zenodo"

    def put(self, record: str, name: str, data: bytes) -> Path:
        path = self.root / record / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def events():
    return generate_toy(300, 30, seed=11)


@pytest.fixture(scope="module")
def features_bytes(events, tmp_path_factory) -> bytes:
    path = write_features_h5(events, tmp_path_factory.mktemp("src") / FEATURES)
    return path.read_bytes()


@pytest.fixture
def make_server(tmp_path) -> Iterator:
    servers: list[_Server] = []

    def make(mode: str = "range") -> _Server:
        server = _Server(tmp_path / f"srv{len(servers)}", mode)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server, features_bytes) -> _Server:
    srv = make_server()
    srv.put(FEATURES_RECORD, FEATURES, features_bytes)
    return srv


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(DATA_ENV, str(root))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setattr(dl, "_RETRY_BACKOFF_S", 0.0)
    return root


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(server: _Server, **kwargs):
    return download_dataset("lhco-rnd-features", base_url=server.url, progress=False, **kwargs)


# ----------------------------------------------------------------------------- registry


def test_registry_entries_are_well_formed():
    names = dataset_names()
    for required in ("lhco-rnd", "lhco-rnd-features", "lhco-bb1", "lhco-bb2", "lhco-bb3"):
        assert required in names
    assert {n for n in names if n.endswith("-key")} == {"lhco-bb1-key", "lhco-bb3-key"}
    for spec in REGISTRY.values():
        assert spec.files
        for f in spec.files:
            for url in f.urls:
                assert re.fullmatch(rf"{ZENODO}/records/\d+/files/{re.escape(f.filename)}", url)
            assert f.source
            assert f.md5 is None or re.fullmatch(r"[0-9a-f]{32}", f.md5)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    assert REGISTRY["lhco-rnd-features"].files[0].urls[0] == (
        f"{ZENODO}/records/4536377/files/{FEATURES}"
    )


def test_unknown_name_lists_available():
    with pytest.raises(ConfigError, match="unknown dataset 'lhco-bb9'") as info:
        download_dataset("lhco-bb9", progress=False)
    for name in dataset_names():
        assert name in str(info.value)


@pytest.mark.parametrize(("option", "value"), [("timeout", 0.0), ("retries", -1)])
def test_bad_options(cache, option, value):
    with pytest.raises(ConfigError, match=rf"download\.{option}"):
        download_dataset("lhco-rnd-features", progress=False, **{option: value})


# ----------------------------------------------------------------------------- downloads


def test_fresh_download_is_exact_and_readable(cache, server, events, features_bytes):
    result = _get(server)
    dest = cache / "lhco-rnd-features" / FEATURES
    assert result.paths == (dest,)
    assert result.downloaded == (True,)
    assert result.bytes_transferred == len(features_bytes)
    assert result.sha256 == (_sha256(features_bytes),)
    assert result.cache_dir == cache
    assert dest.read_bytes() == features_bytes
    assert not dest.with_name(FEATURES + ".part").exists()
    # trust on first use: the sha256 is recorded beside the file
    assert dest.with_name(FEATURES + ".sha256").read_text().split()[0] == _sha256(features_bytes)
    # exactly one plain request to the Zenodo path, no Range
    assert server.requests == [(f"/zenodo/records/{FEATURES_RECORD}/files/{FEATURES}", None)]
    back = read_features_h5(dest)
    np.testing.assert_array_equal(back.jets, events.jets)
    np.testing.assert_array_equal(back.label, events.label)


def test_cached_file_is_not_downloaded_again_and_force_does(cache, server, features_bytes):
    _get(server)
    again = _get(server)
    assert again.downloaded == (False,)
    assert again.bytes_transferred == 0
    assert len(server.requests) == 1
    forced = _get(server, force=True)
    assert forced.downloaded == (True,)
    assert forced.bytes_transferred == len(features_bytes)
    assert len(server.requests) == 2
    assert forced.paths[0].read_bytes() == features_bytes


def test_resume_requests_only_the_missing_bytes(cache, server, features_bytes):
    dest = dataset_paths("lhco-rnd-features")[0]
    dest.parent.mkdir(parents=True)
    k = len(features_bytes) // 3
    dest.with_name(FEATURES + ".part").write_bytes(features_bytes[:k])
    result = _get(server)
    assert server.requests[-1][1] == f"bytes={k}-"
    assert len(server.requests) == 1
    assert result.bytes_transferred == len(features_bytes) - k
    assert dest.read_bytes() == features_bytes


def test_part_file_already_complete_is_accepted(cache, server, features_bytes):
    dest = dataset_paths("lhco-rnd-features")[0]
    dest.parent.mkdir(parents=True)
    dest.with_name(FEATURES + ".part").write_bytes(features_bytes)
    result = _get(server)  # server answers 416 "bytes */size"
    assert result.bytes_transferred == 0
    assert dest.read_bytes() == features_bytes


def test_oversized_part_file_is_discarded(cache, server, features_bytes):
    dest = dataset_paths("lhco-rnd-features")[0]
    dest.parent.mkdir(parents=True)
    dest.with_name(FEATURES + ".part").write_bytes(b"\x00" * (len(features_bytes) + 10))
    result = _get(server)  # 416 "bytes */size" with size != .part size -> restart at 0
    assert [r[1] for r in server.requests] == [f"bytes={len(features_bytes) + 10}-", None]
    assert result.bytes_transferred == len(features_bytes)
    assert dest.read_bytes() == features_bytes


def test_server_ignoring_range_restarts_cleanly(cache, make_server, features_bytes):
    srv = make_server("ignore-range")
    srv.put(FEATURES_RECORD, FEATURES, features_bytes)
    dest = dataset_paths("lhco-rnd-features")[0]
    dest.parent.mkdir(parents=True)
    # garbage in the partial file: appending to it would corrupt the result
    dest.with_name(FEATURES + ".part").write_bytes(b"\x00" * 100)
    result = _get(srv)
    assert srv.requests[-1][1] == "bytes=100-"  # asked to resume ...
    assert result.bytes_transferred == len(features_bytes)  # ... got the whole file instead
    assert dest.read_bytes() == features_bytes


def test_dropped_connection_is_resumed_within_one_call(cache, server, features_bytes):
    server.drop_once.add(FEATURES)
    result = _get(server)
    half = len(features_bytes) // 2
    assert [r[1] for r in server.requests] == [None, f"bytes={half}-"]
    assert result.bytes_transferred == len(features_bytes)
    assert result.paths[0].read_bytes() == features_bytes


def test_dropped_connection_without_retries_keeps_part_and_resumes_later(
    cache, server, features_bytes
):
    server.drop_once.add(FEATURES)
    dest = dataset_paths("lhco-rnd-features")[0]
    with pytest.raises(DownloadError, match="kept and resumed") as info:
        _get(server, retries=0)
    assert str(dest) in str(info.value)
    half = len(features_bytes) // 2
    part = dest.with_name(FEATURES + ".part")
    assert part.read_bytes() == features_bytes[:half]
    assert not dest.exists()
    result = _get(server)
    assert server.requests[-1][1] == f"bytes={half}-"
    assert result.bytes_transferred == len(features_bytes) - half
    assert dest.read_bytes() == features_bytes


def test_mirror_environment_variable(cache, server, monkeypatch, features_bytes):
    monkeypatch.setenv(MIRROR_ENV, server.url + "/")
    result = download_dataset("lhco-rnd-features")  # progress bar on, but stderr is no tty
    assert result.paths[0].read_bytes() == features_bytes


def test_fallback_url_after_http_error(cache, make_server, monkeypatch, tmp_path, events):
    key = tmp_path / "key.txt"
    write_master_key(events.label, key)
    srv = make_server()
    srv.put("2", "test.masterkey", key.read_bytes())  # only the second record has it
    urls = (f"{ZENODO}/records/1/files/test.masterkey", f"{ZENODO}/records/2/files/test.masterkey")
    spec = DatasetSpec("test-key", "test", (RemoteFile("test.masterkey", urls, source="test"),))
    monkeypatch.setitem(REGISTRY, "test-key", spec)
    result = download_dataset("test-key", base_url=srv.url, progress=False)
    assert [r[0] for r in srv.requests] == [
        "/zenodo/records/1/files/test.masterkey",
        "/zenodo/records/2/files/test.masterkey",
    ]
    np.testing.assert_array_equal(read_master_key(result.paths[0]), events.label)


# ----------------------------------------------------------------------------- checksums


def _register(monkeypatch, features_bytes, **checks) -> None:
    url = f"{ZENODO}/records/{FEATURES_RECORD}/files/{FEATURES}"
    spec = DatasetSpec("test-set", "test", (RemoteFile(FEATURES, (url,), source="test", **checks),))
    monkeypatch.setitem(REGISTRY, "test-set", spec)


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_published_checksum_pass(cache, server, monkeypatch, features_bytes, algorithm):
    digest = hashlib.new(algorithm, features_bytes).hexdigest()
    _register(monkeypatch, features_bytes, size=len(features_bytes), **{algorithm: digest})
    result = download_dataset("test-set", base_url=server.url, progress=False)
    assert result.paths[0].read_bytes() == features_bytes
    if algorithm == "sha256":  # a published sha256 needs no trust-on-first-use record
        assert not result.paths[0].with_name(FEATURES + ".sha256").exists()


@pytest.mark.parametrize("algorithm", ["md5", "sha256", "size"])
def test_published_checksum_mismatch(cache, server, monkeypatch, features_bytes, algorithm):
    if algorithm == "size":
        wrong: object = len(features_bytes) + 1
        good = str(len(features_bytes))
    else:
        wrong = hashlib.new(algorithm, b"something else").hexdigest()
        good = hashlib.new(algorithm, features_bytes).hexdigest()
    _register(monkeypatch, features_bytes, **{algorithm: wrong})
    dest = dataset_paths("test-set")[0]
    with pytest.raises(DataFormatError, match=f"fails its {algorithm} check") as info:
        download_dataset("test-set", base_url=server.url, progress=False)
    assert str(wrong) in str(info.value) and good in str(info.value)
    assert not dest.exists()
    assert not dest.with_name(FEATURES + ".part").exists()
    assert dest.with_name(FEATURES + ".corrupt").read_bytes() == features_bytes


def test_trust_on_first_use(cache, server, features_bytes):
    first = _get(server)
    dest = first.paths[0]
    # local corruption: detected, quarantined, fetched again, still matching the recorded sum
    dest.write_bytes(features_bytes[:-1] + b"\x01")
    again = _get(server)
    assert again.downloaded == (True,)
    assert dest.read_bytes() == features_bytes
    assert dest.with_name(FEATURES + ".corrupt").exists()
    # upstream changed: the new file does not match the recorded sha256 -> error naming both
    changed = features_bytes + b"extra"
    server.put(FEATURES_RECORD, FEATURES, changed)
    dest.unlink()
    with pytest.raises(DataFormatError) as info:
        _get(server)
    message = str(info.value)
    assert _sha256(features_bytes) in message and _sha256(changed) in message
    assert "recorded on first use" in message
    # force discards the record and accepts the new upstream file
    forced = _get(server, force=True)
    assert forced.sha256 == (_sha256(changed),)
    assert dest.read_bytes() == changed


def test_manually_placed_file_is_trusted_on_first_use(cache, server, features_bytes):
    dest = dataset_paths("lhco-rnd-features")[0]
    dest.parent.mkdir(parents=True)
    dest.write_bytes(features_bytes)
    result = _get(server)
    assert result.downloaded == (False,)
    assert server.requests == []
    assert dest.with_name(FEATURES + ".sha256").read_text().split()[0] == _sha256(features_bytes)


# ----------------------------------------------------------------------------- errors


def test_connection_refused_gives_a_clear_error(cache):
    with socket.socket() as sock:  # a port that was free a moment ago and is now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(DownloadError) as info:
        download_dataset("lhco-bb1-key", base_url=base, progress=False, timeout=5)
    message = str(info.value)
    assert f"{base}/records/4536624/files/events_LHCO2020_BlackBox1.masterkey" in message
    assert str(cache / "lhco-bb1-key" / "events_LHCO2020_BlackBox1.masterkey") in message
    assert "by hand" in message and "zenodo.org" in message
    assert isinstance(info.value, AnomsearchError)


def test_http_404_gives_a_clear_error(cache, make_server):
    srv = make_server()
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_dataset("lhco-bb2", base_url=srv.url, progress=False, retries=0)


# ----------------------------------------------------------------------------- cache dir


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data"
    assert dataset_paths("lhco-bb1")[0] == tmp_path / "data" / "lhco-bb1" / (
        "events_LHCO2020_BlackBox1.h5"
    )
    assert dataset_paths("lhco-bb1", cache_dir=tmp_path / "x")[0].parent == tmp_path / "x" / (
        "lhco-bb1"
    )
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # force the fallback
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "anomsearch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "anomsearch"


def test_list_datasets_reports_cached(cache, server):
    before = {row.name: row for row in list_datasets()}
    assert not before["lhco-rnd-features"].cached
    _get(server)
    rows = {row.name: row for row in list_datasets()}
    assert rows["lhco-rnd-features"].cached
    assert not rows["lhco-bb1"].cached
    assert rows["lhco-rnd-features"].paths == dataset_paths("lhco-rnd-features")
    table = format_dataset_table(rows.values())
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["name", "size", "cached"]
    assert len(lines) == len(rows) + 1
    feature_line = next(line for line in lines if line.startswith("lhco-rnd-features "))
    assert feature_line.split()[1:3] == ["?", "yes"]


# ----------------------------------------------------------------------------------- CLI


def test_cli_data_download_and_list(cache, server, features_bytes):
    from typer.testing import CliRunner

    from anomsearch.cli import app

    runner = CliRunner()
    args = ["data", "download", "lhco-rnd-features", "--mirror", server.url, "--quiet"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    path = cache / "lhco-rnd-features" / FEATURES
    assert f"{path} (downloaded)" in first.output
    assert path.read_bytes() == features_bytes
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and f"{path} (cached)" in again.output
    listing = runner.invoke(app, ["data", "list"])
    assert listing.exit_code == 0
    row = next(line for line in listing.output.splitlines() if line.startswith("lhco-rnd-features"))
    assert "yes" in row.split()


def test_cli_data_download_errors_exit_2(cache):
    from typer.testing import CliRunner

    from anomsearch.cli import app

    runner = CliRunner()
    unknown = runner.invoke(app, ["data", "download", "lhco-nope", "--quiet"])
    assert unknown.exit_code == 2 and "lhco-rnd" in unknown.output
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = runner.invoke(
        app,
        ["data", "download", "lhco-rnd-features", "--mirror", f"http://127.0.0.1:{port}", "-q"],
    )
    assert offline.exit_code == 2
    assert f"127.0.0.1:{port}" in offline.output


def test_config_dataset_is_fetched_by_the_pipeline(cache, server, monkeypatch, events):
    from anomsearch.config import load_config
    from anomsearch.data.sources import fetch_datasets, load_events

    monkeypatch.setenv(MIRROR_ENV, server.url)
    raw = {
        "name": "ds",
        "data": {"source": "lhco", "dataset": "lhco-rnd-features"},
        "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
        "method": {"name": "cwola"},
        "background": {"name": "bumphunt"},
    }
    config = load_config(raw, base_dir=cache)
    fetched = fetch_datasets(config)
    assert fetched.data.path == str(cache / "lhco-rnd-features" / FEATURES)
    assert fetched.data.dataset == "lhco-rnd-features"  # the record names both
    assert config.data.path is None  # the input config is not modified
    loaded = load_events(fetched.data, injection=None, seeds=fetched.derived_seeds())
    np.testing.assert_array_equal(loaded.jets, events.jets)
    with pytest.raises(ConfigError, match=r"data\.dataset: unknown dataset 'nope'"):
        load_config({**raw, "data": {"source": "lhco", "dataset": "nope"}})
    with pytest.raises(ConfigError, match=r"either data\.path or data\.dataset"):
        load_config({**raw, "data": {"source": "lhco", "dataset": "lhco-rnd", "path": "x.h5"}})
