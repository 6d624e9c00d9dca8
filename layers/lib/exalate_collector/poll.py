"""The I/O edge towards Exalate: GET every endpoint of every relation of every node, concurrently.

Per node, at most ``concurrency`` requests are in flight over one pooled keep-alive session. Every
outcome, good or bad, becomes an ``Exchange``; nothing here raises past ``poll_nodes``. At the run's
deadline, whatever is unanswered is recorded as ``DeadlineExceeded`` and the caller moves on (worker
threads are daemons bounded by their own timeouts, so a hung node cannot hold the process).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from . import __version__, errors
from .auth import Authenticator
from .config import NodeConfig
from .endpoints import ENDPOINTS, relation_path
from .model import Exchange
from .parse import interpret

log = logging.getLogger(__name__)
# urllib3 logs request lines at DEBUG, query string included: with send_as: query that is the token.
logging.getLogger("urllib3").setLevel(logging.WARNING)

CHUNK_BYTES = 256 * 1024
USER_AGENT = f"exalate-collector/{__version__}"


@dataclass(frozen=True)
class NodeTarget:
    """A node ready to poll: its authenticator, or the failure that prevents polling it at all."""

    node: NodeConfig
    authenticator: Authenticator | None
    setup_failure: errors.PollFailure | None = None


class GetOnlyAdapter(HTTPAdapter):
    """Refuses to send anything but GET: the collector must never change a node's state."""

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
        if request.method != "GET":
            raise RuntimeError(f"exalate-collector sends only GET, refused {request.method}")
        return super().send(request, *args, **kwargs)  # type: ignore[arg-type]


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """A no-op auth: keeps requests from replacing our Authorization header with ~/.netrc."""
    return request


