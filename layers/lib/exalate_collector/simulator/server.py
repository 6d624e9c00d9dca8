"""A real HTTP Exalate node, written from the API document, for the tests, the demo and the benchmarks:
``NodeSimulator``, what one node knows and decides. It serves every endpoint of the endpoint table: the
2.4 ones for each relation with the document's example bodies (``answers``: seed or repaired); the 4.0
ones for the node, computed from the same relations (the totals add up the 2.4 queues by direction,
cmonitor counts their errors, the connection list names them with a status that a test can change, and a
relation added between runs is a new connection). It verifies the JWT (HS256, exp in seconds or
milliseconds, qsh when present), answers the documented 400/401/403/500 statuses, and lets a test inject
latency and faults per endpoint. With ``login`` set it answers ``POST /rest/issuehub/4.0/authenticate``
with a JWT (exp in milliseconds, as Exalate's own); with ``login_only`` too, a GET must carry that token
in ``X-exalate-jwt``. The HTTP server and the routing are ``handler``'s.
"""

from __future__ import annotations

import base64
import hmac
import json
import ssl
import threading
import time
from collections.abc import Mapping

import jwt

from ..auth import query_string_hash
from ..endpoints import TABLE, Endpoint
from ..errors import PollFailure
from ..parse import interpret
from .answers import Behaviour, Examples, example_body
from .handler import NodeHandler, ReusePortServer, SeenRequest, SimulatorServer


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
        self._server: SimulatorServer | None = None
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

        class Handler(NodeHandler):
            node = simulator

        self._server = (ReusePortServer if reuse_port else SimulatorServer)(("127.0.0.1", port), Handler)
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
