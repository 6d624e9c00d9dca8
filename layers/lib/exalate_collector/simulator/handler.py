"""The simulated node's HTTP side: a threading HTTP/1.1 server on 127.0.0.1 (a listen backlog for a real
fan-out, TLS handshakes in each request's thread, optionally SO_REUSEPORT) and the request handler that
routes each GET by the endpoint table (``ROUTES``), asks its ``NodeSimulator`` whether it is authenticated
and how the endpoint answers, then answers so (latency, a hang, a drop, an echo, a trickled body); it
answers the login POST, refuses any other method with 405, and records every request (``SeenRequest``)
so that a test can prove what the collector sent.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from ..endpoints import LOGIN_PATH, TABLE, Endpoint
from .answers import NOT_FOUND_TEXT, Behaviour


def _route(spec: Endpoint) -> re.Pattern[str]:
    template = re.escape(spec.template)
    return re.compile("^" + template.replace(re.escape("{relation}"), "(?P<relation>[^/]+)") + "$")


#: The simulator's routes, one per row of the endpoint table.
ROUTES = tuple((_route(spec), spec) for spec in TABLE)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    authenticated: bool


class Node(Protocol):
    """What the handler asks of its node (``server.NodeSimulator``): its state, shared under ``lock``, and
    its decisions (authenticated or not; how an endpoint answers; the login's answer)."""

    context_path: str
    latency_s: float
    login: tuple[str, str] | None
    node_behaviours: dict[str, Behaviour]
    seen: list[SeenRequest]
    connections: set[tuple[str, int]]
    in_flight: int
    max_in_flight: int
    lock: threading.Lock
    stopping: threading.Event

    def authenticate(self, headers: Mapping[str, str], path: str, query: dict[str, str]) -> int | None: ...
    def behaviour(self, relation: str, endpoint: str) -> Behaviour | None: ...
    def node_answer(self, spec: Endpoint) -> bytes: ...
    def example(self, endpoint: str) -> bytes: ...
    def login_answer(self, body: bytes) -> tuple[int, bytes, dict[str, str]]: ...


class SimulatorServer(ThreadingHTTPServer):
    # the default listen backlog (5) drops connections under a real fan-out (1,024: max_in_flight's cap)
    request_queue_size = 1024
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake happens in the request's own thread, at its first read
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class ReusePortServer(SimulatorServer):
    allow_reuse_port = True


class NodeHandler(BaseHTTPRequestHandler):
    node: Node
    protocol_version = "HTTP/1.1"
    server_version = "ExalateSimulator/2.4"
    # Headers and body leave in separate writes: with Nagle's algorithm on, the client's delayed ACK
    # would add ~40 ms to every answer, which no real node does.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return

    def _record(self, authenticated: bool) -> None:
        with self.node.lock:
            self.node.seen.append(SeenRequest(self.command, self.path.split("?", 1)[0], authenticated))

    def _refuse_method(self) -> None:
        self._record(False)
        self._send(405, b'{"message":"only GET"}', "application/json", {"Allow": "GET"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method  # noqa: N815

    def do_POST(self) -> None:
        node = self.node
        if node.login is None or urlsplit(self.path).path != node.context_path + LOGIN_PATH:
            self._refuse_method()
            return
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() else b""
        status, answer, headers = node.login_answer(body)
        self._record(status == 200)
        self._send(status, answer, "application/json", headers)

    def do_GET(self) -> None:
        node = self.node
        with node.lock:
            node.connections.add(self.client_address[:2])
            node.in_flight += 1
            node.max_in_flight = max(node.max_in_flight, node.in_flight)
        try:
            self._get()
        finally:
            with node.lock:
                node.in_flight -= 1

    def _get(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        if not parts.path.startswith(self.node.context_path + "/"):
            self._record(False)
            self._send(404, b"Not Found", "text/plain")
            return
        relative_path = parts.path[len(self.node.context_path) :]
        refused = self.node.authenticate(self.headers, relative_path, query)  # type: ignore[arg-type]
        self._record(refused is None)
        if self.node.latency_s:
            time.sleep(self.node.latency_s)
        if refused is not None:
            message = "not authenticated" if refused == 403 else "incorrect credentials"
            self._send(refused, json.dumps({"message": message}).encode(), "application/json")
            return
        matches = ((route.match(relative_path), spec) for route, spec in ROUTES)
        found, spec = next(((m, s) for m, s in matches if m is not None), (None, None))
        if found is None or spec is None:
            self._send(404, b"Not Found", "text/plain")
            return
        if not spec.per_relation:
            custom = self.node.node_behaviours.get(spec.name)
            self._answer(custom or Behaviour(body=self.node.node_answer(spec)), spec.name)
            return
        relation = unquote(found.group("relation"))
        behaviour = self.node.behaviour(relation, spec.name)
        if behaviour is None:
            self._send(400, NOT_FOUND_TEXT.format(relation=relation).encode(), "text/plain")
            return
        self._answer(behaviour, spec.name)

    def _answer(self, behaviour: Behaviour, endpoint: str) -> None:
        if behaviour.latency_s:
            time.sleep(behaviour.latency_s)
        if behaviour.hang:
            self.node.stopping.wait()
            self.close_connection = True
            return
        if behaviour.drop:
            self.close_connection = True
            self.connection.close()
            return
        body = self.node.example(endpoint) if behaviour.body is None else behaviour.body
        if behaviour.echo:
            body = self._echo(body)
        self._send(behaviour.status, body, behaviour.content_type, behaviour.headers, behaviour.trickle_s)

    def _echo(self, body: bytes) -> bytes:
        request = f"{self.command} {self.path}\n" + "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        if b"{echo}" in body:
            return body.replace(b"{echo}", json.dumps(request)[1:-1].encode("utf-8"))
        return body + b"\n" + request.encode("utf-8")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        trickle_s: float = 0.0,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not trickle_s:
            self.wfile.write(body)
            return
        step = max(1, len(body) // 10)
        for start in range(0, len(body), step):
            if self.node.stopping.wait(trickle_s):
                return
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
