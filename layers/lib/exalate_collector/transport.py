"""HTTP GETs whose every byte is bounded by a wall clock, over per-node keep-alive connections.

Socket timeouts bound each ``recv``, not a request: a node that sends one byte per second would keep a
request alive for ever. Here one ``Watchdog`` thread per run holds the instant at which each request in
flight must be over; when it passes, it shuts the request's socket down, so whatever the worker is
blocked in (connect, TLS handshake, status line, headers, body) returns at once and the request is
reported as timed out. Connections are ``http.client`` connections: only ``get`` exists here, and
``post_login``, the one other request (``auth: {type: login}``), which can only POST to the login path.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import logging
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

log = logging.getLogger(__name__)
Body = TypeVar("Body")


class Expired(Exception):
    """The request's wall-clock bound passed; its socket was shut down."""


@dataclass(eq=False)
class InFlight:
    """One request being watched. ``expired`` is set by the watchdog, once, under its lock."""

    until: float
    connection: http.client.HTTPConnection | None = None
    expired: bool = False
    done: bool = False


class Watchdog:
    """One thread per run: shuts down the socket of every request still running at its instant."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, InFlight]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """False when no thread could be started: requests are then bounded by socket timeouts only."""
        thread = threading.Thread(target=self._run, name="poll-watchdog", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            log.warning("could not start the request watchdog thread: requests are bounded per read only")
            return False
        self._thread = thread
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def watch(self, until: float) -> InFlight:
        request = InFlight(until)
        with self._cond:
            heapq.heappush(self._heap, (until, next(self._seq), request))
            if self._heap[0][2] is request:
                self._cond.notify_all()
        return request

    def attach(self, request: InFlight, connection: http.client.HTTPConnection) -> None:
        """The connection now carries ``request``; if its time is already up, cut it now."""
        with self._cond:
            request.connection = connection
            if request.expired:
                _shutdown(connection)

    def release(self, request: InFlight) -> bool:
        """The request is over (its socket will not be touched any more). True if it had expired."""
        with self._cond:
            request.done = True
            request.connection = None
            return request.expired

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                now = self._monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, request = heapq.heappop(self._heap)
                    if not request.done:
                        request.expired = True
                        if request.connection is not None:
                            _shutdown(request.connection)
                wait = self._heap[0][0] - now if self._heap else None
                self._cond.wait(wait)


def _shutdown(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: the worker sees the failure either way
            sock.shutdown(socket.SHUT_RDWR)


class _WatchedMixin:
    """Tells the watchdog about the socket as soon as it exists (a new connection's connect)."""

    watchdog: Watchdog | None = None
    in_flight: InFlight | None = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if self.watchdog is not None and self.in_flight is not None:
            self.watchdog.attach(self.in_flight, self)  # type: ignore[arg-type]


class WatchedHTTPConnection(_WatchedMixin, http.client.HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedMixin, http.client.HTTPSConnection):
    pass


_tls_contexts: dict[object, ssl.SSLContext] = {}
_tls_lock = threading.Lock()


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One SSLContext per ``verify_tls`` value per process (loading a CA bundle is slow; contexts are
    thread-safe). ``True``: certifi's bundle, as requests used; a path: that bundle; ``False``: none."""
    key: object = verify
    if isinstance(verify, str):
        try:
            key = (verify, os.stat(verify).st_mtime_ns)
        except OSError:
            key = (verify, None)
    with _tls_lock:
        context = _tls_contexts.get(key)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else _certifi())
            _tls_contexts[key] = context
        return context


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return str(certifi.where())


def _unusable(connection: http.client.HTTPConnection) -> bool:
    """An idle connection must have nothing to read: readable means the node closed it (EOF) or sent
    bytes outside any answer, which the next request would take for its own answer."""
    sock = connection.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()  # not select(): descriptors past 1024 are refused there
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))  # POLLIN, or POLLHUP / POLLERR
    except (OSError, ValueError):  # closed under us
        return True


