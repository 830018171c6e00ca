"""Weights by path or by URL: ``http(s)://`` checkpoints are downloaded once into a local cache.

>>> from laanet.hub import resolve_weights
>>> resolve_weights("https://example.org/laanet_sbi.pt", sha256="9f2c…")   # → ~/.cache/laanet/weights/…/laanet_sbi.pt
>>> resolve_weights("laanet_sbi.pt")                                         # a local path is returned as is

The cache folder is ``$LAANET_CACHE``, else ``$XDG_CACHE_HOME/laanet``, else ``~/.cache/laanet``. Each URL gets
its own sub-folder (a hash of the URL), so two URLs with the same file name never collide. A download goes to a
temporary file in that folder and is renamed into place only once complete (and, with ``sha256``, verified), so
an interrupted download never leaves a file that looks finished. A cached file is reused as it is; with
``sha256`` it is re-hashed first and downloaded again when it does not match.

``hf://OWNER/REPO/FILE[@REVISION]`` (also huggingface_hub's own form ``hf://OWNER/REPO@REVISION/FILE``)
downloads ``FILE`` of the Hugging Face model repository ``OWNER/REPO`` with ``huggingface_hub.hf_hub_download``
into the standard Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``), shared with every other huggingface_hub user. With ``HF_HUB_OFFLINE=1`` only that
cache is read, and a file that is not there fails with one line that names the file, the cache and how to fill
it. ``REVISION`` is a branch, a tag or a commit hash (default ``main``).

>>> resolve_weights("hf://10Ring/FakeFormer/FILE.pth")          # → ~/.cache/huggingface/hub/models--10Ring--FakeFormer/snapshots/…/FILE.pth
>>> resolve_weights("hf://OWNER/REPO/sub/dir/w.pt@v1.0")        # a file in a folder, at the tag v1.0

http(s) downloads use only the standard library (``urllib``); nothing here imports torch.
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
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HubFile", "WeightsFetchError", "cache_dir", "file_sha256", "hub_cache_dir", "is_hf", "is_url", "parse_hf",
    "resolve_weights",
]

_log = logging.getLogger(__name__)
_CHUNK = 1 << 20
TIMEOUT_S = 60.0  # per blocking socket operation (connect, each read), not for the whole download


class WeightsFetchError(ValueError):
    """A weights URL that cannot be downloaded, or a file whose SHA-256 is not the expected one."""


def is_url(spec: str | os.PathLike) -> bool:
    """True for ``http://`` and ``https://`` strings (the only schemes laanet downloads)."""
    return isinstance(spec, str) and spec.lower().startswith(("http://", "https://"))


def is_hf(spec: str | os.PathLike) -> bool:
    """True for ``hf://`` strings (files of a Hugging Face Hub repository)."""
    return isinstance(spec, str) and spec.startswith("hf://")


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face Hub repository, as named by an ``hf://`` weights string."""

    repo_id: str  # "OWNER/REPO"
    filename: str  # path inside the repository, "/"-separated
    revision: str | None = None  # branch, tag or commit hash; None = the repository's default branch ("main")
    repo_type: str = "model"

    def __str__(self) -> str:
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return f"hf://{kind}{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


def parse_hf(spec: str) -> HubFile:
    """Parse ``hf://OWNER/REPO/FILE[@REVISION]`` (or huggingface_hub's ``hf://[TYPE/]OWNER/REPO[@REVISION]/FILE``).

    A trailing ``@REVISION`` after the file is laanet's form; ``@`` right after the repository is huggingface_hub's
    own (``huggingface_hub.parse_hf_uri``). Buckets and paths without a file are refused.

    Raises:
        WeightsFetchError: a malformed string (one line, with the expected form).
    """
    from huggingface_hub import parse_hf_uri
    from huggingface_hub.errors import HfUriError

    form = "expected hf://OWNER/REPO/FILE[@REVISION], e.g. hf://10Ring/FakeFormer/FILE.pth"
    body, revision = spec, None
    head, _, last = spec.rpartition("/")
    if "@" in last and head.count("/") >= 3:  # hf://OWNER/REPO/[DIR/]FILE@REV: laanet's form
        name, _, revision = last.rpartition("@")
        body = f"{head}/{name}"
        if not name or not revision:
            raise WeightsFetchError(f"{spec}: empty file name or revision; {form}")
    try:
        uri = parse_hf_uri(body)
    except HfUriError as err:
        raise WeightsFetchError(f"{spec}: {str(err).splitlines()[0]}; {form}") from None
    if uri.is_bucket:
        raise WeightsFetchError(f"{spec}: buckets are not supported; {form}")
    if revision is not None and uri.revision is not None:
        raise WeightsFetchError(f"{spec}: two revisions given; {form}")
    if not uri.path_in_repo or uri.path_in_repo.endswith("/"):
        raise WeightsFetchError(f"{spec}: no file named in the repository; {form}")
    return HubFile(uri.id, uri.path_in_repo, revision or uri.revision, uri.type)


