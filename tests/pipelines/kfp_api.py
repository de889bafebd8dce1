"""A stand-in for the Kubeflow Pipelines REST API (``/apis/v2beta1``) on 127.0.0.1: answers the calls kfp.Client
makes to create a run or upload a pipeline, and records every request for the tests to assert on."""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/apis/v2beta1"


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class KfpApi:
    url: str
    requests: list[Request] = field(default_factory=list)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def only(self, method: str, path: str) -> Request:
        found = [r for r in self.requests if (r.method, r.path) == (method, path)]
        assert len(found) == 1, f"expected one {method} {path}, got {self.calls()}"
        return found[0]


def _answer(method: str, path: str, body: bytes) -> tuple[int, dict]:
    if (method, path) == ("GET", f"{API}/healthz"):
        return 200, {"multi_user": False}
    if (method, path) == ("GET", f"{API}/experiments"):
        return 200, {"experiments": [], "total_size": 0}
    if (method, path) == ("POST", f"{API}/experiments"):
        return 200, {"experiment_id": "exp-1", "display_name": json.loads(body)["display_name"]}
    if (method, path) == ("POST", f"{API}/runs"):
        run = json.loads(body)
        return 200, {**run, "run_id": "run-123", "state": "PENDING"}
    if (method, path) == ("POST", f"{API}/pipelines/upload"):
        return 200, {"pipeline_id": "pipeline-9", "display_name": "mobileiqa"}
    return 404, {"error": f"no stand-in for {method} {path}"}


def start() -> tuple[KfpApi, ThreadingHTTPServer]:
    """Start the server on a free port of 127.0.0.1 in a daemon thread."""
    api = KfpApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            api.requests.append(Request(self.command, parsed.path, urllib.parse.parse_qs(parsed.query),
                                        {k.lower(): v for k, v in self.headers.items()}, body))
            status, payload = _answer(self.command, parsed.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle  # noqa: N815 (http.server names)

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return api, server
