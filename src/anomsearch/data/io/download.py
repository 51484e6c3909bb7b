r"""Download the public LHC Olympics 2020 files from Zenodo into a local cache.

The registry :data:`REGISTRY` names every file anomsearch knows how to fetch: the R&D set (raw
particles and the v2 jet-features table), the extra signal-region-only QCD sample, and the three
black boxes, the master keys of black boxes 1 and 3, and the black-box background simulation.
Each entry carries the Zenodo URL(s), the file name, the size when known, and a checksum when
one is known.

Cache:
    Files land in ``<cache>/<dataset name>/<file name>``. ``<cache>`` is, in order: the
    ``cache_dir`` argument, the ``$ANOMSEARCH_DATA`` environment variable, the platform user cache
    directory from ``platformdirs`` when that package is importable, else
    ``$XDG_CACHE_HOME/anomsearch`` or ``~/.cache/anomsearch`` (the Linux convention, used as the
    fallback on every platform). A file placed there by hand (e.g. copied from a machine with
    internet access) is used as if it had been downloaded.

Transfer:
    Bytes stream with :mod:`urllib.request` into ``<file>.part``. An interrupted transfer is
    resumed with an HTTP ``Range`` request (``bytes=<size of .part>-``); a server that ignores the
    range and answers ``200`` with the whole file makes the download restart cleanly from byte 0.
    A dropped connection is retried (resuming) up to ``retries`` times. Only a complete, verified
    file is renamed (atomically) onto its final name, so a file under its final name is always
    whole.

Integrity:
    If a checksum is published (md5 as Zenodo lists it, or sha256) the file is checked against it.
    Otherwise *trust on first use*: the sha256 of the first complete download (or of a file first
    found in the cache) is recorded beside it as ``<file>.sha256``, and every later use, and every
    later download of the same file, must reproduce it. A cached file that no longer matches is
    moved to ``<file>.corrupt`` and fetched again; a freshly downloaded file that does not match
    is kept as ``<file>.corrupt`` (for inspection; the next attempt replaces it) and
    :class:`~anomsearch.exceptions.DataFormatError` names both checksums. ``force=True`` discards
    the cached file, any partial download and the trust-on-first-use record (never a published
    checksum) and downloads again. Every use of a cached file re-hashes it (seconds per GB).

Mirrors:
    ``base_url=`` or ``$ANOMSEARCH_DOWNLOAD_MIRROR`` replaces ``https://zenodo.org`` in every URL
    (e.g. ``http://mirror.example/zenodo`` serves ``/records/<id>/files/<name>``).

Not handled: two processes downloading the same file into the same cache at the same time.

References:
    G. Kasieczka, B. Nachman, D. Shih et al., "The LHC Olympics 2020: a community challenge for
    anomaly detection in high energy physics", arXiv:2101.08320 (the data sets);
    A. Hallin et al., "Classifying anomalies through outer density estimation (CATHODE)",
    arXiv:2109.00546 (the extra signal-region QCD sample).

Examples:
    >>> "lhco-rnd-features" in dataset_names()
    True
    >>> _human_size(3 * 1024**2)
    '3.0 MiB'
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from anomsearch._io import write_text_atomic
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError

__all__ = [
    "DATA_ENV",
    "MIRROR_ENV",
    "REGISTRY",
    "ZENODO",
    "DatasetInfo",
    "DatasetSpec",
    "DownloadError",
    "DownloadResult",
    "RemoteFile",
    "dataset_names",
    "dataset_paths",
    "default_cache_dir",
    "download_dataset",
    "format_dataset_table",
    "list_datasets",
]

log = logging.getLogger(__name__)

#: Environment variable naming the cache directory.
DATA_ENV = "ANOMSEARCH_DATA"
#: Environment variable naming a mirror that replaces :data:`ZENODO` in every URL.
MIRROR_ENV = "ANOMSEARCH_DOWNLOAD_MIRROR"
#: The host every registry URL starts with.
ZENODO = "https://zenodo.org"

_CHUNK = 1 << 20
_USER_AGENT = "anomsearch-download (+https://zenodo.org; urllib)"
#: Seconds slept before retry ``k`` (multiplied by ``k``); tests set it to 0.
_RETRY_BACKOFF_S = 2.0


class DownloadError(AnomsearchError):
    """A file could not be fetched (offline, DNS failure, HTTP error, dropped connection).

    The message names the URL, the cache path and how to place the file there by hand.
    """


class RemoteFile(NamedTuple):
    """One file of a dataset.

    Attributes:
        filename: name of the file on Zenodo and in the cache.
        urls: download URLs, tried in order (later ones are fallbacks for network errors).
        size: size in bytes, when known (checked after the download).
        md5: md5 hex digest as published on the Zenodo record, or None.
        sha256: sha256 hex digest, or None (then trust-on-first-use applies).
        source: where the URL (and checksum) came from.
    """

    filename: str
    urls: tuple[str, ...]
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    source: str = ""


class DatasetSpec(NamedTuple):
    """A named dataset: one or more files fetched together.

    Attributes:
        name: registry name, e.g. ``"lhco-bb1"``.
        description: one line for ``anomsearch data list``.
        files: the files.
    """

    name: str
    description: str
    files: tuple[RemoteFile, ...]


class DownloadResult(NamedTuple):
    """Result of :func:`download_dataset`.

    Attributes:
        name: the dataset name.
        paths: local path of each file, in registry order.
        downloaded: per file, True if bytes were transferred in this call (False: cache hit).
        sha256: per file, the sha256 hex digest of the verified file.
        bytes_transferred: bytes received over the network in this call.
        cache_dir: the cache root used.
    """

    name: str
    paths: tuple[Path, ...]
    downloaded: tuple[bool, ...]
    sha256: tuple[str, ...]
    bytes_transferred: int
    cache_dir: Path


class DatasetInfo(NamedTuple):
    """One row of :func:`list_datasets`.

    Attributes:
        name: registry name.
        description: one-line description.
        size: total size in bytes if known for every file, else None.
        cached: True if every file of the dataset is present in the cache (not re-verified).
        paths: where the files are (or would be) cached.
    """

    name: str
    description: str
    size: int | None
    cached: bool
    paths: tuple[Path, ...]


def _zenodo(record: int, filename: str) -> str:
    return f"{ZENODO}/records/{record}/files/{filename}"


# Sources of the registry (Zenodo record ids and file names):
#  [lhco-script] LHCO processing script with a `data_urls` / `masterkey_urls` table (R&D raw file
#      and 3-prong signal in record 4536377; black boxes, their master keys and the black-box
#      background MC in record 4536624; "only BBOX1 and BBOX3 have masterkeys").
#  [cathode] CATHODE and latent-CATHODE READMEs (arXiv:2109.00546): "wget
#      https://zenodo.org/record/4536377/files/events_anomalydetection_v2.features.h5" and
#      ".../record/5759087/files/events_anomalydetection_qcd_extra_inneronly_features.h5".
#  [paws] PAWS README (hep-lbdl/PAWS): the same features file in record 4536377 and the extra QCD
#      sample in record 8370758 (a later version of the 5759087 record).
#  [datadeps] a Julia DataDeps registration (GroupAD) of record 6466204,
#      events_anomalydetection_v2.h5, with its sha256 (computed by that project, not published
#      by Zenodo; DataDeps checks it on every download).
#  [rnd-v1] analysis scripts citing the original R&D record 2629073
#      (".../record/2629073/files/events_anomalydetection.h5?download=1").
#  [bb-v1] the original black-box record 3596919 (AnomalyDetection4Jets README and Dockerfile:
#      ".../record/3596919/files/events_LHCO2020_BlackBox1.h5?download=1", likewise BB2, BB3 and
#      the Pythia background).
# No published md5 for these files could be found offline, so all but one entry use
# trust-on-first-use. Sizes are left None where not published.
_FILES: tuple[tuple[str, str, tuple[RemoteFile, ...]], ...] = (
    (
        "lhco-rnd",
        "R&D set, raw particles (1M QCD + 100k W'->XY signal, 700x(pT,eta,phi) + label)",
        (
            RemoteFile(
                "events_anomalydetection.h5",
                (
                    _zenodo(4536377, "events_anomalydetection.h5"),
                    _zenodo(2629073, "events_anomalydetection.h5"),
                ),
                source="[lhco-script] record 4536377; [rnd-v1] record 2629073",
            ),
        ),
    ),
    (
        "lhco-rnd-v2",
        "R&D set v2, raw particles (re-release of the R&D file)",
        (
            RemoteFile(
                "events_anomalydetection_v2.h5",
                (_zenodo(6466204, "events_anomalydetection_v2.h5"),),
                sha256="5da8fda2ca78edf8fa5acc0af92fcb6a2d464ba7bf0fd75e3944a169b88cecc6",
                source="[datadeps] record 6466204, sha256 recorded by GroupAD's DataDeps",
            ),
        ),
    ),
    (
        "lhco-rnd-features",
        "R&D set v2, jet features table (14 jet columns + label), the CATHODE-family input",
        (
            RemoteFile(
                "events_anomalydetection_v2.features.h5",
                (_zenodo(4536377, "events_anomalydetection_v2.features.h5"),),
                source="[cathode] [paws] record 4536377",
            ),
        ),
    ),
    (
        "lhco-rnd-3prong",
        "R&D 3-prong signal W'->X(qqq)Y(qqq), raw particles",
        (
            RemoteFile(
                "events_anomalydetection_Z_XY_qqq.h5",
                (_zenodo(4536377, "events_anomalydetection_Z_XY_qqq.h5"),),
                source="[lhco-script] record 4536377",
            ),
        ),
    ),
    (
        "lhco-extra-qcd-features",
        "Extra QCD in the signal region only (idealized anomaly detector), jet features",
        (
            RemoteFile(
                "events_anomalydetection_qcd_extra_inneronly_features.h5",
                (
                    _zenodo(5759087, "events_anomalydetection_qcd_extra_inneronly_features.h5"),
                    _zenodo(8370758, "events_anomalydetection_qcd_extra_inneronly_features.h5"),
                ),
                source="[cathode] record 5759087; [paws] record 8370758",
            ),
        ),
    ),
    (
        "lhco-bb-background-pythia",
        "Black-box background simulation: 1M Pythia8+Delphes QCD dijets, raw particles",
        (
            RemoteFile(
                "events_LHCO2020_backgroundMC_Pythia.h5",
                (
                    _zenodo(4536624, "events_LHCO2020_backgroundMC_Pythia.h5"),
                    _zenodo(3596919, "events_LHCO2020_backgroundMC_Pythia.h5"),
                ),
                source="[lhco-script] record 4536624; [bb-v1] record 3596919",
            ),
        ),
    ),
)
_BB_FILES = tuple(
    (
        f"lhco-bb{i}",
        f"Black box {i}: 1M events, raw particles, unlabelled",
        (
            RemoteFile(
                f"events_LHCO2020_BlackBox{i}.h5",
                (
                    _zenodo(4536624, f"events_LHCO2020_BlackBox{i}.h5"),
                    _zenodo(3596919, f"events_LHCO2020_BlackBox{i}.h5"),
                ),
                source="[lhco-script] record 4536624; [bb-v1] record 3596919",
            ),
        ),
    )
    for i in (1, 2, 3)
)
_KEY_FILES = tuple(
    (
        f"lhco-bb{i}-key",
        f"Black box {i} master key: one truth label per line, in event order"
        + (" (0, or 1/2 for its two signal processes)" if i == 3 else " (0/1)"),
        (
            RemoteFile(
                f"events_LHCO2020_BlackBox{i}.masterkey",
                (_zenodo(4536624, f"events_LHCO2020_BlackBox{i}.masterkey"),),
                source="[lhco-script] record 4536624 (master keys exist for BB1 and BB3 only)",
            ),
        ),
    )
    for i in (1, 3)
)

#: Every downloadable dataset, by name.
REGISTRY: dict[str, DatasetSpec] = {
    name: DatasetSpec(name, description, files)
    for name, description, files in (*_FILES, *_BB_FILES, *_KEY_FILES)
}


def dataset_names() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(REGISTRY)


def _spec(name: str) -> DatasetSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"dataset: unknown dataset {name!r}; available: {', '.join(dataset_names())}"
        ) from None


def default_cache_dir() -> Path:
    """The cache root: ``$ANOMSEARCH_DATA``, else the platform user cache dir (see module doc)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs  # optional; not a declared dependency
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        return base / "anomsearch"
    return Path(platformdirs.user_cache_dir("anomsearch"))


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def dataset_paths(
    name: str, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, ...]:
    """Where the files of dataset ``name`` are (or would be) cached.

    Raises:
        ConfigError: unknown dataset name (the message lists the available ones).
    """
    spec = _spec(name)
    root = _cache_root(cache_dir)
    return tuple(root / spec.name / f.filename for f in spec.files)


