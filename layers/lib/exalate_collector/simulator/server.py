"""A real HTTP Exalate node, written from the API document, for the tests, the demo and the benchmarks.

It serves every endpoint of the endpoint table (its routes come from ``endpoints.TABLE``): the 2.4
ones for each relation with the document's example bodies (byte for byte); the 4.0 ones for the node,
computed from the same relations (the totals add up the 2.4 queues by direction, cmonitor counts
their errors, the connection list names them with a status that a test can change, and a relation
added between runs is a new connection). It verifies the JWT (HS256, exp in seconds or milliseconds,
qsh when present), answers the documented 400/401/403/500 statuses, and lets a test inject latency
and faults per endpoint. With ``login`` set it answers ``POST /rest/issuehub/4.0/authenticate`` with a
JWT (exp in milliseconds, as Exalate's own); with ``login_only`` too, a GET must carry that token in
``X-exalate-jwt``, as on a node whose 4.0 API is reached by login. Any other method or path is answered
405 and recorded, so a test can prove what the collector sent.

``examples="repaired"`` serves the one example of the API document that is not valid JSON
(``bloberrorresponses``: a comma is missing) with that comma restored, the answer a sound node sends;
the default, ``"seed"``, serves every example byte for byte, as the tests of the parser need it.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt

from ..auth import query_string_hash
from ..endpoints import BLOB_ERRORS, LOGIN_PATH, TABLE, Endpoint, row
from ..errors import PollFailure
from ..parse import interpret

NOT_FOUND_TEXT = "Connection `{relation}` not found. Seems like it was removed on the Destination side."


Examples = Literal["seed", "repaired"]
#: The API document's examples that are not valid JSON, served repaired with ``examples="repaired"``.
REPAIRED = frozenset({BLOB_ERRORS})


def seed_body(endpoint: str) -> bytes:
    """The example body of an endpoint (for the 2.4 ones, exactly as the API document prints it)."""
    return files(__package__).joinpath("fixtures", row(endpoint).fixture).read_bytes()


def repaired_body(endpoint: str) -> bytes:
    """The example body of an endpoint as a sound node sends it: the seed's, or its repaired copy
    (``<fixture>.repaired.json``: the seed's bytes with its one missing comma restored)."""
    if endpoint not in REPAIRED:
        return seed_body(endpoint)
    name = row(endpoint).fixture.removesuffix(".json") + ".repaired.json"
    return files(__package__).joinpath("fixtures", name).read_bytes()


def example_body(endpoint: str, examples: Examples = "seed") -> bytes:
    return repaired_body(endpoint) if examples == "repaired" else seed_body(endpoint)


def _route(spec: Endpoint) -> re.Pattern[str]:
    template = re.escape(spec.template)
    return re.compile("^" + template.replace(re.escape("{relation}"), "(?P<relation>[^/]+)") + "$")


#: The simulator's routes, one per row of the endpoint table.
ROUTES = tuple((_route(spec), spec) for spec in TABLE)


@dataclass
class Behaviour:
    """How one endpoint answers. The default is the document's example with 200."""

    status: int = 200
    body: bytes | None = None  # None: the node's example for the endpoint (seed or repaired)
    content_type: str = "application/json"
    latency_s: float = 0.0
    hang: bool = False  # accept the request, never answer (until the server stops)
    drop: bool = False  # close the connection without any answer
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Send the body in pieces with this pause between them (a slow, trickling node).
    trickle_s: float = 0.0
    #: Echo the request (line and headers, credentials included) as a careless node does: in place of
    #: every ``{echo}`` in the body (JSON-escaped), or appended to it.
    echo: bool = False


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    authenticated: bool


class NodeSimulator:
    """One simulated Exalate node on 127.0.0.1. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        relations: Mapping[str, Mapping[str, Behaviour]] | list[str] | None = None,
        *,
        context_path: str = "/jira",
        secret: str | None = "demo-shared-secret-of-32-bytes-at-least",
        static_token: str | None = None,
        basic: tuple[str, str] | None = None,
        latency_s: float = 0.0,
        login: tuple[str, str] | None = None,
        login_only: bool = False,
        examples: Examples = "seed",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        relations = relations if relations is not None else ["AllContent"]
        if isinstance(relations, list):
            relations = {name: {} for name in relations}
        self.relations: dict[str, dict[str, Behaviour]] = {k: dict(v) for k, v in relations.items()}
        self.context_path = context_path.rstrip("/")
        self.secret = secret
        self.static_token = static_token
        self.basic = basic
        self.latency_s = latency_s
        #: Serve HTTPS with this server context (base_url is then https://).
        self.tls = tls
        #: (user, password) the login accepts ('' user: a personal access token); None: no login endpoint.
        self.login = login
        #: With ``login``: GETs are accepted only with a token of the login, in X-exalate-jwt.
        self.login_only = login_only and login is not None
        #: "seed": the API document's examples byte for byte; "repaired": its broken one repaired.
        self.examples: Examples = examples
        self.login_lifetime_s = 3600.0
        #: The node's clock minus the real one: it mints and checks tokens by its own clock.
        self.clock_offset_s = 0.0
        #: The login answer carries the JWT in the body instead of the X-Exalate-Jwt header.
        self.token_in_body = False
        #: The connection list as ``{"results": [...]}`` instead of a bare list.
        self.connections_wrapped = False
        #: Status of each relation in the connection list (ACTIVE unless set).
        self.statuses: dict[str, str] = {}
        #: Answers of the once-per-node endpoints that replace the computed ones.
        self.node_behaviours: dict[str, Behaviour] = {}
        self.seen: list[SeenRequest] = []
        self.claims_seen: list[dict[str, object]] = []
        #: Client (host, port) pairs seen: one per TCP connection, so keep-alive reuse is visible.
        self.connections: set[tuple[str, int]] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------
    def set(self, relation: str, endpoint: str, behaviour: Behaviour) -> None:
        """How one endpoint answers: of a relation, or of the node (relation '') for a 4.0 endpoint."""
        with self.lock:
            if relation:
                self.relations.setdefault(relation, {})[endpoint] = behaviour
            else:
                self.node_behaviours[endpoint] = behaviour

    def add_connection(self, name: str, status: str = "ACTIVE") -> None:
        """A connection created on the node: listed, and its 2.4 endpoints answer."""
        with self.lock:
            self.relations.setdefault(name, {})
            self.statuses[name] = status

    def remove_connection(self, name: str) -> None:
        """A connection deleted on the node: no longer listed, and its 2.4 endpoints answer 400."""
        with self.lock:
            self.relations.pop(name, None)
            self.statuses.pop(name, None)

    def set_status(self, name: str, status: str) -> None:
        with self.lock:
            self.statuses[name] = status

    def node_answer(self, spec: Endpoint) -> bytes:
        """The 4.0 answers, consistent with the relations' 2.4 answers."""
        with self.lock:
            relations = {name: dict(endpoints) for name, endpoints in self.relations.items()}
            statuses = dict(self.statuses)
        if spec.answer == "connections":
            listed = [
                {"id": index, "name": name, "status": statuses.get(name, "ACTIVE"), "remoteNodeType": "JIRA_CLOUD"}
                for index, name in enumerate(relations, start=1)
            ]
            return json.dumps({"results": listed} if self.connections_wrapped else listed).encode()
        # a total adds up the 2.4 queues of its direction; the error count, the 2.4 error endpoints
        wanted = (lambda e: e.direction == spec.direction) if spec.direction else (lambda e: e.answer == "errors")
        counted = [e for e in TABLE if e.per_relation and wanted(e)]
        total = sum(
            self._items(e, endpoints.get(e.name, Behaviour())) for endpoints in relations.values() for e in counted
        )
        if spec.answer == "total":
            return json.dumps({"limit": 0, "total": total, "results": []}).encode()
        if spec.answer == "error_count":
            return json.dumps({"numErrors": total}).encode()
        return self.example(spec.name)

    def example(self, endpoint: str) -> bytes:
        """This node's example answer of an endpoint (seed or repaired, as ``examples`` says)."""
        return example_body(endpoint, self.examples)

    def _items(self, spec: Endpoint, behaviour: Behaviour) -> int:
        """How many items a relation endpoint answers now (0 when its answer is not a valid list)."""
        body = self.example(spec.name) if behaviour.body is None else behaviour.body
        try:
            return interpret(spec.name, behaviour.status, behaviour.content_type, body).items
        except PollFailure:
            return 0

    def login_answer(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """The answer to POST /rest/issuehub/4.0/authenticate."""
        try:
            sent = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, b'{"message":"invalid JSON"}', {}
        login, secret = self.login, self.secret
        if login is None or secret is None:
            return 404, b'{"message":"no login on this node"}', {}
        user, password = login
        if not isinstance(sent, dict) or sent.get("authProtocol") != "basic" or sent.get("user") != user:
            return 401, b'{"message":"incorrect credentials"}', {}
        if not hmac.compare_digest(str(sent.get("password")), password):
            return 401, b'{"message":"incorrect credentials"}', {}
        exp_ms = int((time.time() + self.clock_offset_s + self.login_lifetime_s) * 1000)
        token = jwt.encode({"user": user, "iss": "EXALATE", "exp": exp_ms}, secret, algorithm="HS256")
        if self.token_in_body:
            return 200, json.dumps({"token": token}).encode(), {}
        return 200, b"{}", {"X-Exalate-Jwt": token}

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}{self.context_path}"

    def start(self, port: int = 0, *, reuse_port: bool = False) -> NodeSimulator:
        """Serve on ``port`` (0: any free one). ``reuse_port``: SO_REUSEPORT, so that several processes
        serve one port, the kernel spreading connections over them (the benchmarks' simulator)."""
        simulator = self

        class Handler(_Handler):
            node = simulator

        self._server = (_ReusePortServer if reuse_port else _Server)(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._server.tls = self.tls
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="exalate-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> NodeSimulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], path: str, query: dict[str, str]) -> int | None:
        """None when authenticated; else the documented status (403 no credentials, 401 bad ones)."""
        authorization = headers.get("Authorization") or ""
        if self.basic is not None:
            if not authorization.startswith("Basic "):
                return 403
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return None if hmac.compare_digest(authorization[6:], expected) else 401
        token = None
        for prefix in ("Bearer ", "JWT "):
            if authorization.startswith(prefix):
                token = authorization[len(prefix) :]
        token = token or headers.get("X-exalate-jwt") or query.get("jwt")
        if self.login_only:  # only the login's token, where the vendor's scripts send it
            token = headers.get("X-exalate-jwt")
        if not token:
            return 403
        if self.static_token is not None:
            return None if hmac.compare_digest(token, self.static_token) else 401
        if self.secret is None:
            return None
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return 401
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            return 401
        seconds = exp / 1000 if exp > 10**11 else exp  # Exalate's own tokens carry exp in milliseconds
        if seconds < time.time() + self.clock_offset_s:
            return 401
        if "qsh" in claims and claims["qsh"] != query_string_hash("GET", path, query):
            return 401
        if self.login_only and (claims.get("iss") != "EXALATE" or claims.get("user") != (self.login or ("", ""))[0]):
            return 401  # signed with the node's secret, but not a token of its login
        with self.lock:
            self.claims_seen.append(claims)
        return None

    def behaviour(self, relation: str, endpoint: str) -> Behaviour | None:
        with self.lock:
            endpoints = self.relations.get(relation)
            if endpoints is None:
                return None
            return endpoints.get(endpoint, Behaviour())


class _Server(ThreadingHTTPServer):
    # the default listen backlog (5) drops connections under a real fan-out (1,024: max_in_flight's cap)
    request_queue_size = 1024
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake happens in the request's own thread, at its first read
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class _ReusePortServer(_Server):
    allow_reuse_port = True


class _Handler(BaseHTTPRequestHandler):
    node: NodeSimulator
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
