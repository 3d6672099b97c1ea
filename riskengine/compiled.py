"""Objects built from seed and rule files, kept on disk so the next process loads them in milliseconds.

Building the gazetteer and the road network means parsing and normalising thousands of names and
measuring every segment: a few hundred milliseconds that every command would pay before doing
anything; reading the rules means importing PyYAML and validating four files, and finding the
network's quickest routes means importing networkx. :func:`cached` keeps the built object as a
pickle in a per-user cache directory, under a key made of everything the object is built from (the
files' contents, the code that builds it, the versions of Python and of the libraries whose objects
it holds or that build it), so any change rebuilds it.

The cache may only ever make loading faster, never change what is loaded nor fail a load:

* a file that is corrupt, truncated, of another key or not ours is ignored (and rewritten);
* a cache directory that cannot be made or written just means no cache;
* a file is written to a temporary name and renamed into place, so a reader sees all or nothing;
* a build that logged a warning is not kept, so the warning is shown again next time.

The directory is ``$RISKENGINE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/riskengine``, else
``~/.cache/riskengine``. A pickle runs code when loaded, so a directory or file that another user
owns, or that others may write, is never read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TypeVar

from riskengine import __version__

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_DIR_VAR = "RISKENGINE_CACHE_DIR"
#: The first bytes of a cache file; a file that does not start with them is not one of ours.
MAGIC = b"riskengine-compiled-1\n"
#: Cache files kept per name (one per seeds variant in use); the least recently used go first.
KEEP_PER_NAME = 8
#: Names kept in greater number: the network's routes round each set of segments avoided (closed
#: stretches, with each answer's worst segment), small files, one per set.
KEEP_MORE = {"avoiding": 64}

_DIGEST_BYTES = hashlib.sha256().digest_size


def cache_dir() -> Path | None:
    """Where cache files go (see the module's docstring); None when no home directory is known."""
    explicit = os.environ.get(CACHE_DIR_VAR)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "riskengine"
    try:
        return Path.home() / ".cache" / "riskengine"
    except (RuntimeError, KeyError):  # no $HOME and no passwd entry
        return None


@cache
def package_version(distribution: str, module: str | None = None) -> str:
    """The installed version of a library, for keys, read from its metadata so that the library
    itself is not imported (a command that finds what it needs here need never import it); from
    ``module.__version__`` (``module`` defaults to ``distribution``) when there is no metadata."""
    from importlib import import_module, metadata  # noqa: PLC0415

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        return str(import_module(module or distribution).__version__)


def fingerprint(parts: Iterable[object]) -> str:
    """A hex digest of ``parts``: a Path counts by its contents, anything else by its str.

    A file that is missing or cannot be read counts as such (its builder will fail and nothing is
    kept). Every part is length-prefixed, so no two different lists of parts give the same bytes.
    """
    digest = hashlib.sha256(f"{__version__}\0{sys.version}\0{pickle.HIGHEST_PROTOCOL}".encode())
    for part in parts:
        if isinstance(part, Path):
            try:
                data = b"F" + part.read_bytes()
            except OSError as exc:
                data = b"-" + type(exc).__name__.encode()
        else:
            data = b"S" + str(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def cached(name: str, key_parts: Iterable[object], build: Callable[[], T]) -> T:
    """Return what ``build()`` returns, from the cache when a file of the same key is there.

    ``key_parts`` are everything the object depends on (see :func:`fingerprint`): seed files as
    Paths, and strings such as code digests or library versions. An error of ``build`` propagates
    (nothing is kept); an error of the cache itself is never raised.
    """
    key_parts = list(key_parts)
    path, key = _place(name, key_parts)
    if path is not None:
        found = _read(path, key)
        if found is not None:
            return found[0]
    with _WarningCounter(logging.getLogger("riskengine")) as warnings:
        value = build()
    # a seed file edited during the build may have been read half old, half new: keep nothing then
    if path is not None and not warnings.count and fingerprint(key_parts) == key:
        _write(path, key, value)
        _prune(path.parent, name)
    return value


def load(name: str, key_parts: Iterable[object]) -> tuple[object] | None:
    """What :func:`keep` kept under ``name`` and this key, as a 1-tuple; None when nothing usable is
    there (for what grows as it is used, rather than being built at once as :func:`cached` builds)."""
    path, key = _place(name, key_parts)
    return _read(path, key) if path is not None else None


def keep(name: str, key_parts: Iterable[object], value: object) -> None:
    """Keep ``value`` under ``name`` and this key for :func:`load` (never raises)."""
    path, key = _place(name, key_parts)
    if path is not None:
        _write(path, key, value)
        _prune(path.parent, name)


def _place(name: str, key_parts: Iterable[object]) -> tuple[Path | None, str]:
    """The file an object of ``name`` and these key parts is kept in (None: no usable cache), and its key."""
    key = fingerprint(key_parts)
    directory = _usable_dir(cache_dir())
    return (directory / f"{name}-{key[:32]}.pickle" if directory else None), key


def _usable_dir(directory: Path | None) -> Path | None:
    """``directory``, made if need be, when it is ours and only ours to write; else None."""
    if directory is None:
        return None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory if _only_ours(directory.stat()) else None
    except OSError:
        return None


def _only_ours(st: os.stat_result) -> bool:
    """Whether a file or directory belongs to this user and no one else may write it."""
    if not hasattr(os, "getuid"):  # Windows: no owners to check in this sense
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _read(path: Path, key: str) -> tuple[object] | None:
    """The object kept in ``path`` under ``key``, as a 1-tuple; None when absent or unusable."""
    try:
        with open(path, "rb") as fh:
            if not _only_ours(os.fstat(fh.fileno())):
                return None
            data = fh.read()
    except OSError:
        return None
    head = len(MAGIC) + 2 * _DIGEST_BYTES
    if len(data) < head or not data.startswith(MAGIC):
        return None
    stored_key = data[len(MAGIC):len(MAGIC) + _DIGEST_BYTES]
    checksum = data[len(MAGIC) + _DIGEST_BYTES:head]
    payload = memoryview(data)[head:]
    if stored_key != bytes.fromhex(key) or hashlib.sha256(payload).digest() != checksum:
        log.debug("%s: stale or damaged compiled cache file, rebuilding", path)
        return None
    try:
        value = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - a cache file that does not load is only a cache miss
        log.debug("%s: compiled cache file does not load, rebuilding", path, exc_info=True)
        return None
    try:
        os.utime(path)  # recently used: kept by _prune
    except OSError:
        pass
    return (value,)


def _write(path: Path, key: str, value: object) -> None:
    """Keep ``value`` in ``path`` atomically: readers see the old file or the whole new one."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an object that cannot be pickled is simply not cached
        log.debug("%s: cannot pickle the compiled object", path, exc_info=True)
        return
    data = MAGIC + bytes.fromhex(key) + hashlib.sha256(payload).digest() + payload
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        log.debug("%s: cannot write the compiled cache file", path, exc_info=True)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(directory: Path, name: str) -> None:
    """Drop all but the ``KEEP_PER_NAME`` (or ``KEEP_MORE``) most recently used files of ``name``
    (old seeds' leftovers)."""
    try:
        files = sorted(directory.glob(f"{name}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP_MORE.get(name, KEEP_PER_NAME):]:
            old.unlink()
    except OSError:
        pass


class _WarningCounter(logging.Handler):
    """Counts the warnings (and worse) logged under a logger while a ``with`` block runs."""

    def __init__(self, logger: logging.Logger):
        super().__init__(logging.WARNING)
        self.logger = logger
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    def __enter__(self) -> _WarningCounter:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