def hub_offline() -> bool:
    """Whether huggingface_hub is in offline mode (``HF_HUB_OFFLINE=1``, read when huggingface_hub was imported
    or now)."""
    from huggingface_hub import constants

    now = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return bool(constants.HF_HUB_OFFLINE) or now


def hub_cache_dir() -> Path:
    """The Hugging Face cache ``hf://`` files go to (huggingface_hub's ``HF_HUB_CACHE``: ``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def _fill_hint(ref: HubFile) -> str:
    rev = f" --revision {ref.revision}" if ref.revision else ""
    kind = "" if ref.repo_type == "model" else f" --repo-type {ref.repo_type}"
    return f"`hf download {ref.repo_id} {ref.filename}{rev}{kind}`"


def _resolve_hf(spec: str) -> Path:
    """Download (or find in the cache) the file named by an ``hf://`` string; one-line errors."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf_errors

    ref = parse_hf(spec)
    cache = hub_cache_dir()
    offline = hub_offline()
    try:
        path = hf_hub_download(
            ref.repo_id, ref.filename, revision=ref.revision, repo_type=ref.repo_type, cache_dir=cache,
            local_files_only=offline, library_name="laanet",
        )
    except hf_errors.LocalEntryNotFoundError:
        hint = _fill_hint(ref)
        if offline:
            raise WeightsFetchError(
                f"{ref}: not in the Hugging Face cache {cache} and HF_HUB_OFFLINE is set: fill the cache once with "
                f"{hint} on a machine with internet access (with the same HF_HOME/HF_HUB_CACHE, or copy the cache), "
                "or unset HF_HUB_OFFLINE"
            ) from None
        raise WeightsFetchError(
            f"{ref}: the Hugging Face Hub cannot be reached and the file is not in the cache {cache}: check the "
            f"connection (or proxy), or fill the cache with {hint} where the Hub can be reached"
        ) from None
    except hf_errors.GatedRepoError:
        raise WeightsFetchError(f"{ref}: the repository is gated: accept its terms on the Hub and log in (`hf auth login`)") from None
    except hf_errors.RepositoryNotFoundError:
        raise WeightsFetchError(f"{ref}: no such repository {ref.repo_id!r} on the Hub (or it is private: log in with `hf auth login`)") from None
    except hf_errors.RevisionNotFoundError:
        raise WeightsFetchError(f"{ref}: no revision {ref.revision!r} in {ref.repo_id}") from None
    except hf_errors.EntryNotFoundError:
        raise WeightsFetchError(f"{ref}: no file {ref.filename!r} in {ref.repo_id} at {ref.revision or 'main'}") from None
    except hf_errors.HfHubHTTPError as err:
        raise WeightsFetchError(f"{ref}: download failed: {str(err).splitlines()[0]}") from None
    except (OSError, ValueError) as err:  # a cache folder that cannot be written, a full disk, a bad file name
        raise WeightsFetchError(f"{ref}: cannot fetch it into the Hugging Face cache {cache}: {err}") from None
    _log.info("weights %s: %s", ref, path)
    return Path(path)


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
    """A local weights file for ``spec``: a path; an http(s) URL downloaded once into :func:`cache_dir`; or an
    ``hf://OWNER/REPO/FILE[@REVISION]`` file fetched into the Hugging Face cache (:func:`hub_cache_dir`).

    Args:
        spec: a local path, an ``http://``/``https://`` URL or an ``hf://`` file.
        sha256: expected hex SHA-256 of the file. A URL download that does not match is deleted and refused; a
            local file or a Hugging Face cache file that does not match is refused (and left alone: the cache
            holds what the Hub serves at that revision; pin one with ``@REVISION``).

    Raises:
        FileNotFoundError: a local path that does not exist.
        WeightsFetchError: a failed download or a SHA-256 mismatch.
    """
    expected = _normalise_sha256(sha256)
    if is_hf(spec):
        path = _resolve_hf(str(spec))
        if expected and (got := file_sha256(path)) != expected:
            raise WeightsFetchError(f"{spec}: SHA-256 is {got}, expected {expected} (pin the file with @REVISION)")
        return path
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
