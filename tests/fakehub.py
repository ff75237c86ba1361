"""A fake Hugging Face hub on 127.0.0.1 for tests and benchmarks.

It answers the real paths the `huggingface_hub` client calls, so the real client talks to it
through `HF_ENDPOINT` (or `endpoint=`):

- `GET /api/models` (filter, search, author, sort, direction, limit, expand; paging with a
  `Link: <...>; rel="next"` header like the real hub)
- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (siblings; with `blobs=True`
  their sizes and LFS sha256)
- `GET /api/models/{repo}/tree/{rev}[/{path}]`
- `HEAD|GET /{repo}/resolve/{rev}/{file}`: LFS files answer 302 to `/cdn/{sha256}` with
  `X-Repo-Commit`, `X-Linked-Etag` and `X-Linked-Size` (as the hub does); the CDN path serves
  the bytes with `Range`, `ETag` and `Content-Range`.

Knobs for misbehaviour (set them on `hub.faults`): drop the connection after N body bytes,
stall after N bytes, corrupt the bytes, throttle to a byte rate; gated repos answer 401/403
like the hub; unknown repos and files answer 404 with the hub's `X-Error-Code`.

    hub = FakeHub()
    hub.add_repo("acme/tiny-GGUF")
    hub.add_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", b"GGUF" + bytes(1000))
    with hub:                                   # starts on a free port
        os.environ["HF_ENDPOINT"] = hub.url

`FakeHub(tls=server_context)` speaks HTTPS instead (tests/unit/test_net_proxy.py gives it a
certificate from a test CA).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

SLICE = 256 * 1024


@dataclass
class FakeFile:
    path: str
    data: bytes | None = None  # in memory, or...
    disk_path: Path | None = None  # ...served from disk (large benchmark files)
    lfs: bool = True
    sha256: str = ""
    size: int = 0
    git_oid: str = ""

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.disk_path is not None
        with open(self.disk_path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


@dataclass
class FakeRepo:
    repo_id: str
    gated: bool | str = False
    private: bool = False
    license: str = "apache-2.0"
    downloads: int = 0
    likes: int = 0
    trending: float = 0.0
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    card: str = ""
    last_modified: str = "2025-01-01T00:00:00.000Z"
    created_at: str = "2024-06-01T00:00:00.000Z"
    sha: str = ""
    files: dict[str, FakeFile] = field(default_factory=dict)


@dataclass
class Faults:
    """Misbehaviour for GETs of file bytes. Counters decrement as faults fire."""

    drop_after: int | None = None  # close the connection after this many body bytes...
    drop_times: int = 1  # ...this many times
    stall_after: int | None = None  # stop sending after this many body bytes...
    stall_seconds: float = 3600.0  # ...for this long (or until release_stall())
    stall_times: int = 1
    corrupt: bool = False  # serve wrong bytes (headers still name the right sha256)
    throttle_bps: float | None = None  # bytes per second, per response
    status: dict[str, int] = field(default_factory=dict)  # path suffix -> forced status...
    status_times: dict[str, int] = field(default_factory=dict)  # ...this many times (default: always)


class FakeHub:
    """The fake hub server. Start on port 0 (a free port); `url` is its HF_ENDPOINT."""

    def __init__(self, default_page_size: int = 1000, tls: ssl.SSLContext | None = None) -> None:
        # tls: a server context (certificate and key) to speak HTTPS, like the real hub
        self.tls = tls
        self.repos: dict[str, FakeRepo] = {}
        self.faults = Faults()
        self.default_page_size = default_page_size
        self.allowed_tokens: set[str] = set()  # tokens that accepted gated licenses
        self.bytes_sent = 0  # body bytes of file GETs
        # (method, path with query, headers with lower-cased names)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stall_release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content -------------------------------------------------------------------------
    def add_repo(self, repo_id: str, **kwargs: Any) -> FakeRepo:
        repo = FakeRepo(repo_id=repo_id, **kwargs)
        if not repo.sha:
            repo.sha = hashlib.sha1(repo_id.encode()).hexdigest()
        if repo.card and "README.md" not in repo.files:
            self._put(repo, FakeFile(path="README.md", data=repo.card.encode(), lfs=False))
        self.repos[repo_id] = repo
        return repo

    def add_file(
        self,
        repo_id: str,
        path: str,
        data: bytes | None = None,
        *,
        disk_path: Path | None = None,
        lfs: bool = True,
    ) -> FakeFile:
        repo = self.repos.get(repo_id) or self.add_repo(repo_id)
        return self._put(repo, FakeFile(path=path, data=data, disk_path=disk_path, lfs=lfs))

    @staticmethod
    def _put(repo: FakeRepo, item: FakeFile) -> FakeFile:
        digest = hashlib.sha256()
        size = 0
        if item.data is not None:
            digest.update(item.data)
            size = len(item.data)
        else:
            assert item.disk_path is not None
            with open(item.disk_path, "rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
                    size += len(block)
        item.sha256 = digest.hexdigest()
        item.size = size
        item.git_oid = hashlib.sha1(f"blob {size}\0".encode() + item.sha256.encode()).hexdigest()
        repo.files[item.path] = item
        return item

    def release_stall(self) -> None:
        self._stall_release.set()

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the hub first"
        port = self._server.server_address[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            # The handshake happens on the handler's thread, at its first read, so a client that
            # refuses the certificate never holds up the accepting thread.
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            plain_handle_error = self._server.handle_error

            def handle_error(request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ssl.SSLError):  # a refused certificate: quiet
                    plain_handle_error(request, client_address)

            self._server.handle_error = handle_error  # type: ignore[method-assign]
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stall_release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- JSON views ----------------------------------------------------------------------
    def model_json(self, repo: FakeRepo, *, blobs: bool, expand: list[str] | None) -> dict:
        full: dict[str, Any] = {
            "_id": repo.sha[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "lastModified": repo.last_modified,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "trendingScore": repo.trending,
            "library_name": "gguf",
            "tags": [*repo.tags, f"license:{repo.license}"],
            "cardData": {"license": repo.license},
        }
        siblings = []
        for item in repo.files.values():
            sibling: dict[str, Any] = {"rfilename": item.path}
            if blobs:
                sibling["size"] = item.size
                sibling["blobId"] = item.git_oid
                if item.lfs:
                    sibling["lfs"] = {"size": item.size, "sha256": item.sha256, "pointerSize": 134}
            siblings.append(sibling)
        full["siblings"] = siblings
        if expand:
            keep = {"id", "_id", *expand}
            return {k: v for k, v in full.items() if k in keep}
        return full


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (40 ms per JSON answer), which the real hub does not do.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- helpers -------------------------------------------------------------------------
    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, **(extra or {})}
        self._send_json(status, {"error": message}, headers)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def _record(self) -> None:
        with self.hub._lock:
            self.hub.requests.append(
                (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )

    # -- dispatch ------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        self._record()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        faults = self.hub.faults
        for suffix, status in faults.status.items():
            if path.endswith(suffix) and faults.status_times.get(suffix, 1) > 0:
                if suffix in faults.status_times:
                    faults.status_times[suffix] -= 1
                self._error(status, "Forced", f"forced status {status}")
                return
        try:
            if path == "/api/models":
                self._list_models(query)
            elif path.startswith("/api/models/"):
                self._model_api(path[len("/api/models/") :], query)
            elif path.startswith("/cdn/"):
                self._cdn(path[len("/cdn/") :])
            elif "/resolve/" in path:
                self._resolve(path)
            else:
                self._error(404, "NotFound", "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _list_models(self, query: dict[str, list[str]]) -> None:
        hub = self.hub
        items = list(hub.repos.values())
        for wanted in query.get("filter", []):
            items = [r for r in items if wanted in r.tags or wanted == r.repo_id.split("/")[0]]
        if "search" in query:
            text = query["search"][0].lower()
            items = [r for r in items if text in r.repo_id.lower()]
        if "author" in query:
            items = [r for r in items if r.repo_id.split("/")[0] == query["author"][0]]
        sort = query.get("sort", [""])[0]
        keys = {
            "downloads": lambda r: r.downloads,
            "likes": lambda r: r.likes,
            "trendingScore": lambda r: r.trending,
            "lastModified": lambda r: r.last_modified,
            "createdAt": lambda r: r.created_at,
        }
        if sort in keys:
            items.sort(key=keys[sort], reverse=True)
        limit = min(int(query.get("limit", [hub.default_page_size])[0]), hub.default_page_size)
        cursor = int(query.get("cursor", ["0"])[0])
        page = items[cursor : cursor + limit]
        headers = {}
        if cursor + limit < len(items):
            flat = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
            next_url = f"{hub.url}/api/models?{urlencode([*flat, ('cursor', cursor + limit)])}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        expand = query.get("expand[]") or query.get("expand")
        body = [hub.model_json(r, blobs=False, expand=expand) for r in page]
        if not expand and "full" not in query:
            for entry in body:
                entry.pop("siblings", None)
        self._send_json(200, body, headers)

    def _model_api(self, rest: str, query: dict[str, list[str]]) -> None:
        hub = self.hub
        match = re.match(r"^([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(?:/(.*))?)?$", rest)
        if not match or match.group(1) not in hub.repos:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        repo = hub.repos[match.group(1)]
        if repo.private and self._token() not in hub.allowed_tokens:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        kind = match.group(2)
        if kind == "tree":
            prefix = (match.group(4) or "").strip("/")
            entries = []
            for item in repo.files.values():
                if prefix and not item.path.startswith(prefix + "/"):
                    continue
                entry: dict[str, Any] = {
                    "type": "file",
                    "oid": item.git_oid,
                    "size": item.size,
                    "path": item.path,
                }
                if item.lfs:
                    entry["lfs"] = {"oid": item.sha256, "size": item.size, "pointerSize": 134}
                entries.append(entry)
            self._send_json(200, entries)
            return
        expand = query.get("expand[]") or query.get("expand")
        self._send_json(200, hub.model_json(repo, blobs="blobs" in query, expand=expand))

    def _resolve(self, path: str) -> None:
        hub = self.hub
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if not match or match.group(1) not in hub.repos:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        repo = hub.repos[match.group(1)]
        revision, filename = match.group(2), match.group(3)
        if revision not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", "Invalid rev id")
            return
        token = self._token()
        if repo.gated and token not in hub.allowed_tokens:
            who = repo.repo_id
            if token is None:
                message = (
                    f"Access to model {who} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in."
                )
                self._error(401, "GatedRepo", message)
            else:
                message = (
                    f"Access to model {who} is restricted and you are not in the authorized list. "
                    f"Visit {hub.url}/{who} to ask for access."
                )
                self._error(403, "GatedRepo", message)
            return
        item = repo.files.get(filename)
        if item is None:
            self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
            return
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if item.lfs:
            self.send_response(302)
            self.send_header("Location", f"{hub.url}/cdn/{item.sha256}")
            self.send_header("ETag", f'"{item.git_oid}"')
            self.send_header("X-Linked-Etag", f'"{item.sha256}"')
            self.send_header("X-Linked-Size", str(item.size))
            for key, value in common.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._serve_bytes(item, {**common, "ETag": f'"{item.git_oid}"'})

    def _cdn(self, sha: str) -> None:
        for repo in self.hub.repos.values():
            for item in repo.files.values():
                if item.sha256 == sha:
                    self._serve_bytes(item, {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"})
                    return
        self._error(404, "NotFound", "no such blob")

    def _serve_bytes(self, item: FakeFile, headers: dict[str, str]) -> None:
        start, end = 0, item.size
        status = 200
        wanted = self.headers.get("Range")
        if wanted:
            m = re.match(r"bytes=(\d+)-(\d*)", wanted)
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) + 1 if m.group(2) else item.size
                end = min(end, item.size)
                if start >= item.size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{item.size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{item.size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        self._send_body(item, start, end)

    def _send_body(self, item: FakeFile, start: int, end: int) -> None:
        hub, faults = self.hub, self.hub.faults
        plain = (faults.drop_after is None or faults.drop_times <= 0) and (
            faults.stall_after is None or faults.stall_times <= 0
        )
        plain = plain and not faults.corrupt and faults.throttle_bps is None
        if plain and item.disk_path is not None:
            self.wfile.flush()
            with open(item.disk_path, "rb") as handle:
                sent = self.connection.sendfile(handle, start, end - start)
            with hub._lock:
                hub.bytes_sent += sent
            return
        sent_here = 0
        began = time.monotonic()
        position = start
        while position < end:
            chunk_end = min(position + SLICE, end)
            with hub._lock:
                if faults.drop_after is not None and faults.drop_times > 0:
                    if sent_here + (chunk_end - position) > faults.drop_after:
                        chunk_end = position + max(faults.drop_after - sent_here, 0)
                        dropping = True
                        faults.drop_times -= 1
                    else:
                        dropping = False
                else:
                    dropping = False
                stalling = False
                if (
                    faults.stall_after is not None
                    and faults.stall_times > 0
                    and sent_here + (chunk_end - position) > faults.stall_after
                ):
                    chunk_end = position + max(faults.stall_after - sent_here, 0)
                    stalling = True
                    faults.stall_times -= 1
            data = item.read(position, chunk_end)
            if faults.corrupt and data:
                data = bytes(b ^ 0x5A for b in data[:16]) + data[16:]
            if data:
                self.wfile.write(data)
                self.wfile.flush()
                with hub._lock:
                    hub.bytes_sent += len(data)
            sent_here += len(data)
            position = chunk_end
            if dropping:
                self._abort()
                return
            if stalling:
                hub._stall_release.wait(faults.stall_seconds)
                self._abort()
                return
            if faults.throttle_bps:
                ahead = sent_here / faults.throttle_bps - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)

    def _abort(self) -> None:
        """Drop the connection the way a broken network does: no more bytes, socket closed."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def repo_url(hub: FakeHub, repo_id: str) -> str:
    return f"{hub.url}/{quote(repo_id)}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
