"""The local download cache: content-addressed blobs, refs pointing at them, a lock per blob.

Layout under the cache root (``$TICKETBOOTH_CACHE``, else ``$XDG_CACHE_HOME/ticketbooth``, else
``~/.cache/ticketbooth``)::

    blobs/<sha256>.safetensors     the verified bytes, one file per content
    blobs/<sha256>.verified        size, mtime and inode of the blob when its sha256 was checked
    refs/<server>/id/<id>.json     the ticket's JSON (its sha256 names the blob)
    refs/<server>/name/<owner>/<name>.json   the same, by name
    tmp/<sha256>.part              a download in progress (resumed with Range after a cut)
    locks/<sha256>.lock            held while a process downloads that content

Blobs are placed by rename only once their sha256 matches, so a reader never sees a partial
file. A blob whose size, mtime or inode changed since it was verified is re-hashed before use,
and fetched again if it no longer matches.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

__all__ = ["Cache", "default_cache_dir"]

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def default_cache_dir() -> Path:
    """``$TICKETBOOTH_CACHE``, else ``$XDG_CACHE_HOME/ticketbooth``, else ``~/.cache/ticketbooth``."""
    if os.environ.get("TICKETBOOTH_CACHE"):
        return Path(os.environ["TICKETBOOTH_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "ticketbooth"


def _server_key(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", re.sub(r"^[a-z]+://", "", url.rstrip("/"))).strip("_") or "server"


def _safe(part: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", part)) and ".." not in part


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class Cache:
    """One cache root, for one server's refs. See the module docstring for the layout."""

    def __init__(self, root: "str | os.PathLike[str] | None", server: str) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.server = _server_key(server)

    # paths
    def blob(self, sha: str) -> Path:
        """Where the content with this sha256 lives once verified."""
        return self.root / "blobs" / f"{sha}.safetensors"

    def part(self, sha: str) -> Path:
        """The partial download of this content."""
        return self.root / "tmp" / f"{sha}.part"

    def _stamp(self, sha: str) -> Path:
        return self.root / "blobs" / f"{sha}.verified"

    def _ref_path(self, ref: str) -> Optional[Path]:
        base = self.root / "refs" / self.server
        if "/" in ref:
            owner, _, name = ref.partition("/")
            if not (_safe(owner) and _safe(name)):
                return None
            return base / "name" / owner / f"{name}.json"
        return base / "id" / f"{ref}.json" if _safe(ref) else None

    # refs
    def read_ref(self, ref: str) -> Optional[Dict[str, Any]]:
        """The cached ticket JSON for an id or ``owner/name``, if any."""
        path = self._ref_path(ref)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and re.fullmatch(r"[0-9a-f]{64}", str(data.get("sha256", ""))) else None

    def write_ref(self, ticket: Dict[str, Any]) -> None:
        """Records the ticket JSON under its id and its ``owner/name``."""
        body = json.dumps(ticket, sort_keys=True).encode()
        for ref in (ticket["id"], f"{ticket['owner']}/{ticket['name']}"):
            path = self._ref_path(ref)
            if path is not None:
                _write_atomic(path, body)

    # blobs
    def _stat_key(self, path: Path) -> Optional[List[int]]:
        try:
            st = path.stat()
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def valid_blob(self, sha: str, size: Optional[int] = None) -> Optional[Path]:
        """The blob's path if it is present and matches its sha256 (re-hashed when the file
        changed since it was verified); a blob that no longer matches is removed."""
        path = self.blob(sha)
        key = self._stat_key(path)
        if key is None:
            return None
        if size is not None and key[0] != size:
            self.discard(sha)
            return None
        try:
            stamp = json.loads(self._stamp(sha).read_text())
        except (OSError, ValueError):
            stamp = None
        if stamp == key:
            return path
        if sha256_file(path) != sha:
            self.discard(sha)
            return None
        self.mark_verified(sha)
        return path

    def mark_verified(self, sha: str) -> None:
        """Records the blob's stat as verified."""
        key = self._stat_key(self.blob(sha))
        if key is not None:
            _write_atomic(self._stamp(sha), json.dumps(key).encode())

    def discard(self, sha: str) -> None:
        """Removes a corrupt blob and its stamp."""
        for p in (self.blob(sha), self._stamp(sha)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def place(self, sha: str, part: Path) -> Path:
        """Moves a verified partial file into place (one rename) and stamps it verified.

        Not fsynced: this is a cache, and fsync cost 0.3-0.4 s per 256 MiB here (see
        BENCHMARKS.md). After a crash a blob whose bytes never reached the disk is short (on
        ext4's default data=ordered the size is committed only with the data), which the size
        check catches, and it is fetched again."""
        dest = self.blob(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        self.mark_verified(sha)
        return dest

    @contextlib.contextmanager
    def lock(self, sha: str) -> Iterator[None]:
        """An exclusive lock on one content, across processes (``flock`` on a lock file)."""
        path = self.root / "locks" / f"{sha}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
