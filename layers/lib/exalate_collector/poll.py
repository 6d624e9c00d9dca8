"""The I/O edge towards Exalate: GET the planned endpoints of every node, concurrently.

A fixed pool of at most ``max_in_flight`` worker threads serves the whole run, however many nodes
there are; per node, at most ``concurrency`` requests are in flight over pooled keep-alive
connections. Workers take jobs round-robin across nodes, so a slow node holds at most its own
``concurrency`` workers and never starves the others. Every request is bounded by a wall clock
(``timeout_s``, and the run's deadline) enforced by the transport's watchdog. Every outcome, good or
bad, becomes an ``Exchange``; nothing here raises past ``poll_nodes``, and when it returns, none of
its threads or sockets remain.
"""

from __future__ import annotations

import errno
import http.client
import io
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urlsplit

from . import __version__, errors
from .auth import Authenticator
from .budget import MemoryBudget
from .config import DEFAULT_MAX_IN_FLIGHT, NodeConfig
from .endpoints import row
from .model import Exchange
from .parse import interpret, interpret_file
from .transport import Answer, Expired, NodePool, Watchdog, get

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
#: Answers larger than this are parsed slice by slice even in memory: never a second, decoded copy.
STREAM_PARSE_BYTES = 4 * 1024 * 1024
USER_AGENT = f"exalate-collector/{__version__}"
#: How long, past the deadline, ``poll_nodes`` waits for a worker stuck where no socket can be cut
#: (a DNS lookup): such a thread is left behind (a daemon) and a warning says so.
JOIN_GRACE_S = 1.0


@dataclass(frozen=True)
class NodeTarget:
    """A node ready to poll: its authenticator, or the failure that prevents polling it at all."""

    node: NodeConfig
    authenticator: Authenticator | None
    setup_failure: errors.PollFailure | None = None
    #: (relation, endpoint) pairs to GET, in order; relation '' for a once-per-node row (endpoints.plan).
    jobs: tuple[tuple[str, str], ...] = ()


@dataclass(eq=False)
class _NodeQueue:
    target: NodeTarget
    pool: NodePool
    pending: deque[int] = field(default_factory=deque)
    in_flight: int = 0


