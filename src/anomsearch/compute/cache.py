"""A content-hash cache of finished units of work (scan windows, folds, pseudo-experiments).

:class:`UnitCache` stores each finished unit under a directory, keyed by a SHA-256 of everything
it depends on (data checksum, window, method and its options, folds, seed, package version; see
:func:`fingerprint`). A rerun of the same configuration loads the finished units instead of
recomputing them, and a killed run restarts where it stopped. Entries are written atomically.

Entries are pickles, and unpickling can run code, so every entry is signed: an HMAC-SHA256 of its
key and payload with a secret that lives outside the cache -- ``$ANOMSEARCH_CACHE_KEY``, else the
per-user key file :func:`cache_key_path` (created with mode 0600 on first use). An entry whose
signature does not verify -- corrupt, truncated, copied under another key, written with another
secret, or planted by someone who can write the cache directory but not read the key -- is
refused *before* it is unpickled, and the unit is recomputed with a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import hmac
import json
import logging
import math
import os
import pickle
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch import __version__
from anomsearch._io import atomic_path
from anomsearch.provenance import array_checksum

__all__ = ["CACHE_KEY_ENV", "UnitCache", "cache_key_path", "fingerprint"]

log = logging.getLogger(__name__)


def fingerprint(obj: Any) -> Any:
    """A JSON-ready, deterministic description of ``obj`` for cache keys.

    Arrays become their :func:`~anomsearch.provenance.array_checksum`; dataclasses (methods,
    :class:`~anomsearch.data.events.EventTable`, :class:`~anomsearch.data.regions.Regions`) and
    named tuples become their class name and the fingerprints of their fields (all but those
    whose name starts with ``_``: a method's reference samples count, an EventTable's cache of
    derived features does not); mappings, sequences, sets, paths, enums and numbers map to their
    JSON equivalents.

    Raises:
        TypeError: an object with no deterministic description (e.g. a plain function).

    Examples:
        >>> fingerprint({"b": (1, 2.5), "a": np.float32(0.5)})
        {'a': 0.5, 'b': [1, 2.5]}
        >>> fingerprint(np.zeros(2)) == fingerprint(np.zeros(2))
        True
    """
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if isinstance(obj, np.generic):
        return fingerprint(obj.item())
    if isinstance(obj, np.ndarray):
        return {"__array__": array_checksum(obj)}
    if isinstance(obj, enum.Enum):
        return fingerprint(obj.value)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    cls = type(obj)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {
            f.name: fingerprint(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_")  # private caches, e.g. EventTable._cache
        }
        return {"__class__": name, **fields}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {"__class__": name, **{k: fingerprint(v) for k, v in obj._asdict().items()}}
    if isinstance(obj, Mapping):
        return {str(k): fingerprint(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [fingerprint(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((fingerprint(v) for v in obj), key=_canonical_json)
    raise TypeError(f"cannot fingerprint an object of type {name} for the unit cache")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


_MAGIC = b"anomsearch-unit-cache-v2\n"
_OLD_MAGIC = b"anomsearch-unit-cache-v1\n"
#: Environment variable holding the secret that signs cache entries (instead of the key file).
CACHE_KEY_ENV = "ANOMSEARCH_CACHE_KEY"


def cache_key_path() -> Path:
    """The per-user file holding the secret that signs cache entries:
    ``<user config dir>/anomsearch/cache.key`` (``$XDG_CONFIG_HOME`` or ``~/.config`` on Linux)."""
    try:
        import platformdirs  # optional; not a declared dependency
    except ImportError:
        xdg = os.environ.get("XDG_CONFIG_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
        return base / "anomsearch" / "cache.key"
    return Path(platformdirs.user_config_dir("anomsearch")) / "cache.key"


def _create_key_file(path: Path) -> None:
    """Write a new random secret to ``path`` (mode 0600), unless another process just did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces a key another process created meanwhile
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    log.info("created the unit-cache key %s", path)


def _load_secret() -> tuple[bytes | None, str]:
    """The signing secret and where it comes from (None and the reason when there is none)."""
    env = os.environ.get(CACHE_KEY_ENV)
    if env:
        return env.encode(), f"${CACHE_KEY_ENV}"
    path = cache_key_path()
    try:
        if not path.exists():
            _create_key_file(path)
        secret = path.read_bytes().strip()
    except OSError as exc:
        return None, f"cannot read or create the cache key {path} ({exc})"
    if len(secret) < 32:
        return None, f"the cache key {path} is too short (remove it to make a new one)"
    return secret, str(path)