def make_session(node: NodeConfig) -> requests.Session:
    session = requests.Session()
    session.auth = _no_netrc
    adapter = GetOnlyAdapter(pool_connections=1, pool_maxsize=node.concurrency, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def poll_nodes(
    targets: Sequence[NodeTarget],
    deadline: float,
    *,
    session_factory: Callable[[NodeConfig], requests.Session] = make_session,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Exchange]:
    """Poll everything; return one Exchange per (node, relation, endpoint), in configuration order.

    ``deadline`` is a ``monotonic()`` instant.
    """
    jobs = [(t, relation, endpoint) for t in targets for relation in t.node.relations for endpoint in ENDPOINTS]
    results: list[Exchange | None] = [None] * len(jobs)
    cond = threading.Condition()
    sessions: list[requests.Session] = []

    pending = [len(jobs)]  # answers still awaited (a list: mutated from the workers)

    def finish(index: int, exchange: Exchange) -> None:
        with cond:
            if results[index] is None:
                results[index] = exchange
                pending[0] -= 1
                if pending[0] == 0:
                    cond.notify_all()

    by_node: dict[str, list[int]] = {}
    for index, (target, _, _) in enumerate(jobs):
        by_node.setdefault(target.node.name, []).append(index)

    for target in targets:
        indexes = by_node.get(target.node.name, [])
        if target.setup_failure is not None or target.authenticator is None:
            failure = target.setup_failure or errors.InternalError("no authenticator for this node")
            for index in indexes:
                _, relation, endpoint = jobs[index]
                finish(index, _failed(target.node, relation, endpoint, failure))
            continue
        session = session_factory(target.node)
        sessions.append(session)
        work: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in indexes:
            work.put(index)
        for _ in range(min(target.node.concurrency, len(indexes))):
            threading.Thread(
                target=_worker,
                args=(work, jobs, session, deadline, finish, monotonic),
                name=f"poll-{target.node.name}",
                daemon=True,
            ).start()

    with cond:
        while pending[0] > 0:
            left = deadline - monotonic()
            if left <= 0:
                break
            cond.wait(left)
        for index, result in enumerate(results):
            if result is None:
                target, relation, endpoint = jobs[index]
                late = errors.DeadlineExceeded("no answer before the run's deadline")
                results[index] = _failed(target.node, relation, endpoint, late)
        final = [r for r in results if r is not None]
    for session in sessions:
        session.close()
    return final


def _worker(
    work: queue.SimpleQueue[int],
    jobs: list[tuple[NodeTarget, str, str]],
    session: requests.Session,
    deadline: float,
    finish: Callable[[int, Exchange], None],
    monotonic: Callable[[], float],
) -> None:
    while True:
        try:
            index = work.get_nowait()
        except queue.Empty:
            return
        if monotonic() >= deadline:
            return  # leave it unanswered: poll_nodes reports it as DeadlineExceeded
        target, relation, endpoint = jobs[index]
        assert target.authenticator is not None
        try:
            exchange = fetch(session, target.node, target.authenticator, relation, endpoint, deadline, monotonic)
        except Exception:
            log.exception(
                "internal error polling node=%s relation=%s endpoint=%s",
                target.node.name,
                relation,
                endpoint,
                extra={"exalate.node": target.node.name, "exalate.relation": relation, "exalate.endpoint": endpoint},
            )
            exchange = _failed(target.node, relation, endpoint, errors.InternalError("the collector failed (a bug)"))
        finish(index, exchange)


def _failed(node: NodeConfig, relation: str, endpoint: str, failure: errors.PollFailure) -> Exchange:
    return Exchange(
        node=node.name,
        relation=relation,
        endpoint=endpoint,
        url=node.base_url + relation_path(relation, endpoint),
        started_at=datetime.now(UTC),
        elapsed_s=0.0,
        failure=failure,
    )


def fetch(
    session: requests.Session,
    node: NodeConfig,
    authenticator: Authenticator,
    relation: str,
    endpoint: str,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> Exchange:
    """One GET, read and interpreted. Never raises a PollFailure: it is recorded on the Exchange."""
    path = relation_path(relation, endpoint)
    exchange = Exchange(
        node=node.name,
        relation=relation,
        endpoint=endpoint,
        url=node.base_url + path,
        started_at=datetime.now(UTC),
        elapsed_s=0.0,
    )
    start = monotonic()
    budget = min(node.timeout_s, deadline - start)
    deadline_binds = deadline - start < node.timeout_s
    try:
        if budget <= 0:
            raise errors.DeadlineExceeded("the run's deadline came before this request could be sent")
        signed = authenticator.sign(path, {})
        exchange.sent = True
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **signed.headers}
        response = session.get(
            exchange.url,
            headers=headers,
            params=dict(signed.query) or None,
            timeout=(budget, budget),
            allow_redirects=False,
            stream=True,
            verify=node.verify_tls,
        )
        with response:
            exchange.status_code = response.status_code
            exchange.content_type = response.headers.get("Content-Type")
            exchange.content_length = response.headers.get("Content-Length")
            exchange.date = response.headers.get("Date")
            exchange.body = _read_body(response, node, start, deadline, monotonic)
            location = response.headers.get("Location")
        exchange.reading = interpret(endpoint, response.status_code, exchange.content_type, exchange.body, location)
    except errors.PollFailure as failure:
        exchange.failure = failure
    except requests.RequestException as exc:
        exchange.failure = _transport_failure(exc, node, deadline_binds)
    exchange.elapsed_s = monotonic() - start
    if exchange.failure is not None and exchange.failure.status_code is None:
        exchange.failure.status_code = exchange.status_code
    return exchange


def _read_body(
    response: requests.Response, node: NodeConfig, start: float, deadline: float, monotonic: Callable[[], float]
) -> bytes:
    """The whole body, bounded in size (max_body_bytes) and in time (timeout_s, the deadline)."""
    limit = node.max_body_bytes
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.TooLarge(f"Content-Length {declared} exceeds max_body_bytes {limit}", response.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise errors.TooLarge(f"body exceeds max_body_bytes {limit}", response.status_code)
        now = monotonic()
        if now >= deadline:
            raise errors.DeadlineExceeded("the run's deadline came while the body was arriving", response.status_code)
        if now - start > node.timeout_s:
            raise errors.Timeout(f"body not complete after timeout_s {node.timeout_s:g}", response.status_code)
    return b"".join(chunks)  # one copy, no growing buffer: a large body peaks at twice its size, briefly


def _transport_failure(exc: requests.RequestException, node: NodeConfig, deadline_binds: bool) -> errors.PollFailure:
    """Map a requests exception to a PollFailure. ``str(exc)`` is never used: it can hold the URL's token."""
    timed_out = isinstance(exc, requests.Timeout) or any(isinstance(a, ReadTimeoutError) for a in exc.args)
    if timed_out:
        if deadline_binds:
            return errors.DeadlineExceeded("no answer before the run's deadline")
        return errors.Timeout(f"no answer within timeout_s {node.timeout_s:g}")
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.TlsError(f"TLS failed: {_root_cause(exc)}")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return errors.ConnectionFailed("the body could not be decoded (Content-Encoding)")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return errors.ConnectionFailed("the connection broke before the body was complete")
    return errors.ConnectionFailed(f"connection failed: {_root_cause(exc)}")


def _root_cause(exc: BaseException) -> str:
    """A safe description of the innermost cause: an errno text or a class name, never a URL."""
    seen: set[int] = set()
    current: BaseException | None = exc
    best = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "errno", None)
        if isinstance(code, int) and code in errno.errorcode:
            return os.strerror(code).lower()
        name = type(current).__name__
        if name in ("NameResolutionError", "gaierror"):
            return "the host name could not be resolved"
        if name == "SSLCertVerificationError":
            return "certificate verification failed"
        best = name
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        current = current.__cause__ or current.__context__ or (reason if isinstance(reason, BaseException) else None)
        current = current or (nested[0] if nested else None)
    return best
