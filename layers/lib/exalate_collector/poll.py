"""The I/O edge towards Exalate: GET the planned endpoints of every node, concurrently, on asyncio.

One event loop per poll (``asyncio.run``) serves the whole run, however many nodes there are. At most
``max_in_flight`` requests are in flight run-wide and at most ``concurrency`` per node, each node's
over its own ``NodeClient`` (keep-alive connections, closed as soon as the node's last request is
done). Requests are handed out round-robin across nodes, and a node gets at most its fair share of the
run-wide cap (the cap divided among the nodes that still have work), so a node whose requests all
hang holds its share, never all of it. Every request is bounded by a wall clock (``timeout_s``, and
the run's deadline). Every outcome, good or bad, becomes an ``Exchange``; nothing here raises past
``poll_nodes``, and when it returns no task, thread or socket of it remains (a host-name lookup that
hangs excepted: it is left on its daemon thread).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import aiohttp

from . import errors
from .auth import Authenticator
from .budget import AnswerBudget
from .client import RESOLVER_THREADS, USER_AGENT, Answer, NodeClient
from .config import DEFAULT_MAX_IN_FLIGHT, NodeConfig
from .endpoints import row
from .model import Exchange
from .parse import interpret, interpret_file
from .request_failures import failure_of
from .text import printable

log = logging.getLogger(__name__)

#: Answers larger than this are parsed slice by slice even in memory: never a second, decoded copy.
STREAM_PARSE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class NodeTarget:
    """A node ready to poll: its authenticator, or the failure that prevents polling it at all."""

    node: NodeConfig
    authenticator: Authenticator | None
    setup_failure: errors.PollFailure | None = None
    #: (relation, endpoint) pairs to GET, in order; relation '' for a once-per-node row (endpoints.plan).
    jobs: tuple[tuple[str, str], ...] = ()


class Listener(Protocol):
    """Told of each answer as it is final and of each node as its last request is over, on the event
    loop (runner.py archives and builds points meanwhile): quick, and never raising."""

    def answered(self, position: int, exchange: Exchange) -> None:
        """``exchange`` is the node's job number ``position`` (its index in ``NodeTarget.jobs``)."""

    def node_done(self, node: str) -> None:
        """Every job of ``node`` was answered (not called for a node cut off by the deadline)."""


@dataclass(eq=False)
class _NodeQueue:
    target: NodeTarget
    client: NodeClient
    pending: deque[int] = field(default_factory=deque)
    in_flight: int = 0