class UnitCache:
    """Finished units of work on disk, keyed by a SHA-256 of their inputs.

    An entry ``<directory>/<kind>/<key>.pkl`` holds a header, the HMAC-SHA256 of the entry's key
    and payload (see the module doc for the secret), and the pickled ``(key, value)``; it is
    written atomically. :meth:`load` returns None for a missing entry, and for a refused one
    (signature, key or unpickling failure) after a warning, so that the unit is recomputed and
    the entry rewritten; the payload is unpickled only once its signature verified. With
    ``force=True`` nothing is loaded and every entry is recomputed and overwritten; with
    ``enabled=False`` nothing is read or written. Without a secret (the key file cannot be
    created) the cache is not used, with a warning.

    Args:
        directory: the cache directory (created on the first store).
        enabled: use the cache at all.
        force: ignore existing entries (recompute and overwrite).

    Examples:
        >>> import shutil, tempfile
        >>> cache = UnitCache(tempfile.mkdtemp())
        >>> key = cache.key("demo", window=(3.3, 3.7), seed=1)
        >>> cache.load(key) is None
        True
        >>> cache.store(key, {"z": 2.5})
        >>> cache.load(key, label="window 1/1")
        {'z': 2.5}
        >>> cache.key("demo", window=(3.3, 3.7), seed=2) == key
        False
        >>> shutil.rmtree(cache.directory)
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, enabled: bool = True, force: bool = False
    ) -> None:
        self.directory = Path(directory)
        self.enabled = bool(enabled)
        self.force = bool(force)
        self.hits = 0
        self.stores = 0
        self._secret: bytes | None = None
        self._secret_checked = False

    def _signing_secret(self) -> bytes | None:
        """The secret (read once; None, after one warning, when there is none)."""
        if not self._secret_checked:
            self._secret_checked = True
            self._secret, where = _load_secret()
            if self._secret is None:
                log.warning("unit cache %s not used: %s", self.directory, where)
        return self._secret

    def _signature(self, key: str, payload: bytes) -> bytes | None:
        secret = self._signing_secret()
        if secret is None:
            return None
        return hmac.new(secret, key.encode() + b"\n" + payload, "sha256").hexdigest().encode()

    def __repr__(self) -> str:
        return f"UnitCache({str(self.directory)!r}, enabled={self.enabled}, force={self.force})"

    def key(self, kind: str, /, **inputs: Any) -> str | None:
        """SHA-256 over ``kind``, the anomsearch version and the :func:`fingerprint` of ``inputs``.

        Returns None (and logs a warning: the unit is then not cached) when an input has no
        deterministic fingerprint, or when the cache is disabled.
        """
        if not self.enabled:
            return None
        try:
            described = fingerprint(inputs)
        except TypeError as exc:
            log.warning("%s not cached: %s", kind, exc)
            return None
        text = _canonical_json({"kind": kind, "anomsearch": __version__, "inputs": described})
        return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()}"

    def path(self, key: str) -> Path:
        """The file of an entry."""
        kind = key.rsplit("-", 1)[0]
        return self.directory / kind / f"{key}.pkl"

    def load(self, key: str | None, *, label: str | None = None) -> Any:
        """The stored value of ``key``, or None (missing, corrupt, forced, disabled, no key).

        Args:
            key: from :meth:`key`.
            label: what the unit is, for the INFO log line ``cached: <label>`` on a hit.
        """
        if key is None or not self.enabled or self.force:
            return None
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache entry %s unreadable (%s): recomputing", path, exc)
            return None
        try:
            if blob.startswith(_OLD_MAGIC):
                log.info("cache entry %s was written by an older anomsearch: recomputing", path)
                return None
            if not blob.startswith(_MAGIC):
                raise ValueError("not an anomsearch cache entry")
            signature, payload = blob[len(_MAGIC) :].split(b"\n", 1)
            expected = self._signature(key, payload)
            if expected is None:
                return None
            if not hmac.compare_digest(signature, expected):
                raise ValueError(
                    "signature mismatch: truncated, modified, stored under another key, or not "
                    "written with this user's cache key; not unpickled"
                )
            stored_key, value = pickle.loads(payload)
            if stored_key != key:
                raise ValueError(f"holds {stored_key!r}")
        except Exception as exc:  # unpickling can raise almost anything
            log.warning("corrupt cache entry %s (%s): recomputing", path, exc)
            return None
        self.hits += 1
        with contextlib.suppress(OSError):  # mark as recently used, for pruning by age / size
            os.utime(path)
        log.info("cached: %s", label if label is not None else key)
        return value

    def store(self, key: str | None, value: Any) -> None:
        """Write ``value`` under ``key`` atomically (a no-op without key or when disabled).

        A value that cannot be pickled, or an entry that cannot be written (a full disk, no
        permission), is not cached (with a warning); the run goes on.
        """
        if key is None or not self.enabled:
            return
        if value is None:
            raise ValueError("UnitCache cannot store None (None means 'not cached')")
        try:
            payload = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            log.warning("%s not cached: the result cannot be pickled (%s)", key, exc)
            return
        signature = self._signature(key, payload)
        if signature is None:
            return
        try:
            with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as fh:
                fh.write(_MAGIC + signature + b"\n" + payload)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # the cache only saves time: the run goes on without it
            log.warning("%s not cached: cannot write %s (%s)", key, self.path(key), exc)
            return
        self.stores += 1
