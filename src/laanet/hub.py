"""Weights by path or by URL: ``http(s)://`` checkpoints are downloaded once into a local cache.

>>> from laanet.hub import resolve_weights
>>> resolve_weights("https://example.org/laanet_sbi.pt", sha256="9f2c…")   # → ~/.cache/laanet/weights/…/laanet_sbi.pt
>>> resolve_weights("laanet_sbi.pt")                                         # a local path is returned as is

The cache folder is ``$LAANET_CACHE``, else ``$XDG_CACHE_HOME/laanet``, else ``~/.cache/laanet``. Each URL gets
its own sub-folder (a hash of the URL), so two URLs with the same file name never collide. A download goes to a
temporary file in that folder and is renamed into place only once complete (and, with ``sha256``, verified), so
an interrupted download never leaves a file that looks finished. A cached file is reused as it is; with
``sha256`` it is re-hashed first and downloaded again when it does not match.

Only the standard library is used (``urllib``); nothing here imports torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["WeightsFetchError", "cache_dir", "file_sha256", "is_url", "resolve_weights"]

_log = logging.getLogger(__name__)
_CHUNK = 1 << 20
TIMEOUT_S = 60.0  # per blocking socket operation (connect, each read), not for the whole download


class WeightsFetchError(ValueError):
    """A weights URL that cannot be downloaded, or a file whose SHA-256 is not the expected one."""


def is_url(spec: str | os.PathLike) -> bool:
    """True for ``http://`` and ``https://`` strings (the only schemes laanet downloads)."""
    return isinstance(spec, str) and spec.lower().startswith(("http://", "https://"))


def cache_dir() -> Path:
    """laanet's cache root: ``$LAANET_CACHE``, else ``$XDG_CACHE_HOME/laanet``, else ``~/.cache/laanet``."""
    if os.environ.get("LAANET_CACHE"):
        return Path(os.environ["LAANET_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "laanet"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise WeightsFetchError(f"--sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return value


def cached_path(url: str) -> Path:
    """Where ``url`` is (or will be) cached: ``cache_dir()/weights/<16 hex of the URL's hash>/<file name>``."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "weights"
    return cache_dir() / "weights" / hashlib.sha256(url.encode()).hexdigest()[:16] / name


def _download(url: str, target: Path) -> str:
    """Download ``url`` to ``target`` atomically; returns the SHA-256 of what was written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "laanet"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, os.fdopen(fd, "wb") as out:
            expected = response.headers.get("Content-Length")
            written = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
            if expected is not None and expected.isdigit() and written != int(expected):
                raise WeightsFetchError(f"download of {url} stopped after {written} of {expected} bytes")
        os.replace(tmp, target)
    except urllib.error.HTTPError as err:
        raise WeightsFetchError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise WeightsFetchError(f"cannot download {url}: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)  # only left when something failed before the rename
    return digest.hexdigest()


def resolve_weights(spec: str | os.PathLike, *, sha256: str | None = None) -> Path:
    """A local weights file for ``spec`` (a path, or an http(s) URL downloaded once into :func:`cache_dir`).

    Args:
        spec: a local path, or an ``http://``/``https://`` URL.
        sha256: expected hex SHA-256 of the file. A download that does not match is deleted and refused; a local
            file that does not match is refused (and left alone).

    Raises:
        FileNotFoundError: a local path that does not exist.
        WeightsFetchError: a failed download or a SHA-256 mismatch.
    """
    expected = _normalise_sha256(sha256)
    if not is_url(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        if expected and (got := file_sha256(path)) != expected:
            raise WeightsFetchError(f"{path}: SHA-256 is {got}, expected {expected}")
        return path

    url = str(spec)
    target = cached_path(url)
    if target.is_file():
        if expected is None or file_sha256(target) == expected:
            _log.info("weights %s: cached at %s", url, target)
            return target
        _log.warning("cached %s does not match --sha256; downloading it again", target)
    _log.info("downloading %s to %s", url, target)
    try:
        got = _download(url, target)
    except OSError as err:  # the cache folder itself is not writable, the disk is full, ...
        raise WeightsFetchError(f"cannot store {url} in the cache {target.parent}: {err}") from None
    if expected and got != expected:
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # only when empty
        raise WeightsFetchError(f"{url}: SHA-256 of the download is {got}, expected {expected}; the file was removed")
    return target