def list_datasets(*, cache_dir: str | os.PathLike[str] | None = None) -> list[DatasetInfo]:
    """All registered datasets with their size and whether they are already cached."""
    rows = []
    for name in dataset_names():
        spec = REGISTRY[name]
        paths = dataset_paths(name, cache_dir=cache_dir)
        sizes = [f.size for f in spec.files]
        total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        cached = all(p.is_file() for p in paths)
        rows.append(DatasetInfo(name, spec.description, total, cached, paths))
    return rows


def _human_size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_dataset_table(rows: Iterable[DatasetInfo]) -> str:
    """Render :func:`list_datasets` rows as a plain-text table (name, size, cached, description)."""
    rows = list(rows)
    header = ("name", "size", "cached", "description")
    body = [(r.name, _human_size(r.size), "yes" if r.cached else "no", r.description) for r in rows]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in (header, *body)
    ]
    return "\n".join(line.rstrip() for line in lines)


def _mirror_urls(urls: Sequence[str], base_url: str | None) -> tuple[str, ...]:
    if base_url is None:
        base_url = os.environ.get(MIRROR_ENV) or None
    if base_url is None:
        return tuple(urls)
    base = base_url.rstrip("/")
    out: list[str] = []
    for url in urls:
        new = base + url[len(ZENODO) :] if url.startswith(ZENODO) else url
        if new not in out:
            out.append(new)
    return tuple(out)


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_sidecar(path: Path) -> str | None:
    side = _sidecar(path)
    if not side.is_file():
        return None
    text = side.read_text(encoding="utf-8").split()
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise DataFormatError(
            f"{side}: not a sha256 record (expected '<64 hex digits>  {path.name}'); "
            "delete it to trust the file again"
        )
    return text[0]


