"""The :class:`Client`: publish, find, download and load tickets from a ticketbooth registry."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import requests

from . import checks
from .cache import Cache
from .errors import IntegrityError, Invalid, NotCached, ServerError, TicketboothError, Unauthorized, from_response
from .info import Evidence, Lineage, Result, TicketInfo, TransferCell

__all__ = ["Client", "config_path", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8080"
Ref = Union[str, TicketInfo]
_CHUNK = 1 << 20
# Reads from the network: a cut loses at most one of these (what was read before it is kept).
_READ_CHUNK = 64 << 10
_SEARCH_FILTERS = {"task", "dataset", "architecture", "pruning_method", "owner", "tag", "parent_id",
                   "min_sparsity", "max_sparsity", "min_accuracy", "max_accuracy", "q", "include_yanked",
                   "sort", "order", "verdict", "min_reproductions", "reproduced_by_others",
                   "fingerprint", "structure"}
_FRACTION_FILTERS = {"min_sparsity", "max_sparsity", "min_accuracy", "max_accuracy"}


def config_path() -> Optional[Path]:
    """The file ``ticketbooth login`` writes: ``$XDG_CONFIG_HOME/ticketbooth/config.json``, else
    ``~/.config/ticketbooth/config.json`` (JSON ``{"server": ..., "token": ...}``)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        base = Path(xdg)
    elif os.environ.get("HOME"):
        base = Path(os.environ["HOME"]) / ".config"
    else:
        return None
    return base / "ticketbooth" / "config.json"


def _saved_login() -> Dict[str, Optional[str]]:
    path = config_path()
    try:
        data = json.loads(path.read_bytes()) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _progress(total: Optional[int], desc: str, initial: int = 0) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                # None: shown on a terminal only, so logs get no frozen bar lines.
                disable=True if _truthy("TICKETBOOTH_DISABLE_PROGRESS_BARS") else None, leave=False)


class _MultipartBody:
    """A multipart/form-data body (a ``metadata`` JSON part, then the ``file`` part) read from the
    file in chunks as it is sent: the file is never held in memory. Has a length, so the request
    carries ``Content-Length``."""

    def __init__(self, metadata: Mapping[str, Any], path: Path, filename: str, bar: Any) -> None:
        self.boundary = "ticketbooth-" + uuid.uuid4().hex
        b = self.boundary.encode()
        safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        self._head = (b"--" + b + b'\r\nContent-Disposition: form-data; name="metadata"\r\n'
                      b"Content-Type: application/json\r\n\r\n" + json.dumps(metadata).encode() + b"\r\n"
                      b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="'
                      + safe_name.encode() + b'"\r\nContent-Type: application/octet-stream\r\n\r\n')
        self._tail = b"\r\n--" + b + b"--\r\n"
        self._size = path.stat().st_size
        self._file = open(path, "rb")
        self._stage = 0
        self._buf = self._head
        self._bar = bar

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n is None or n < 0 else n
        while True:
            if self._buf:
                out, self._buf = self._buf[:n], self._buf[n:]
                return out
            if self._stage == 0:
                data = self._file.read(n)
                if data:
                    self._bar.update(len(data))
                    return data
                self._stage, self._buf = 1, self._tail
            else:
                return b""

    def close(self) -> None:
        self._file.close()