class _Scheduler:
    """Hands out jobs round-robin over nodes, within the run-wide cap, each node's ``concurrency`` and
    its fair share of the cap."""

    def __init__(
        self, queues: list[_NodeQueue], max_in_flight: int, deadline: float, monotonic: Callable[[], float]
    ) -> None:
        self._ready = deque(q for q in queues if q.pending)
        self._active = len(self._ready)
        self._cap = max_in_flight
        self._in_flight = 0
        self._deadline = deadline
        self._monotonic = monotonic
        self._changed = asyncio.Event()
        self.closing: list[asyncio.Task[None]] = []

    async def take(self) -> tuple[_NodeQueue, int] | None:
        """The next job, or None when there is none left (or the deadline passed)."""
        while self._ready:
            left = self._deadline - self._monotonic()
            if left <= 0:
                return None
            if self._in_flight < self._cap:
                share = max(1, -(-self._cap // max(1, self._active)))
                for _ in range(len(self._ready)):
                    queue = self._ready[0]
                    self._ready.rotate(-1)
                    if queue.in_flight < min(queue.target.node.concurrency, share):
                        index = queue.pending.popleft()
                        queue.in_flight += 1
                        self._in_flight += 1
                        if not queue.pending:
                            self._ready.remove(queue)
                        return queue, index
            self._changed.clear()  # every node with work is at its limit: wait for one to finish
            try:
                async with asyncio.timeout(left):
                    await self._changed.wait()
            except TimeoutError:
                return None
        return None

    def done(self, queue: _NodeQueue) -> bool:
        """One job of ``queue`` is over; True when it was the node's last."""
        queue.in_flight -= 1
        self._in_flight -= 1
        last = not queue.pending and not queue.in_flight
        if last:
            self._active -= 1  # its share goes to the nodes still working
            # and its connections go now: ten thousand nodes never hold 10,000 sockets
            self.closing.append(asyncio.ensure_future(queue.client.close()))
        self._changed.set()
        return last


def poll_nodes(
    targets: Sequence[NodeTarget],
    deadline: float,
    *,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    memory: AnswerBudget | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    listener: Listener | None = None,
) -> list[Exchange]:
    """Poll everything; return one Exchange per (node, relation, endpoint), in configuration order.

    ``deadline`` is a ``monotonic()`` instant. ``memory``: the bytes of answers held in memory at once
    (None: no bound); answers beyond it are kept in temporary files (``Exchange.body_file``).
    ``listener`` hears of each answer polled as it arrives (not of those failed before polling, nor of
    those the deadline cut off: they are in the list returned only).
    """
    return asyncio.run(_poll(targets, deadline, max_in_flight, memory, monotonic, listener))


async def _poll(
    targets: Sequence[NodeTarget],
    deadline: float,
    max_in_flight: int,
    memory: AnswerBudget | None,
    monotonic: Callable[[], float],
    listener: Listener | None,
) -> list[Exchange]:
    jobs = [(t, relation, endpoint, position) for t in targets for position, (relation, endpoint) in enumerate(t.jobs)]
    results: list[Exchange | None] = [None] * len(jobs)
    slots = asyncio.Semaphore(RESOLVER_THREADS)
    queues: list[_NodeQueue] = []
    by_node: dict[str, _NodeQueue] = {}
    for index, (target, relation, endpoint, _) in enumerate(jobs):
        if target.setup_failure is not None or target.authenticator is None:
            failure = target.setup_failure or errors.InternalError("no authenticator for this node")
            results[index] = _failed(target.node, relation, endpoint, failure)
            continue
        queue = by_node.get(target.node.name)
        if queue is None:
            client = NodeClient(target.node, slots, memory, monotonic)
            queue = by_node[target.node.name] = _NodeQueue(target, client)
            queues.append(queue)
        queue.pending.append(index)

    scheduler = _Scheduler(queues, max_in_flight, deadline, monotonic)

    async def run_job(queue: _NodeQueue, index: int) -> None:
        target, relation, endpoint, position = jobs[index]
        try:
            try:
                exchange = await _fetch_once_more_after_a_login_expired(
                    queue, target, relation, endpoint, deadline, monotonic
                )
            except Exception:
                log.exception(
                    "internal error polling node=%s relation=%s endpoint=%s",
                    target.node.name,
                    relation,
                    endpoint,
                    extra={
                        "exalate.node": target.node.name,
                        "exalate.relation": relation,
                        "exalate.endpoint": endpoint,
                    },
                )
                exchange = _failed(
                    target.node, relation, endpoint, errors.InternalError("the collector failed (a bug)")
                )
            results[index] = exchange
            if listener is not None:
                listener.answered(position, exchange)
        finally:
            if scheduler.done(queue) and listener is not None:
                listener.node_done(target.node.name)

    try:
        async with asyncio.TaskGroup() as group:
            while (job := await scheduler.take()) is not None:
                group.create_task(run_job(*job), name=f"poll-{job[0].target.node.name}")
    finally:
        await asyncio.gather(*scheduler.closing, *(q.client.close() for q in queues), return_exceptions=True)
    for index, result in enumerate(results):
        if result is None:
            target, relation, endpoint, _ = jobs[index]
            late = errors.DeadlineExceeded("no answer before the run's deadline")
            results[index] = _failed(target.node, relation, endpoint, late)
    return [r for r in results if r is not None]


async def _fetch_once_more_after_a_login_expired(
    queue: _NodeQueue, target: NodeTarget, relation: str, endpoint: str, deadline: float, monotonic: Callable[[], float]
) -> Exchange:
    assert target.authenticator is not None
    exchange = await fetch(queue.client, target.authenticator, relation, endpoint, deadline, monotonic)
    if isinstance(exchange.failure, errors.Unauthorized) and target.authenticator.renew():
        exchange.release_body()
        # a login token the node no longer takes: obtained again (once per run), this GET retried once
        exchange = await fetch(queue.client, target.authenticator, relation, endpoint, deadline, monotonic)
    return exchange


#: Content codings whose names a failure may repeat (RFC 9110 and the IANA registry).
_CODINGS = frozenset(
    {"gzip", "x-gzip", "deflate", "br", "compress", "x-compress", "zstd", "aes128gcm", "exi", "pack200-gzip"}
)


def _header(answer: Answer, name: str) -> str | None:
    """A header as the collector may keep it: valid UTF-8 (aiohttp keeps a byte that is not as a lone
    surrogate, which no exporter can encode) and printable, at most 512 characters."""
    value = answer.headers.get(name)
    return None if value is None else printable(value[:512])


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


async def fetch(
    client: NodeClient,
    authenticator: Authenticator,
    relation: str,
    endpoint: str,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> Exchange:
    """One GET, read and interpreted. Never raises a PollFailure: it is recorded on the Exchange."""
    node = client.node
    spec = row(endpoint)
    path, query = spec.url_path(relation), dict(spec.query)
    exchange = Exchange(
        node=node.name,
        relation=relation,
        endpoint=endpoint,
        url=node.base_url + path + spec.query_string,  # spec.url, without quoting the relation twice
        started_at=datetime.now(UTC),
        elapsed_s=0.0,
    )
    start = monotonic()
    budget = min(node.timeout_s, deadline - start)
    deadline_binds = deadline - start < node.timeout_s
    try:
        if budget <= 0:
            raise errors.DeadlineExceeded("the run's deadline came before this request could be sent")
        await authenticator.prepare(client, start + budget)
        signed = authenticator.sign(path, query)
        exchange.sent = True
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **signed.headers}

        def head(answer: Answer) -> None:
            exchange.status_code = answer.status
            exchange.content_type = _header(answer, "Content-Type")
            exchange.content_length = _header(answer, "Content-Length")
            exchange.date = _header(answer, "Date")
            encoding = (answer.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity" and 200 <= answer.status < 300:  # never inflated: no gzip bomb
                # only a coding's registered name is repeated: the node's own text could be anything
                named = encoding if encoding in _CODINGS else "an unknown coding"
                raise errors.InvalidJson(
                    f"the answer is compressed (Content-Encoding: {named}) though none was asked for; a proxy?",
                    answer.status,
                )

        answer = await client.send(
            "GET", node.context_path + path, {**query, **signed.query}, headers, start + budget, on_head=head
        )
        exchange.body, exchange.body_file = answer.body, answer.body_file
        location = _header(answer, "Location")
        if exchange.body_file is not None or len(exchange.body) > STREAM_PARSE_BYTES:
            body = exchange.body_file or io.BytesIO(exchange.body)  # shares the bytes: no copy
            exchange.reading = interpret_file(endpoint, answer.status, exchange.content_type, body, location)
        else:
            exchange.reading = interpret(endpoint, answer.status, exchange.content_type, exchange.body, location)
    except (errors.PollFailure, TimeoutError, OSError, aiohttp.ClientError) as exc:
        exchange.failure = failure_of(exc, node, deadline_binds=deadline_binds, status=exchange.status_code)
    exchange.elapsed_s = monotonic() - start
    if exchange.failure is not None and exchange.failure.status_code is None:
        exchange.failure.status_code = exchange.status_code
    return exchange