def _write_sidecar(path: Path, sha256: str) -> None:
    write_text_atomic(_sidecar(path), f"{sha256}  {path.name}\n")


class _Mismatch(NamedTuple):
    algorithm: str
    expected: str
    actual: str


def _verify(
    path: Path, remote: RemoteFile, pinned_sha256: str | None
) -> tuple[str, _Mismatch | None]:
    """Check size and checksums of ``path``; return its sha256 and the first mismatch, if any."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return "", _Mismatch("size", str(remote.size), str(size))
    sha256 = _hash_file(path, "sha256")
    if remote.md5 is not None:
        md5 = _hash_file(path, "md5")
        if md5 != remote.md5.lower():
            return sha256, _Mismatch("md5", remote.md5.lower(), md5)
    expected = remote.sha256.lower() if remote.sha256 is not None else pinned_sha256
    if expected is not None and sha256 != expected:
        return sha256, _Mismatch("sha256", expected, sha256)
    return sha256, None


def _manual_hint(remote: RemoteFile, dest: Path) -> str:
    return (
        f"To install it by hand, download {remote.urls[0]} on a machine with internet access and "
        f"copy it to {dest} (or point ${DATA_ENV} at a directory holding "
        f"<dataset>/{remote.filename}, or set ${MIRROR_ENV} to a reachable mirror)."
    )


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)


class _Transfer(NamedTuple):
    received: int
    complete: bool


def _stream(
    response: http.client.HTTPResponse,
    out: BinaryIO,
    *,
    offset: int,
    total: int | None,
    length: int | None,
    progress: bool,
    label: str,
) -> _Transfer:
    from anomsearch.progress import progress_bar

    received = 0
    with progress_bar(
        total, initial=offset, description=label, bytes_=True, enabled=progress
    ) as bar:
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (http.client.IncompleteRead, OSError) as exc:  # dropped, reset, timed out
            out.write(getattr(exc, "partial", b"") or b"")
            received += len(getattr(exc, "partial", b"") or b"")
            log.debug("transfer interrupted after %d bytes: %s", received, exc)
            return _Transfer(received, False)
    return _Transfer(received, length is None or received == length)


def _fetch_once(
    url: str, part: Path, *, timeout: float, progress: bool, label: str
) -> tuple[int, bool]:
    """One HTTP request appending to ``part``; returns (bytes received, complete?)."""
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            if exc.code == 416 and offset > 0:
                match = re.search(r"/(\d+)", exc.headers.get("Content-Range", "") or "")
                if match and int(match.group(1)) == offset:
                    return 0, True  # the .part file already holds the whole file
                log.info("server refused to resume %s; restarting from byte 0", url)
                part.unlink()
                return _fetch_once(url, part, timeout=timeout, progress=progress, label=label)
            raise
    with response:
        status = response.status
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header is not None else None
        mode = "ab"
        total: int | None = None
        if offset > 0 and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
            if match is None or int(match.group(1)) != offset:
                raise DownloadError(
                    f"{url}: server answered a resume request at byte {offset} with "
                    f"Content-Range {response.headers.get('Content-Range')!r}"
                )
            total = int(match.group(3)) if match.group(3) != "*" else None
        else:
            if offset > 0:
                log.info("%s: server ignored the Range request; restarting from byte 0", url)
            mode, offset = "wb", 0
            total = length
        with part.open(mode) as out:
            result = _stream(
                response,
                out,
                offset=offset,
                total=total,
                length=length,
                progress=progress,
                label=label,
            )
    return result.received, result.complete


def _fetch(
    remote: RemoteFile,
    dest: Path,
    *,
    urls: Sequence[str],
    timeout: float,
    progress: bool,
    retries: int,
) -> int:
    """Download ``remote`` into ``dest.part`` (resuming); return the bytes received."""
    part = dest.with_name(dest.name + ".part")
    if remote.size is not None and part.is_file() and part.stat().st_size > remote.size:
        part.unlink()
    received = 0
    errors: list[str] = []
    for url in urls:
        attempt = 0
        while True:
            try:
                got, complete = _fetch_once(
                    url, part, timeout=timeout, progress=progress, label=remote.filename
                )
            except urllib.error.HTTPError as exc:
                errors.append(f"{url}: HTTP {exc.code} {exc.reason}")
                break
            except urllib.error.URLError as exc:
                errors.append(f"{url}: {exc.reason}")
                break
            except DownloadError as exc:  # a malformed answer to a resume request
                errors.append(str(exc))
                break
            except (http.client.HTTPException, OSError) as exc:  # reset, timeout, bad status
                got, complete = 0, False
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
            received += got
            if complete:
                return received
            attempt += 1
            if attempt > retries:
                have = part.stat().st_size if part.is_file() else 0
                errors.append(
                    f"{url}: transfer incomplete after {attempt} attempt(s) ({have} bytes)"
                )
                break
            log.info("%s: connection dropped; resuming (attempt %d of %d)", url, attempt, retries)
            time.sleep(_RETRY_BACKOFF_S * attempt)
    have = part.stat().st_size if part.is_file() else 0
    kept = f" The partial file {part} ({have} bytes) is kept and resumed next time." if have else ""
    raise DownloadError(
        f"could not download {remote.filename} into {dest}: "
        + "; ".join(errors)
        + "."
        + kept
        + " "
        + _manual_hint(remote, dest)
    )


def _quarantine(path: Path, dest: Path) -> Path:
    """Move ``path`` (the cached file or its ``.part``) to ``<dest>.corrupt``."""
    bad = dest.with_name(dest.name + ".corrupt")
    os.replace(path, bad)
    return bad


def _get_file(
    remote: RemoteFile,
    dest: Path,
    *,
    force: bool,
    base_url: str | None,
    timeout: float,
    progress: bool,
    retries: int,
) -> tuple[str, bool, int]:
    """Make ``dest`` a verified copy of ``remote``; return (sha256, downloaded?, bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if force:
        for stale in (dest, part, _sidecar(dest)):
            stale.unlink(missing_ok=True)
    pinned = _read_sidecar(dest) if remote.sha256 is None else None

    if dest.is_file():
        sha256, bad = _verify(dest, remote, pinned)
        if bad is None:
            if pinned is None and remote.sha256 is None:
                _write_sidecar(dest, sha256)
                log.info("trusting %s on first use (sha256 %s)", dest, sha256)
            log.info("%s: cached and verified", dest)
            return sha256, False, 0
        moved = _quarantine(dest, dest)
        log.warning(
            "%s: cached file fails its %s check (expected %s, got %s); moved to %s and "
            "downloading again",
            dest,
            bad.algorithm,
            bad.expected,
            bad.actual,
            moved,
        )

    urls = _mirror_urls(remote.urls, base_url)
    received = _fetch(remote, dest, urls=urls, timeout=timeout, progress=progress, retries=retries)
    sha256, bad = _verify(part, remote, pinned)
    if bad is not None:
        moved = _quarantine(part, dest)
        if bad.algorithm == "sha256" and remote.sha256 is None:
            origin = f"recorded on first use in {_sidecar(dest)}"
            advice = (
                "If the upstream file legitimately changed, re-run with force=True (--force) "
                "to discard the recorded checksum."
            )
        else:
            origin = "registry value"
            advice = "Try again (a transfer error), or report the registry entry."
        raise DataFormatError(
            f"{remote.filename}: downloaded file fails its {bad.algorithm} check: expected "
            f"{bad.expected} ({origin}), got {bad.actual}. The file is kept as {moved}. " + advice
        )
    os.replace(part, dest)
    if remote.sha256 is None:
        _write_sidecar(dest, sha256)
    log.info("downloaded %s (%d bytes, sha256 %s)", dest, dest.stat().st_size, sha256)
    return sha256, True, received


def download_dataset(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
    base_url: str | None = None,
    retries: int = 3,
) -> DownloadResult:
    """Fetch (or find in the cache) every file of a registered dataset and verify it.

    Args:
        name: registry name, e.g. ``"lhco-rnd-features"`` (see :func:`list_datasets`).
        cache_dir: cache root (default: :func:`default_cache_dir`).
        force: discard the cached copy, any partial download and the trust-on-first-use
            checksum record, and download again.
        progress: show a progress bar (only when stderr is a terminal, :mod:`anomsearch.progress`).
        timeout: seconds to wait for the server on connect and on each read.
        base_url: mirror replacing ``https://zenodo.org`` in the URLs (default:
            ``$ANOMSEARCH_DOWNLOAD_MIRROR`` if set).
        retries: how many times a dropped transfer is resumed before giving up on a URL.

    Returns:
        The local paths, which files were transferred now, and their sha256.

    Raises:
        ConfigError: unknown dataset (the message lists the available ones), or a bad
            ``timeout`` / ``retries``.
        DownloadError: network failure; the message names the URL, the cache path and how to
            place the file by hand. A partial ``.part`` file is kept and resumed next time.
        DataFormatError: the downloaded file fails its size or checksum check (both values are
            named; the file is kept as ``<file>.corrupt``).
    """
    spec = _spec(name)
    if not timeout > 0:
        raise ConfigError(f"download.timeout must be > 0 seconds, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"download.retries must be an integer >= 0, got {retries!r}")
    root = _cache_root(cache_dir)
    paths, downloaded, digests = [], [], []
    transferred = 0
    for remote, dest in zip(spec.files, dataset_paths(name, cache_dir=root), strict=True):
        sha256, fetched, received = _get_file(
            remote,
            dest,
            force=force,
            base_url=base_url,
            timeout=timeout,
            progress=progress,
            retries=retries,
        )
        paths.append(dest)
        downloaded.append(fetched)
        digests.append(sha256)
        transferred += received
    return DownloadResult(
        spec.name, tuple(paths), tuple(downloaded), tuple(digests), transferred, root
    )