@dataclass
class NodePool:
    """Idle keep-alive connections to one node; at most ``size`` are kept."""

    base_url: str
    verify: bool | str
    size: int
    idle: list[http.client.HTTPConnection] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, timeout: float, watchdog: Watchdog, request: InFlight) -> http.client.HTTPConnection:
        with self.lock:
            idle, self.idle = self.idle, []
        connection = None
        while idle:
            candidate = idle.pop()
            if _unusable(candidate):  # closed by the node while idle, or bytes nobody asked for
                candidate.close()
            else:
                connection = candidate
                break
        if idle:
            with self.lock:
                self.idle.extend(idle)
        if connection is None:
            parts = urlsplit(self.base_url)
            # the port always given: http.client alone reads an IPv6 literal's last group as the port
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            connection = (
                WatchedHTTPSConnection(host, port, timeout=timeout, context=tls_context(self.verify))
                if parts.scheme == "https"
                else WatchedHTTPConnection(host, port, timeout=timeout)
            )
        else:
            assert connection.sock is not None
            connection.sock.settimeout(timeout)
        connection.watchdog = watchdog  # type: ignore[attr-defined]
        connection.in_flight = request  # type: ignore[attr-defined]
        if connection.sock is not None:
            watchdog.attach(request, connection)
        return connection

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        connection.in_flight = None  # type: ignore[attr-defined]
        with self.lock:
            if not self.closed and len(self.idle) < self.size:
                self.idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    response: http.client.HTTPResponse


def get(
    pool: NodePool,
    path_and_query: tuple[str, Mapping[str, str]],
    headers: Mapping[str, str],
    timeout: float,
    watchdog: Watchdog,
    read_body: Callable[[Answer], Body],
    monotonic: Callable[[], float],
) -> tuple[Answer, Body]:
    """One GET, its answer and its body (read by ``read_body``), all within ``timeout`` seconds.

    Raises ``Expired`` when the bound passed (whatever else the cut socket made the reader raise),
    else what ``http.client``, ``ssl``, ``socket`` or ``read_body`` raised.
    """
    return _send("GET", pool, path_and_query, headers, timeout, watchdog, read_body, monotonic)


#: The only path a POST may go to: Exalate's 4.0 login (``auth: {type: login}``).
LOGIN_PATH = "/rest/issuehub/4.0/authenticate"


def post_login(
    pool: NodePool,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    watchdog: Watchdog,
    read_body: Callable[[Answer], Body],
    monotonic: Callable[[], float],
) -> tuple[Answer, Body]:
    """The login POST, bounded like a GET. ``path`` (context path included) must end in LOGIN_PATH."""
    return _send("POST", pool, (path, {}), headers, timeout, watchdog, read_body, monotonic, body)


def _send(
    method: str,
    pool: NodePool,
    path_and_query: tuple[str, Mapping[str, str]],
    headers: Mapping[str, str],
    timeout: float,
    watchdog: Watchdog,
    read_body: Callable[[Answer], Body],
    monotonic: Callable[[], float],
    body: bytes | None = None,
) -> tuple[Answer, Body]:
    path, query = path_and_query
    if not (method == "GET" or (method == "POST" and path.endswith(LOGIN_PATH) and not query)):
        raise ValueError(f"exalate-collector sends only GET and the configured login POST, refused {method}")
    request = watchdog.watch(monotonic() + timeout)
    connection = pool.take(timeout, watchdog, request)
    try:
        target = path + ("?" + urlencode(query) if query else "")
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        if request.expired:  # a cut socket ends the headers early: this head is not the node's
            response.close()
            raise Expired()
        try:
            answer = Answer(response.status, response.headers, response)
            content = read_body(answer)
            reusable = not response.will_close and response.isclosed()
        finally:
            response.close()
    except BaseException as exc:
        connection.close()
        if watchdog.release(request):
            raise Expired() from exc
        raise
    expired = watchdog.release(request)  # a body read to EOF of a cut socket ends without an error
    if expired or not reusable:
        connection.close()
    else:
        pool.give_back(connection)
    if expired:
        raise Expired()
    return answer, content
