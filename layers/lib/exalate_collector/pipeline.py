"""What a run does with each answer while the others are still being polled (issue 23).

Polling waits on the network most of the time. Meanwhile, on the event loop, each final answer is
written into its node's archive payload (gzip JSON Lines, in the node's job order: an answer that
arrives before an earlier one waits for it), its body is let go, and its metric points are computed;
when a node's last request is over, its payload is handed to the archive sink on one background
thread. What polling could not finish (answers the deadline cut off, nodes not polled at all) is done
by ``finish`` after polling. The records, their order and the points are the same as if everything
had been done after polling: only the time and the memory differ.

The archive sink blocks, the event loop must not: hand-offs run on a background thread, one node at a
time, each within the archive phase's ``Deadline`` (runner.py reads the series state on a second one,
so that neither waits for the other).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from .archive.records import JsonlGzWriter
from .archive.sinks import ArchiveSink, NodeBatch
from .deadline import Deadline
from .errors import ArchiveFailure, ArchiveWriteFailed
from .model import Exchange
from .telemetry.points import Point, exchange_points

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ArchiveOutcome:
    #: node -> where its records went (a path, an s3:// URL, "inline" or the claim-check object)
    delivered: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[str, ArchiveFailure]] = field(default_factory=list)


class Background:
    """One worker thread, started on first use, for blocking I/O of a run: its jobs run in turn."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, job: Callable[[], T]) -> Future[T]:
        """``job`` runs after those submitted before it; it bounds its own I/O (its ``Deadline``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exalate-background")
        return self._pool.submit(job)

    def close(self) -> None:
        """Wait for what was submitted (each job is bounded by its own instant), then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass(eq=False)
class _NodeArchive:
    writer: JsonlGzWriter = field(default_factory=JsonlGzWriter)
    #: the next job position to write; answers of later positions wait in ``early``
    next: int = 0
    early: dict[int, Exchange] = field(default_factory=dict)
    handed: bool = False
    failure: ArchiveFailure | None = None


class AnswerPipeline:
    """A ``poll.Listener``: archives and computes points as answers arrive (see the module's text)."""

    def __init__(
        self,
        run_id: str,
        started_at: datetime,
        background: Background,
        sink: ArchiveSink | None = None,
        archive_by: Deadline = Deadline.NONE,
        listed: Sequence[Exchange] = (),
    ) -> None:
        self.run_id = run_id
        self.started_at = started_at
        self.outcome = ArchiveOutcome() if sink is not None else None
        self._sink = sink
        self._deadline = archive_by
        self._background = background
        self._nodes: dict[str, _NodeArchive] = {}
        self._points: dict[int, list[Point]] = {}  # id(exchange) -> its points
        for ex in listed:  # a node's connection list comes first in its archive
            self._points[id(ex)] = exchange_points(ex)
            self._write(self._node(ex.node), ex)

    # poll.Listener: on the event loop; never raises (a failure here is the archive's, reported)
    def answered(self, position: int, exchange: Exchange) -> None:
        try:
            self._points[id(exchange)] = exchange_points(exchange)
        except Exception:
            log.exception("points of node %s could not be computed now; again after polling", exchange.node)
        if self._sink is None:
            exchange.release_body()  # only the archive needs it
            return
        node = self._node(exchange.node)
        node.early[position] = exchange
        while node.next in node.early:
            self._write(node, node.early.pop(node.next))
            node.next += 1

    def node_done(self, node: str) -> None:
        if self._sink is not None:
            self._hand_off(node, self._node(node))

    def points_of(self, exchange: Exchange) -> list[Point]:
        """The points computed as ``exchange`` arrived (each taken once), else computed now."""
        found = self._points.pop(id(exchange), None)
        return exchange_points(exchange) if found is None else found

    def finish(self, polled: Iterable[Exchange], order: Sequence[str]) -> ArchiveOutcome | None:
        """After polling: archive what polling left (``polled``: every job's exchange, in job order per
        node), hand off every node not handed off yet, wait for the hand-offs; ``order``: the nodes'
        configuration order, that of the outcome."""
        if self._sink is None or self.outcome is None:
            return None
        jobs: dict[str, list[Exchange]] = {}
        for ex in polled:
            jobs.setdefault(ex.node, []).append(ex)
        for name, exchanges in jobs.items():
            node = self._node(name)
            if node.handed:
                continue
            for ex in exchanges[node.next :]:
                self._write(node, ex)
            node.next = len(exchanges)
            node.early.clear()
        for name, node in self._nodes.items():
            if not node.handed:
                self._hand_off(name, node)
        self._background.close()
        rank = {name: index for index, name in enumerate(order)}
        self.outcome.failures.sort(key=lambda item: rank.get(item[0], len(rank)))
        delivered = sorted(self.outcome.delivered.items(), key=lambda item: rank.get(item[0], len(rank)))
        self.outcome.delivered = dict(delivered)  # handed off as each node finished: told in the configuration's order
        for name, problem in self.outcome.failures:
            log.error(
                "archive failed: node=%s error.type=%s: %s",
                name,
                problem.error_type,
                problem.detail,
                extra={"run_id": self.run_id, "exalate.node": name, "error.type": problem.error_type},
            )
        return self.outcome

    def _node(self, name: str) -> _NodeArchive:
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _NodeArchive()
        return node

    def _write(self, node: _NodeArchive, ex: Exchange) -> None:
        if node.failure is None:
            try:
                node.writer.add(self.run_id, ex)
            except Exception as exc:
                log.exception(
                    "archive record of node %s could not be written", ex.node, extra={"exalate.node": ex.node}
                )
                node.failure = ArchiveWriteFailed(f"unexpected {type(exc).__name__}")
        ex.release_body()  # in the archive payload now: the body is not needed for telemetry

    def _hand_off(self, name: str, node: _NodeArchive) -> None:
        node.handed = True
        assert self.outcome is not None
        if node.failure is not None:
            self.outcome.failures.append((name, node.failure))
            return
        try:
            payload = node.writer.finish()
        except Exception as exc:  # on the event loop: never past here
            log.exception("archive payload of node %s could not be finished", name, extra={"exalate.node": name})
            self.outcome.failures.append((name, ArchiveWriteFailed(f"unexpected {type(exc).__name__}")))
            return
        batch = NodeBatch(self.run_id, name, self.started_at, node.writer.records, payload)
        self._background.submit(lambda: self._deliver(batch))

    def _deliver(self, batch: NodeBatch) -> None:
        """On the background thread, one node at a time."""
        assert self._sink is not None and self.outcome is not None
        node = batch.node
        try:
            if self._deadline.expired:
                raise ArchiveWriteFailed("no time left in the run's budget: not handed off")
            self.outcome.delivered[node] = where = self._sink.deliver(batch, self._deadline)
            log.debug(
                "archive node=%s: %d records, %d bytes (gzip JSON Lines) to %s",
                node,
                batch.records,
                batch.payload.size,
                where,
                extra={"run_id": self.run_id, "exalate.node": node},
            )
        except ArchiveFailure as failure:
            self.outcome.failures.append((node, failure))
        except Exception as exc:
            log.exception("archive sink failed for node %s", node, extra={"exalate.node": node})
            self.outcome.failures.append((node, ArchiveWriteFailed(f"unexpected {type(exc).__name__}")))
        finally:
            batch.payload.close()
