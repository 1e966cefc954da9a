"""A local stand-in for the Hugging Face hub, enough for ``huggingface_hub``'s file download path.

What huggingface_hub (0.25 … 2.x) asks for, and what we answer:

* ``HEAD {endpoint}/{repo_id}/resolve/{revision}/{path}`` (redirects are followed only on the same host). For an LFS
  file the real hub answers ``302`` with ``Location`` on its CDN, ``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256, in
  quotes) and ``X-Linked-Size``; we do the same, with the "CDN" on ``localhost`` (another host than ``127.0.0.1``, so
  the client stops at the redirect and reads the metadata from it, as with the real hub). Non-LFS files get ``200``
  with ``ETag`` (git blob sha1) and ``Content-Length``.
* ``GET`` of the CDN address, with ``Range: bytes=N-`` when resuming: ``206`` + ``Content-Range``.
* Unknown repo or file: ``404`` with ``X-Error-Code: RepoNotFound`` / ``EntryNotFound``.

Faults, per repo path: ``drop_after[path] = (n_bytes, times)`` sends the full ``Content-Length`` but closes the
connection after ``n_bytes`` (``times`` times); ``corrupt`` serves flipped bytes under the right headers; ``short``
serves a body shorter than the advertised size. Every request is logged as ``(method, path, range_header)``.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    data: bytes
    lfs: bool = True

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_sha1(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class HubStandin:
    """``with HubStandin() as hub: hub.add(repo, path, data); os.environ["HF_ENDPOINT"] = hub.endpoint``."""

    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    drop_after: dict[str, list[int]] = field(default_factory=dict)  # path -> [n_bytes, times left]
    corrupt: set[str] = field(default_factory=set)
    short: set[str] = field(default_factory=set)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add(self, repo_id: str, path: str, data: bytes, *, lfs: bool = True) -> HubFile:
        self.files[(repo_id, path)] = f = HubFile(data, lfs)
        return f

    def drop(self, path: str, after: int, *, times: int = 1) -> None:
        self.drop_after[path] = [after, times]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ranges(self) -> list[str]:
        return [r for _, _, r in self.log if r]

    def __enter__(self) -> HubStandin:
        hub = self

        class Handler(_Handler):
            standin = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    standin: HubStandin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        hub, path = self.standin, unquote(self.path.split("?", 1)[0])
        hub.log.append((self.command, path, self.headers.get("Range")))
        if path.startswith("/cdn/"):
            found = [(key, f) for key, f in hub.files.items() if f.sha256 == path[len("/cdn/") :]]
            if not found:
                return self._error(404, "EntryNotFound")
            (_, repo_path), f = found[0]
            return self._content(f, repo_path, body=body)
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "RepoNotFound")
        repo_id, repo_path = "/".join(parts[:2]), "/".join(parts[4:])
        if not any(r == repo_id for r, _ in hub.files):
            return self._error(404, "RepoNotFound")
        f = hub.files.get((repo_id, repo_path))
        if f is None:
            return self._error(404, "EntryNotFound")
        if not f.lfs:
            return self._content(f, repo_path, body=body, extra={"ETag": f'"{f.git_sha1}"'})
        self.send_response(302)
        self.send_header("Location", f"http://localhost:{hub.port}/cdn/{f.sha256}")
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("X-Linked-Etag", f'"{f.sha256}"')
        self.send_header("X-Linked-Size", str(len(f.data)))
        self.send_header("ETag", '"pointer-sha1"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _content(self, f: HubFile, repo_path: str, *, body: bool, extra: dict[str, str] | None = None) -> None:
        hub, data = self.standin, f.data
        if repo_path in hub.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        if repo_path in hub.short:
            data = data[: len(data) // 2]
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.removeprefix("bytes=").split("-")[0])
        chunk = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", COMMIT)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not body:
            return
        drop = hub.drop_after.get(repo_path)
        if drop and drop[1] > 0:
            drop[1] -= 1
            self.wfile.write(chunk[: max(drop[0] - start, 0)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the peer sees the body end early
            self.close_connection = True
            return
        self.wfile.write(chunk)

    def _error(self, code: int, error_code: str) -> None:
        msg = f"{error_code}: {self.path}".encode()
        self.send_response(code)
        self.send_header("X-Error-Code", error_code)
        self.send_header("X-Error-Message", error_code)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(msg)