class Client:
    """A client of one ticketbooth registry.

    Args:
        url: the registry, e.g. ``http://127.0.0.1:8080``. Defaults to ``$TICKETBOOTH_URL``, then
            the server saved by ``ticketbooth login``, then ``http://127.0.0.1:8080``.
        token: a token (``tb_...``) for writes. Defaults to ``$TICKETBOOTH_TOKEN``, then the token
            saved by ``ticketbooth login`` when ``url`` is the server it was saved with. Reads
            need none.
        cache_dir: the download cache (default ``$TICKETBOOTH_CACHE``, else
            ``$XDG_CACHE_HOME/ticketbooth``, else ``~/.cache/ticketbooth``).
        offline: answer from the cache without touching the network (default
            ``$TICKETBOOTH_OFFLINE``); uncached tickets raise :class:`NotCached`.
        timeout: seconds to wait for the server to answer (connect and between bytes).
        session: a ``requests.Session`` to use (hooks, proxies, retries).

    Every failure raises a :class:`TicketboothError` subclass carrying the server's ``code``,
    ``message``, ``field`` and HTTP ``status``.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 cache_dir: "str | os.PathLike[str] | None" = None, offline: Optional[bool] = None,
                 timeout: float = 60.0, session: Optional[requests.Session] = None) -> None:
        saved = _saved_login()
        saved_server = (saved.get("server") or "").rstrip("/") or None
        self.url = (url or os.environ.get("TICKETBOOTH_URL") or saved_server or DEFAULT_URL).rstrip("/")
        # The saved token goes only to the server it was saved for, never to another one.
        saved_token = saved.get("token") if saved_server == self.url else None
        self.token = token or os.environ.get("TICKETBOOTH_TOKEN") or saved_token or None
        self.cache_dir = cache_dir
        self._offline = offline
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "ticketbooth-python/0.1")

    def __repr__(self) -> str:
        return f"Client(url={self.url!r}, token={'set' if self.token else None})"

    @property
    def offline(self) -> bool:
        """Whether requests are refused and answers come from the cache alone."""
        return self._offline if self._offline is not None else _truthy("TICKETBOOTH_OFFLINE")

    # ---- plumbing -------------------------------------------------------------------------
    def _cache(self, cache_dir: "str | os.PathLike[str] | None" = None) -> Cache:
        return Cache(cache_dir if cache_dir is not None else self.cache_dir, self.url)

    def _request(self, method: str, path: str, *, auth: bool = False, ok: Tuple[int, ...] = (200,),
                 **kw: Any) -> requests.Response:
        if self.offline:
            raise NotCached(f"offline (TICKETBOOTH_OFFLINE is set): {method} {path} needs the network",
                            code="offline")
        headers = kw.pop("headers", {}) or {}
        if auth or self.token:
            if not self.token and auth:
                raise Unauthorized("no token: pass token=, set TICKETBOOTH_TOKEN, or run `ticketbooth login`",
                                   code="unauthorized")
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
        kw.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, self.url + path, headers=headers, **kw)
        except requests.ConnectionError as e:
            raise ServerError(f"cannot reach {self.url}: {e}", code="connection") from e
        except requests.Timeout as e:
            raise ServerError(f"{self.url} did not answer in {self.timeout} s", code="timeout") from e
        if resp.status_code not in ok:
            err = from_response(resp)
            resp.close()
            raise err
        return resp

    def _resolve(self, ref: Ref) -> str:
        """A ticket id for an id, ``owner/name`` or :class:`TicketInfo`."""
        if isinstance(ref, TicketInfo):
            return ref.id
        if not isinstance(ref, str) or not ref:
            raise Invalid(f"a ticket reference is an id or 'owner/name'; got {ref!r}", code="bad_request")
        return self.get(ref).id if "/" in ref else ref

    @staticmethod
    def _path_of(ref: str) -> str:
        from urllib.parse import quote

        if "/" in ref:
            owner, _, name = ref.partition("/")
            return f"/api/v1/owners/{quote(owner, safe='')}/tickets/{quote(name, safe='')}"
        return f"/api/v1/tickets/{quote(ref, safe='')}"

    # ---- find -----------------------------------------------------------------------------
    def get(self, ref: Ref) -> TicketInfo:
        """The ticket with this id or ``owner/name`` (or the same :class:`TicketInfo`, refreshed),
        with its per-tensor table. Offline, answers from the cache."""
        key = ref.id if isinstance(ref, TicketInfo) else ref
        if self.offline:
            cached = self._cache().read_ref(key)
            if cached is None:
                raise NotCached(f"ticket {key} is not in the cache at {self._cache().root} and "
                                "TICKETBOOTH_OFFLINE is set", code="not_cached")
            return TicketInfo.from_json(cached)
        return TicketInfo.from_json(self._request("GET", self._path_of(key)).json())

    def search(self, *, limit: Optional[int] = None, page_size: Optional[int] = None,
               **filters: Any) -> Iterator[TicketInfo]:
        """Tickets matching every filter, following the API's cursors lazily.

        Filters are the API's: ``task``, ``dataset``, ``architecture``, ``pruning_method``,
        ``owner``, ``tag`` (a string or a list: all must match), ``parent_id``,
        ``min_sparsity``/``max_sparsity``/``min_accuracy``/``max_accuracy`` (fractions in
        [0, 1], checked before any request), ``q`` (free text), ``include_yanked``, ``verdict``
        (``wins``, ...), ``min_reproductions``, ``reproduced_by_others``, ``fingerprint``,
        ``structure`` (``2:4`` also matches ``1:4``), ``sort`` (``created``,
        ``accuracy``, ``sparsity``, ``downloads``, ``reproductions``) and ``order`` (``desc``,
        ``asc``). ``limit`` caps how many tickets are yielded in all; ``page_size`` is the
        API's page ``limit`` (1-100; default 100, or ``limit`` when smaller). A page is
        requested only when the previous one is used up. Items omit ``tensors``.
        """
        params: List[Tuple[str, str]] = []
        for key, value in filters.items():
            if value is None:
                continue
            if key not in _SEARCH_FILTERS:
                raise Invalid(f"unknown parameter{checks.did_you_mean(key, sorted(_SEARCH_FILTERS))}",
                              code="invalid_parameter", field=key)
            if key in _FRACTION_FILTERS:
                try:
                    checks.check_fraction(float(value))
                except ValueError as e:
                    raise Invalid(str(e), code="invalid_parameter", field=key) from None
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                params.append((key, ("true" if v else "false") if isinstance(v, bool) else str(v)))
        if limit is not None and limit <= 0:
            return
        if page_size is None:
            page_size = min(100, limit) if limit is not None else 100
        if not 1 <= page_size <= 100:
            raise Invalid("must be between 1 and 100", code="invalid_parameter", field="page_size")
        yielded = 0
        cursor: Optional[str] = None
        while True:
            query = params + [("limit", str(page_size))] + ([("cursor", cursor)] if cursor else [])
            page = self._request("GET", "/api/v1/tickets", params=query).json()
            for item in page.get("items", []):
                yield TicketInfo.from_json(item)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor or not page.get("items"):
                return

    def frontier(self, task: str, dataset: Optional[str] = None, architecture: Optional[str] = None,
                 metric: Optional[str] = None, accuracy: Optional[str] = None) -> List[TicketInfo]:
        """The task's Pareto frontier (no other ticket is both sparser and more accurate), by
        ascending sparsity, optionally narrowed to one dataset and architecture. ``accuracy``:
        ``reported`` (the uploaded accuracy, the server's default) or ``reproduced`` (the mean of
        the ticket's accuracy and its reproductions)."""
        params = {k: v for k, v in dict(task=task, dataset=dataset, architecture=architecture,
                                        metric=metric, accuracy=accuracy).items() if v is not None}
        return [TicketInfo.from_json(t) for t in self._request("GET", "/api/v1/frontier", params=params).json()["items"]]

    def transfer(self, task: str, architecture: str, metric: Optional[str] = None) -> List[TransferCell]:
        """The transfer matrix of a task and architecture: for every (dataset tickets were found
        on, dataset a ``transfer`` result trained them on), a :class:`TransferCell`, ordered by
        source then target. ``metric`` defaults to the server's default metric (``top1_accuracy``)."""
        params = {k: v for k, v in dict(task=task, architecture=architecture, metric=metric).items() if v is not None}
        cells = self._request("GET", "/api/v1/transfer", params=params).json().get("cells", [])
        return [TransferCell.from_json(c) for c in cells]

    def lineage(self, ref: Ref) -> Lineage:
        """The ticket's ancestors (nearest first) and children, each with ``same_owner``."""
        tid = self._resolve(ref)
        return Lineage.from_json(self._request("GET", f"/api/v1/tickets/{tid}/lineage").json())

    # ---- publish --------------------------------------------------------------------------
    def publish(self, source: Any, *, name: Optional[str] = None, task: Optional[str] = None,
                dataset: Optional[str] = None, architecture: Optional[str] = None,
                pruning_method: Optional[str] = None, accuracy: Optional[float] = None,
                parent: Optional[Ref] = None, **metadata: Any) -> TicketInfo:
        """Uploads a ticket and returns it as the server measured it.

        Args:
            source: a path to a safetensors file; a dict of tensors (numpy arrays or torch
                tensors); or a pruned ``torch.nn.Module`` (its ``state_dict`` in the
                ``torch.nn.utils.prune`` layout, ``P_orig`` + ``P_mask``, written with
                safetensors; tensors that share memory are copied apart).
            name, task, dataset, architecture, pruning_method, accuracy: the required fields;
                any left out may come from the file's ``__metadata__``, as with the API.
                ``accuracy`` is a fraction in [0, 1].
            parent: the ticket one round earlier: an id, ``owner/name`` or a :class:`TicketInfo`.
            **metadata: the optional fields: ``dense_accuracy``, ``metric``, ``description``,
                ``tags`` (a list), ``hyperparameters`` (a dict), ``paper_url``, ``code_url``,
                ``license``, and ``results``: a list of result dicts (as the keyword arguments
                of :meth:`add_result`, ``kind`` and ``accuracy`` required), stored with the
                ticket in the same transaction; a bad one refuses the upload.

        Before a byte is sent, the header and the metadata are checked as the server would
        (raising :class:`Invalid` with the server's message, e.g. ``accuracy=93.4`` gets "did you
        mean 0.934?"). The file streams from disk with a progress bar.
        """
        meta: Dict[str, Any] = {k: v for k, v in dict(name=name, task=task, dataset=dataset,
                                                      architecture=architecture, pruning_method=pruning_method,
                                                      accuracy=accuracy).items() if v is not None}
        for key, value in metadata.items():
            if value is not None:
                meta[key] = value
        if parent is not None:
            if not self.offline and isinstance(parent, str) and "/" in parent:
                meta["parent_id"] = self._resolve(parent)
            else:
                meta["parent_id"] = parent.id if isinstance(parent, TicketInfo) else parent
        if isinstance(meta.get("tags"), str):
            meta["tags"] = [t.strip() for t in meta["tags"].split(",") if t.strip()]
        with _as_file(source) as (path, filename):
            header, n = checks.read_header(path)
            checks.check_header(header, n, path.stat().st_size)
            checks.check_metadata(meta, header.get("__metadata__") or {})
            if not self.token:
                raise Unauthorized("publishing needs a token: pass token=, set TICKETBOOTH_TOKEN, or run "
                                   "`ticketbooth login`", code="unauthorized")
            bar = _progress(path.stat().st_size, f"upload {meta.get('name') or filename}")
            body = _MultipartBody(meta, path, filename, bar)
            try:
                resp = self._request("POST", "/api/v1/tickets", auth=True, ok=(201,), data=body,
                                     headers={"Content-Type": body.content_type},
                                     timeout=(self.timeout, max(self.timeout, 600)))
            finally:
                body.close()
                bar.close()
        return TicketInfo.from_json(resp.json())

    # ---- results: does the ticket win? -----------------------------------------------------
    def add_result(self, ref: Ref, *, kind: str, accuracy: float, metric: Optional[str] = None,
                   seed: Optional[int] = None, dataset: Optional[str] = None, scope: Optional[str] = None,
                   steps: Optional[int] = None, framework: Optional[str] = None, hardware: Optional[str] = None,
                   code_url: Optional[str] = None, notes: Optional[str] = None) -> Result:
        """Reports one training run against a ticket (needs a token with the ``results`` scope).

        Args:
            ref: the ticket: an id, ``owner/name`` or a :class:`TicketInfo`.
            kind: what was trained: ``reproduction`` (this ticket, same mask and weights),
                ``random_reinit`` (the same mask from a fresh random init), ``random_prune`` (a
                random mask at the same sparsity; say ``scope``), ``dense`` (the unpruned
                network) or ``transfer`` (this ticket on another ``dataset``).
            accuracy: the run's accuracy, a fraction in [0, 1].
            metric: defaults to the ticket's metric.
            seed, steps: integers in [0, 2**53).
            dataset: required for ``transfer`` (and not the ticket's); for any other kind, if
                given, the ticket's own.
            scope: ``layerwise`` or ``global``, for ``random_prune`` only.
            framework, hardware: short strings; code_url: an http(s) URL; notes: free text.

        Returns the stored :class:`Result`, its ``evidence`` the ticket's :class:`Evidence` after
        it. A second result with the same (you, ticket, kind, dataset, seed) raises
        :class:`Conflict`; a refused field :class:`Invalid` naming it.
        """
        body: Dict[str, Any] = {"kind": kind, "accuracy": accuracy}
        for key, value in dict(metric=metric, seed=seed, dataset=dataset, scope=scope, steps=steps,
                               framework=framework, hardware=hardware, code_url=code_url, notes=notes).items():
            if value is not None:
                body[key] = value
        tid = self._resolve(ref)
        resp = self._request("POST", f"/api/v1/tickets/{_quote(tid)}/results", auth=True, ok=(201,), json=body)
        data = resp.json()
        return Result.from_json(data["result"], data.get("evidence"))

    def results(self, ref: Ref) -> List[Result]:
        """Every result reported against the ticket, oldest first."""
        tid = self._resolve(ref)
        items = self._request("GET", f"/api/v1/tickets/{_quote(tid)}/results").json().get("items", [])
        return [Result.from_json(r) for r in items]

    def delete_result(self, rid: "str | Result") -> Evidence:
        """Deletes one of your results (by id, or the :class:`Result`); returns the ticket's
        :class:`Evidence` after it. Someone else's result raises :class:`Forbidden`."""
        rid = rid.id if isinstance(rid, Result) else rid
        if not isinstance(rid, str) or not rid:
            raise Invalid(f"a result id is a string; got {rid!r}", code="bad_request")
        data = self._request("DELETE", f"/api/v1/results/{_quote(rid)}", auth=True).json()
        return Evidence.from_json(data.get("evidence") or {})

    # ---- download -------------------------------------------------------------------------
    def download(self, ref: Ref, cache_dir: "str | os.PathLike[str] | None" = None, *,
                 part: Optional[str] = None, tensors: Optional[Union[str, List[str]]] = None,
                 packed: bool = False) -> Path:
        """The path of the ticket's file in the local cache, downloading it if needed.

        With ``part="masks"`` (every ``*_mask`` tensor) or ``part="weights"`` (every other one),
        ``tensors=["a", "b"]`` (those tensors), or ``packed=True`` (each mask as bits and each
        masked weight as its kept values: read it with :func:`ticketbooth.unpack`), the server
        makes a smaller safetensors file from the stored one; it is cached by its ETag, resumed
        with ``Range`` after a cut, and checked by its length and its source's sha256. At most
        one of the three.

        A ticket already cached (by id or ``owner/name``) is answered with no request at all:
        its bytes never change. Otherwise the file is fetched to a temporary file (resumed with
        ``Range`` after a cut, up to 5 attempts), its sha256 checked, and only then moved into
        place; concurrent processes wait on a lock and reuse the result. A cached file that was
        changed since it was verified is re-hashed, and fetched again if corrupt. With
        ``TICKETBOOTH_OFFLINE=1`` only the cache answers, and an uncached ticket raises
        :class:`NotCached`.
        """
        if part is not None or tensors is not None or packed:
            return self._fetch_generated(ref, cache_dir, part, tensors, packed)
        return self._fetch(ref, cache_dir)[0]

    def _fetch_generated(self, ref: Ref, cache_dir: "str | os.PathLike[str] | None", part: Optional[str],
                         tensors: Optional[Union[str, List[str]]], packed: bool) -> Path:
        if sum(x is not None and x is not False for x in (part, tensors, packed or None)) > 1:
            raise Invalid("ask for one of part=, tensors= and packed=True", code="bad_request", field="part")
        if isinstance(tensors, (list, tuple)):
            tensors = ",".join(tensors)
        params = {"part": part} if part is not None else {"tensors": tensors} if tensors is not None else {}
        info = ref if isinstance(ref, TicketInfo) else self.get(ref)
        tid = info.id
        url_path = f"/api/v1/tickets/{tid}/{'packed' if packed else 'file'}"
        root = self._cache(cache_dir).root / "generated"
        root.mkdir(parents=True, exist_ok=True)
        last_error: Optional[Exception] = None
        etag: Optional[str] = None
        for attempt in range(5):
            final = root / f"{hashlib.sha256(etag.encode()).hexdigest()}.safetensors" if etag else None
            part_path = final.with_suffix(".part") if final else None
            have = part_path.stat().st_size if part_path and part_path.exists() else 0
            headers = {"Range": f"bytes={have}-", "If-Range": etag} if have and etag else {}
            try:
                resp = self._request("GET", url_path, ok=(200, 206), params=params, headers=headers, stream=True)
            except ServerError as e:
                last_error = e
                time.sleep(min(10.0, e.retry_after if e.retry_after is not None else 0.2 * (attempt + 1)))
                continue
            etag = resp.headers.get("ETag", "")
            final = root / f"{hashlib.sha256(etag.encode()).hexdigest()}.safetensors"
            part_path = final.with_suffix(".part")
            if resp.status_code == 200:
                total = int(resp.headers.get("Content-Length", "0"))
                if final.exists() and final.stat().st_size == total:
                    resp.close()
                    return final
            else:
                total = int(resp.headers["Content-Range"].rsplit("/", 1)[1])
            try:
                with resp, open(part_path, "ab" if resp.status_code == 206 else "wb") as f:
                    for block in resp.iter_content(_READ_CHUNK):
                        f.write(block)
            except (requests.RequestException, OSError) as e:
                last_error = e
                continue
            if part_path.stat().st_size == total:
                break
        else:
            raise ServerError(f"download of {url_path} did not complete after 5 attempts: {last_error}",
                              code="incomplete_download")
        header, n = checks.read_header(part_path)
        source = (header.get("__metadata__") or {}).get("ticketbooth.source_sha256")
        if source != info.sha256:
            part_path.unlink()
            raise IntegrityError(f"the file made from {tid} names source {source!r}, not the ticket's sha256 "
                                 f"{info.sha256}; nothing was kept", code="bad_generated_file")
        os.replace(part_path, final)
        return final

    def compatible(self, model: Any, *, limit: int = 20) -> Tuple[str, List[TicketInfo]]:
        """Tickets that fit ``model``: the same architecture fingerprint (docs/masks.md), most
        accurate first, at most ``limit`` (1-100). ``model`` is a ``torch.nn.Module``, a
        ``state_dict`` (name -> tensor or array), or a path to a safetensors file (only its
        header is sent). Returns ``(fingerprint, tickets)``."""
        if not 1 <= int(limit) <= 100:
            raise Invalid(f"limit must be 1 to 100; got {limit!r}", code="invalid_parameter")
        params = {"limit": int(limit)}
        if isinstance(model, (str, os.PathLike)):
            with open(model, "rb") as f:
                prefix = f.read(8)
                if len(prefix) < 8:
                    raise Invalid(f"{model}: not a safetensors file (shorter than 8 bytes)", code="invalid_safetensors")
                (n,) = struct.unpack("<Q", prefix)
                body = prefix + f.read(min(n, 16 << 20))
            resp = self._request("POST", "/api/v1/compatible", params=params, data=body,
                                 headers={"Content-Type": "application/octet-stream"})
        else:
            state = model.state_dict() if hasattr(model, "state_dict") else model
            tensors = [{"name": str(k), "shape": [int(d) for d in getattr(v, "shape", ())]}
                       for k, v in state.items()]
            resp = self._request("POST", "/api/v1/compatible", params=params, json={"tensors": tensors})
        page = resp.json()
        return page["fingerprint"], [TicketInfo.from_json(t) for t in page["items"]]

    def similar(self, ref: Ref, *, limit: int = 10) -> List[TicketInfo]:
        """Tickets of the same architecture whose masks are most like ``ref``'s, best first; each
        carries ``jaccard``, the estimated Jaccard index of the two kept-entry sets."""
        rid = self._resolve(ref)
        items = self._request("GET", f"/api/v1/tickets/{rid}/similar", params={"limit": int(limit)}).json()["items"]
        return [TicketInfo.from_json(t) for t in items]

    def compare(self, a: Ref, b: Ref) -> Dict[str, Any]:
        """Compares two tickets' masks (same architecture, else :class:`Invalid`): ``{"a", "b",
        "overall", "layers": [{"name", "entries", "kept_a", "kept_b", "intersection", "union",
        "iou", "expected_iou", "sign_agreement"}]}`` as the server computes it (docs/masks.md)."""
        refs = [r.id if isinstance(r, TicketInfo) else r for r in (a, b)]
        return self._request("GET", "/api/v1/compare", params={"a": refs[0], "b": refs[1]}).json()

    def _fetch(self, ref: Ref, cache_dir: "str | os.PathLike[str] | None" = None) -> Tuple[Path, TicketInfo]:
        cache = self._cache(cache_dir)
        key = ref.id if isinstance(ref, TicketInfo) else ref
        cached = cache.read_ref(key) if isinstance(key, str) else None
        if cached is not None:
            path = cache.valid_blob(cached["sha256"], cached.get("size_bytes"))
            if path is not None:
                return path, TicketInfo.from_json(cached)
        if self.offline:
            why = "is not in the cache" if cached is None else "is cached, but its file is missing or corrupt,"
            raise NotCached(f"ticket {key} {why} at {cache.root}, and TICKETBOOTH_OFFLINE is set: "
                            "download it once online first", code="not_cached")
        info = self.get(key)
        sha = info.sha256
        with cache.lock(sha):
            path = cache.valid_blob(sha, info.size_bytes)
            if path is None:
                path = self._download_blob(cache, info)
        cache.write_ref(info.to_json())
        return path, info

    def _download_blob(self, cache: Cache, info: TicketInfo) -> Path:
        sha, size = info.sha256, info.size_bytes
        part = cache.part(sha)
        part.parent.mkdir(parents=True, exist_ok=True)
        url_path = f"/api/v1/tickets/{info.id}/file"
        last_error: Optional[Exception] = None
        # The sha256 runs as the bytes arrive (no second read); after a cut it resumes from the
        # hasher's state when this process wrote the part, else from the part file re-read.
        hasher = hashlib.sha256()
        hashed = 0
        for attempt in range(5):
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            if have == size:
                break
            headers = {"Range": f"bytes={have}-", "If-Range": f'"{sha}"'} if have else {}
            try:
                resp = self._request("GET", url_path, ok=(200, 206), headers=headers, stream=True)
            except ServerError as e:
                last_error = e
                # A 503's Retry-After is honoured up to 10 s; a lost connection retries soon.
                time.sleep(min(10.0, e.retry_after if e.retry_after is not None else 0.2 * (attempt + 1)))
                continue
            mode = "ab" if resp.status_code == 206 else "wb"
            done = have if mode == "ab" else 0
            if hashed != done:
                hasher, hashed = hashlib.sha256(), 0
                if done:
                    with open(part, "rb") as f:
                        for block in iter(lambda: f.read(_CHUNK), b""):
                            hasher.update(block)
                    hashed = done
            bar = _progress(size, f"download {info.owner}/{info.name}", initial=done)
            try:
                with resp, open(part, mode) as f:
                    for block in resp.iter_content(_READ_CHUNK):
                        f.write(block)
                        hasher.update(block)
                        hashed += len(block)
                        bar.update(len(block))
            except (requests.RequestException, OSError) as e:  # a cut: resume from what arrived
                last_error = e
                continue
            finally:
                bar.close()
            if part.stat().st_size == size:
                break
        else:
            raise ServerError(f"download of {info.id} did not complete after 5 attempts: {last_error}",
                              code="incomplete_download")
        got = hasher.hexdigest() if hashed == size else _sha256_of(part)
        if got != sha:
            part.unlink()
            raise IntegrityError(f"downloaded bytes of {info.id} have sha256 {got}, not the {sha} the server "
                                 "announced; nothing was kept", code="sha256_mismatch")
        return cache.place(sha, part)

    # ---- reuse ----------------------------------------------------------------------------
    def load(self, ref: Ref, framework: str = "torch", cache_dir: "str | os.PathLike[str] | None" = None) -> "Ticket":
        """Downloads (or finds in the cache) and opens a ticket: a :class:`~ticketbooth.Ticket`
        with ``.info``, ``.masks``, ``.weights`` and ``.tensors`` as ``framework`` tensors
        (``"torch"`` or ``"numpy"``)."""
        from .ticket import Ticket

        path, info = self._fetch(ref, cache_dir)
        return Ticket.from_file(path, framework=framework, info=info)


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _as_file(source: Any) -> Iterator[Tuple[Path, str]]:
    """A safetensors file for a path, a dict of tensors or a torch module."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise Invalid(f"no such file: {path}", code="bad_request", field="file")
        yield path, path.name
        return
    from .ticket import _save_tensors, export

    if isinstance(source, Mapping):
        tensors = dict(source)
    elif hasattr(source, "state_dict") and callable(source.state_dict):
        tensors = export(source, mode="masked")
    else:
        raise Invalid(f"source must be a path, a dict of tensors or a torch.nn.Module; got {type(source).__name__}",
                      code="bad_request", field="file")
    tmp = Path(tempfile.mkdtemp(prefix="ticketbooth-"))
    try:
        path = tmp / "ticket.safetensors"
        _save_tensors(tensors, path)
        yield path, path.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


from .ticket import Ticket  # noqa: E402  (for the annotation above)
