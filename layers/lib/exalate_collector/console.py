"""A readable summary of one run, for the console (cron users, the demo). Pure: data in, text out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from .endpoints import BLOB_ERRORS, SYNC_ERRORS
from .errors import ConnectionNotFound
from .model import Exchange
from .telemetry.names import POLL_FAILURE_EVENT
from .telemetry.points import RunTelemetry
from .text import printable


def _status(ex: Exchange) -> str:
    if ex.failure is None:
        return "ok"
    code = f" (HTTP {ex.failure.status_code})" if ex.failure.status_code is not None else ""
    return f"{ex.failure.error_type}{code}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    rows = [[printable(str(c)) for c in row] for row in rows]  # node text: no escape sequence, no newline
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _age(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def _oldest(ex: Exchange, ages: Mapping[tuple[object, ...], float]) -> str:
    if ex.reading is None or ex.reading.items == 0:
        return "-"  # nothing waiting: no age
    return _age(ages.get((ex.node, ex.relation, ex.endpoint)))


def summary(exchanges: Sequence[Exchange], telemetry: RunTelemetry) -> str:
    """The table (each failed poll once, in its row), the other events, and the counts."""
    ages: dict[tuple[object, ...], float] = {
        (p.attributes["exalate.node"], p.attributes["exalate.relation"], p.attributes["exalate.endpoint"]): p.value
        for p in telemetry.named("exalate.queue.oldest_age")
    }
    rows = [
        [
            ex.node,
            ex.relation,
            ex.endpoint,
            str(ex.reading.items) if ex.reading else "-",
            _oldest(ex, ages),
            _status(ex),
        ]
        for ex in exchanges
    ]
    parts = [table(rows, ["node", "relation", "endpoint", "items", "oldest", "status"])]
    others = [e for e in telemetry.events if e.name != POLL_FAILURE_EVENT]
    failures = len(telemetry.events) - len(others)
    if telemetry.events:
        also = f", of which {failures} {POLL_FAILURE_EVENT}: the failed rows above" if failures else ""
        parts.append(f"\nevents ({len(telemetry.events)}{also}):")
        for event in others:
            place = ("exalate.node", "exalate.relation")  # a node-wide event has no relation
            where = "/".join(str(event.attributes[k]) for k in place if k in event.attributes)
            keys = (
                "exalate.error.reason",
                "exalate.issue.key",
                "error.type",
                "http.response.status_code",
                "exalate.error.duration",
            )
            detail = " ".join(f"{k.rsplit('.', 1)[-1]}={event.attributes[k]}" for k in keys if k in event.attributes)
            line = printable(f"{where} {detail}")
            parts.append(f"  {event.severity:<5} {event.name:<27} {line}\n        {printable(event.body)}")
    failed = sum(1 for ex in exchanges if ex.failure is not None)
    parts.append(f"\n{len(exchanges)} polls, {failed} failed, {len(telemetry.points)} metric points")
    return "\n".join(parts)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


_ERROR_QUEUES = ((SYNC_ERRORS, "sync error"), (BLOB_ERRORS, "blob error"))


def _errors(exchanges: Sequence[Exchange], healthy: Sequence[Sequence[Exchange]], endpoint: str, kind: str) -> str:
    """``4 sync errors``; with the count of the healthy relations whose error queue failed to poll."""
    count = sum(ex.reading.items for ex in exchanges if ex.reading and ex.endpoint == endpoint)
    polled = [ex for polls in healthy for ex in polls if ex.endpoint == endpoint]
    unread = sum(1 for ex in polled if ex.failure is not None)
    if not unread:
        return _count(count, kind)
    of = f"{unread} of {_count(len(polled), 'relation')} unread"
    return f"{kind}s unknown ({of})" if unread == len(polled) else f"{_count(count, kind)} ({of})"


def verdict(exchanges: Sequence[Exchange]) -> str:
    """The run in plain words: ``2 relations healthy, 1 removed on the other side; 1 sync error; ...``.

    A relation is *removed* when the node says the connection does not exist, *not reachable* when
    no endpoint of it answered, *healthy* otherwise; errors are the items waiting in the error queues.
    An error queue of a healthy relation that failed to poll was not counted, and the verdict says so
    (``3 blob errors (1 of 5 relations unread)``, ``blob errors unknown (2 of 2 relations unread)``):
    a failed endpoint never reads as "0 errors".
    """
    by_relation: dict[tuple[str, str], list[Exchange]] = {}
    for ex in exchanges:
        if ex.relation:  # the 4.0 API's once-per-node endpoints belong to no relation
            by_relation.setdefault((ex.node, ex.relation), []).append(ex)
    kinds: Counter[str] = Counter()
    healthy: list[list[Exchange]] = []
    for polls in by_relation.values():
        if any(isinstance(ex.failure, ConnectionNotFound) for ex in polls):
            kinds["removed on the other side"] += 1
        elif all(ex.failure is not None for ex in polls):
            kinds["not reachable"] += 1
        else:
            kinds["healthy"] += 1
            healthy.append(polls)
    present = [(kind, kinds[kind]) for kind in ("healthy", "removed on the other side", "not reachable") if kinds[kind]]
    phrases = []
    for index, (kind, count) in enumerate(present):  # "2 relations healthy, 1 removed on the other side"
        noun = (" relation" if count == 1 else " relations") if index == 0 else ""
        phrases.append(f"{count}{noun} {kind}")
    relations = ", ".join(phrases)
    errors = ", ".join(_errors(exchanges, healthy, endpoint, kind) for endpoint, kind in _ERROR_QUEUES)
    parts = [relations or "no relation polled", errors]
    other = Counter(
        ex.failure.error_type
        for ex in exchanges
        if ex.failure is not None and not isinstance(ex.failure, ConnectionNotFound)
    )
    if other:
        listed = ", ".join(f"{kind} x{count}" for kind, count in sorted(other.items()))
        parts.append(f"{_count(sum(other.values()), 'other failed poll')} ({listed})")
    return "verdict: " + "; ".join(parts)