class _Scheduler:
    """Hands out jobs round-robin over nodes. A node has at most its ``concurrency`` in flight, and at
    most its fair share of the run-wide cap (the cap divided among the nodes that still have work), so
    that a node whose requests all hang holds its share of the workers, never all of them."""

    def __init__(
        self, queues: list[_NodeQueue], max_in_flight: int, deadline: float, monotonic: Callable[[], float]
    ) -> None:
        self._ready = deque(q for q in queues if q.pending)
        self._active = len(self._ready)
        self._cap = max_in_flight
        self._cond = threading.Condition()
        self._deadline = deadline
        self._monotonic = monotonic

    def take(self) -> tuple[_NodeQueue, int] | None:
        """The next job, or None when there is none left (or the deadline passed)."""
        with self._cond:
            while self._ready:
                left = self._deadline - self._monotonic()
                if left <= 0:
                    return None
                share = max(1, -(-self._cap // max(1, self._active)))
                for _ in range(len(self._ready)):
                    queue = self._ready[0]
                    self._ready.rotate(-1)
                    if queue.in_flight < min(queue.target.node.concurrency, share):
                        index = queue.pending.popleft()
                        queue.in_flight += 1
                        if not queue.pending:
                            self._ready.remove(queue)
                        return queue, index
                self._cond.wait(left)  # every node with work is at its limit: wait for one to finish
            return None

    def done(self, queue: _NodeQueue) -> None:
        with self._cond:
            queue.in_flight -= 1
            if not queue.pending and not queue.in_flight:
                self._active -= 1  # its share goes to the nodes still working
                queue.pool.close()  # and its connections go now: ten thousand nodes never hold 10,000 sockets
            self._cond.notify_all()


def poll_nodes(
    targets: Sequence[NodeTarget],
    deadline: float,
    *,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    memory: MemoryBudget | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Exchange]:
    """Poll everything; return one Exchange per (node, relation, endpoint), in configuration order.

    ``deadline`` is a ``monotonic()`` instant. ``memory``: the bytes of answers held in memory at once
    (None: no bound); answers beyond it are kept in temporary files (``Exchange.body_file``).
    """
    jobs = [(t, relation, endpoint) for t in targets for relation, endpoint in t.jobs]
    results: list[Exchange | None] = [None] * len(jobs)
    lock = threading.Lock()

    def finish(index: int, exchange: Exchange) -> None:
        with lock:
            if results[index] is None:
                results[index] = exchange

    queues: list[_NodeQueue] = []
    by_node: dict[str, _NodeQueue] = {}
    for index, (target, relation, endpoint) in enumerate(jobs):
        if target.setup_failure is not None or target.authenticator is None:
            failure = target.setup_failure or errors.InternalError("no authenticator for this node")
            finish(index, _failed(target.node, relation, endpoint, failure))
            continue
        queue = by_node.get(target.node.name)
        if queue is None:
            node = target.node
            queue = by_node[node.name] = _NodeQueue(target, NodePool(node.base_url, node.verify_tls, node.concurrency))
            queues.append(queue)
        queue.pending.append(index)

    scheduler = _Scheduler(queues, max_in_flight, deadline, monotonic)
    watchdog = Watchdog(monotonic)
    watchdog.start()
    workers = _start_workers(
        min(max_in_flight, sum(len(q.pending) for q in queues)),
        lambda: _worker(scheduler, jobs, watchdog, deadline, finish, monotonic, memory),
    )
    try:
        if not workers and any(q.pending for q in queues):
            _worker(scheduler, jobs, watchdog, deadline, finish, monotonic, memory)  # no thread at all: poll here
        for thread in workers:
            thread.join(max(0.0, deadline - monotonic()) + JOIN_GRACE_S)
        stuck = sum(1 for thread in workers if thread.is_alive())
        if stuck:
            log.warning("%d polling threads still blocked after the deadline (DNS?); left behind", stuck)
    finally:
        watchdog.stop()
        for queue in queues:
            queue.pool.close()
    with lock:
        for index, result in enumerate(results):
            if result is None:
                target, relation, endpoint = jobs[index]
                late = errors.DeadlineExceeded("no answer before the run's deadline")
                results[index] = _failed(target.node, relation, endpoint, late)
        return [r for r in results if r is not None]


def _start_workers(wanted: int, work: Callable[[], None]) -> list[threading.Thread]:
    """Up to ``wanted`` worker threads; fewer (even none) when the system refuses more, with a warning."""
    started: list[threading.Thread] = []
    for number in range(wanted):
        thread = threading.Thread(target=work, name=f"poll-{number}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            log.warning(
                "could start only %d of %d polling threads (thread limit reached); polling with fewer",
                len(started),
                wanted,
                extra={"threads.started": len(started), "threads.wanted": wanted},
            )
            break
        started.append(thread)
    return started


def _worker(
    scheduler: _Scheduler,
    jobs: list[tuple[NodeTarget, str, str]],
    watchdog: Watchdog,
    deadline: float,
    finish: Callable[[int, Exchange], None],
    monotonic: Callable[[], float],
    memory: MemoryBudget | None,
) -> None:
    thread = threading.current_thread()
    name = thread.name
    while (job := scheduler.take()) is not None:
        queue, index = job
        target, relation, endpoint = jobs[index]
        assert target.authenticator is not None
        thread.name = f"poll-{target.node.name}"
        try:
            node, authenticator = target.node, target.authenticator
            exchange = fetch(queue.pool, node, authenticator, relation, endpoint, deadline, watchdog, monotonic, memory)
            if isinstance(exchange.failure, errors.Unauthorized) and target.authenticator.renew():
                exchange.release_body()
                # a login token the node no longer takes: obtained again (once per run), this GET retried once
                exchange = fetch(
                    queue.pool,
                    target.node,
                    target.authenticator,
                    relation,
                    endpoint,
                    deadline,
                    watchdog,
                    monotonic,
                    memory,
                )
        except Exception:
            log.exception(
                "internal error polling node=%s relation=%s endpoint=%s",
                target.node.name,
                relation,
                endpoint,
                extra={"exalate.node": target.node.name, "exalate.relation": relation, "exalate.endpoint": endpoint},
            )
            exchange = _failed(target.node, relation, endpoint, errors.InternalError("the collector failed (a bug)"))
        finally:
            thread.name = name
            scheduler.done(queue)
        finish(index, exchange)


def _failed(node: NodeConfig, relation: str, endpoint: str, failure: errors.PollFailure) -> Exchange:
    return Exchange(
        node=node.name,
        relation=relation,
        endpoint=endpoint,
        url=row(endpoint).url(node.base_url, relation),
        started_at=datetime.now(UTC),
        elapsed_s=0.0,
        failure=failure,
    )


def fetch(
    pool: NodePool,
    node: NodeConfig,
    authenticator: Authenticator,
    relation: str,
    endpoint: str,
    deadline: float,
    watchdog: Watchdog,
    monotonic: Callable[[], float] = time.monotonic,
    memory: MemoryBudget | None = None,
) -> Exchange:
    """One GET, read and interpreted. Never raises a PollFailure: it is recorded on the Exchange."""
    spec = row(endpoint)
    path, query = spec.url_path(relation), dict(spec.query)
    exchange = Exchange(
        node=node.name,
        relation=relation,
        endpoint=endpoint,
        url=spec.url(node.base_url, relation),
        started_at=datetime.now(UTC),
        elapsed_s=0.0,
    )
    start = monotonic()
    budget = min(node.timeout_s, deadline - start)
    deadline_binds = deadline - start < node.timeout_s
    try:
        if budget <= 0:
            raise errors.DeadlineExceeded("the run's deadline came before this request could be sent")
        signed = authenticator.sign(path, query)
        exchange.sent = True
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **signed.headers}

        def read(answer: Answer) -> tuple[bytes, BinaryIO | None]:
            exchange.status_code = answer.status
            exchange.content_type = answer.headers.get("Content-Type")
            exchange.content_length = answer.headers.get("Content-Length")
            exchange.date = answer.headers.get("Date")
            encoding = (answer.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity" and 200 <= answer.status < 300:  # never inflated: no gzip bomb
                raise errors.InvalidJson(
                    f"the answer is compressed (Content-Encoding: {encoding[:32]}) though none was asked for; a proxy?",
                    answer.status,
                )
            return _read_body(answer, node, start + budget, monotonic, memory)

        answer, (exchange.body, exchange.body_file) = get(
            pool, (node.context_path + path, {**query, **signed.query}), headers, budget, watchdog, read, monotonic
        )
        location = answer.headers.get("Location")
        if exchange.body_file is not None or len(exchange.body) > STREAM_PARSE_BYTES:
            body = exchange.body_file or io.BytesIO(exchange.body)  # shares the bytes: no copy
            exchange.reading = interpret_file(endpoint, answer.status, exchange.content_type, body, location)
        else:
            exchange.reading = interpret(endpoint, answer.status, exchange.content_type, exchange.body, location)
    except errors.PollFailure as failure:
        exchange.failure = failure
    except (Expired, TimeoutError):
        exchange.failure = _late(node, deadline_binds, exchange.status_code)
    except (OSError, http.client.HTTPException) as exc:
        exchange.failure = _transport_failure(exc, node)
    exchange.elapsed_s = monotonic() - start
    if exchange.failure is not None and exchange.failure.status_code is None:
        exchange.failure.status_code = exchange.status_code
    return exchange


def _read_body(
    answer: Answer, node: NodeConfig, until: float, monotonic: Callable[[], float], memory: MemoryBudget | None
) -> tuple[bytes, BinaryIO | None]:
    """The whole body, bounded in size (max_body_bytes): in memory while the run's memory budget has
    room for it, else in an anonymous temporary file (the body then is b''). Time is bounded by the
    watchdog (and, should it be missing, by this loop's own check between reads)."""
    limit = node.max_body_bytes
    declared = answer.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.TooLarge(f"Content-Length {declared} exceeds max_body_bytes {limit}", answer.status)
    chunks: list[bytes] = []
    size = reserved = 0
    spill: BinaryIO | None = None
    if memory is not None and declared.isdigit():
        if memory.reserve(int(declared)):
            reserved = int(declared)
        else:
            spill = _spill_file(memory)
    try:
        while chunk := answer.response.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise errors.TooLarge(f"body exceeds max_body_bytes {limit}", answer.status)
            if monotonic() >= until:
                raise Expired()
            if spill is None and memory is not None and size > reserved:
                if memory.reserve(size - reserved):
                    reserved = size
                else:  # over the budget: this answer goes to disk, with what it had so far
                    spill = _spill_file(memory)
                    spill.writelines(chunks)
                    chunks.clear()
                    memory.release(reserved)
                    reserved = 0
            if spill is not None:
                spill.write(chunk)
            else:
                chunks.append(chunk)
    except BaseException:
        if memory is not None:
            memory.release(reserved)
        if spill is not None:
            spill.close()
        raise
    if memory is not None and reserved > size:
        memory.release(reserved - size)  # a Content-Length larger than the body (cut short)
    if spill is not None:
        spill.flush()
        return b"", spill
    return b"".join(chunks), None  # one copy, no growing buffer: a large body peaks at twice its size, briefly


def _spill_file(memory: MemoryBudget) -> BinaryIO:
    memory.count_spill()
    return tempfile.TemporaryFile(prefix="exalate-answer-")  # unlinked at once: gone when closed


def _late(node: NodeConfig, deadline_binds: bool, status: int | None) -> errors.PollFailure:
    """Cut by the clock: the detail says how far the answer got (none, or status and headers)."""
    what = "body not complete" if status is not None else "no status line and headers"
    if deadline_binds:
        return errors.DeadlineExceeded(f"{what} before the run's deadline", status)
    return errors.Timeout(f"{what} within timeout_s {node.timeout_s:g}", status)


def _transport_failure(exc: BaseException, node: NodeConfig) -> errors.PollFailure:
    """Map a transport exception to a PollFailure naming where it went (host:port) and what to check.

    ``str(exc)`` is never used: it could hold a URL."""
    where = address(node.base_url)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return errors.TlsError(f"TLS with {where} failed: {_root_cause(exc)}; check verify_tls")
    if isinstance(exc, http.client.HTTPException | ConnectionResetError | BrokenPipeError):
        return errors.ConnectionFailed(f"the connection to {where} broke before the answer was complete")
    if isinstance(exc, socket.gaierror):
        return errors.ConnectionFailed(f"connection to {where} failed: the host name could not be resolved")
    return errors.ConnectionFailed(
        f"connection to {where} failed: {_root_cause(exc)}; is the node up, and is base_url right?"
    )


def address(url: str) -> str:
    """``https://jira.example.com/jira`` -> ``jira.example.com:443``: where a connection goes."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
