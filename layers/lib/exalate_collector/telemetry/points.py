"""Pure mapping: the exchanges of one run -> the metric points and events that run reports.

Nothing here touches the network, AWS or OpenTelemetry: the result is plain data that the SDK edge
(``otel.py``) records and the console summary prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..endpoints import Endpoint, row
from ..errors import ArchiveFailure, ConnectionNotFound
from ..model import Discovery, Exchange
from ..state.model import StateReport
from . import names
from .events import error_event, exchange_events, node_failure_event, resolved_event, state_events
from .measurements import (
    EVENT_NAME,
    Attributes,
    AttributeValue,
    Event,
    Point,
    RunTelemetry,
    SeriesKey,
    series_key,
    shared_pair,
    shared_pairs,
    where_of,
)
from .names import (
    ARCHIVE_FAILURE_EVENT,
    ARCHIVE_FAILURES,
    CONNECTION_STATUS,
    DISCOVERY_FAILURE_EVENT,
    DISCOVERY_FAILURES,
    ENDPOINT_UP,
    EXPORT_DROPPED,
    EXPORT_FAILURE_EVENT,
    EXPORT_REQUESTS,
    POLL_DURATION,
    POLL_ERRORS,
    POLL_FAILURE_EVENT,
    QUEUE_OLDEST_AGE,
    QUEUE_STUCK,
    RELATION_UP,
    STATE_FAILURE_EVENT,
)
from .names import COLLECTOR_RUN_DURATION as RUN_DURATION

#: Their home is measurements.py and events.py; imported from here too (the run's telemetry interface).
__all__ = [
    "EVENT_NAME",
    "POLL_FAILURE_EVENT",  # emitted by events.py: named here too, so that this module lists every name
    "STATE_FAILURE_EVENT",
    "AttributeValue",
    "Attributes",
    "Event",
    "Point",
    "RunTelemetry",
    "SeriesKey",
    "error_event",
    "exchange_events",
    "node_failure_event",
    "resolved_event",
    "series_key",
    "shared_pair",
    "shared_pairs",
    "state_events",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Metrics and events that do not come from the endpoint table (endpoints.py names the others) are the
# contract's own names (names.py, generated from contract.yaml): imported above, never typed here. The
# Zabbix output's own are named here too, so that this module lists every name a run emits.
ZABBIX_VALUES = names.ZABBIX_VALUES
ZABBIX_FAILURES = names.ZABBIX_FAILURES
ZABBIX_FAILURE_EVENT = names.ZABBIX_FAILURE_EVENT


def _value_attributes(ex: Exchange, spec: Endpoint) -> dict[str, AttributeValue]:
    """The attributes of a row's value: per endpoint for relation rows; the direction of a 4.0 total."""
    if spec.per_relation:
        return {**where_of(ex), "exalate.endpoint": ex.endpoint}
    if spec.direction is not None:
        return {"exalate.node": ex.node, "exalate.queue.direction": spec.direction}
    return {"exalate.node": ex.node}


def run_telemetry(
    exchanges: Sequence[Exchange],
    run_duration_s: float,
    archive_failures: Sequence[tuple[str, ArchiveFailure]] = (),
    report: StateReport | None = None,
    discoveries: Sequence[Discovery] = (),
    observed_at: float | None = None,
    points_of: Callable[[Exchange], list[Point]] | None = None,
) -> RunTelemetry:
    """Everything one run reports, in a stable order (configuration order of the exchanges).

    Without ``report`` (no state configured) every error item gives an event in every run. Events of an
    answer carry the time it arrived; the others ``observed_at`` (the run's clock, epoch seconds).
    ``points_of``: an exchange's own points, when they were computed as it arrived (pipeline.py);
    ``exchange_points`` by default.
    """
    points_of = points_of or exchange_points
    points: list[Point] = []
    events: list[Event] = []
    node_wide: set[tuple[str, str]] = set()  # (node, error.type) already reported for the whole node
    for ex in exchanges:
        points.extend(points_of(ex))
        if ex.failure is not None and ex.failure.node_wide:
            if (ex.node, ex.failure.error_type) not in node_wide:
                node_wide.add((ex.node, ex.failure.error_type))
                events.append(node_failure_event(ex.node, ex.failure))
            continue
        at = answered_ns(ex)
        events.extend(replace(e, time_unix_nano=at) for e in exchange_events(ex, report))
    points.extend(relation_up_points(exchanges))
    for found in discoveries:
        if found.failure is not None:
            attributes: dict[str, AttributeValue] = {"exalate.node": found.node, "error.type": found.failure.error_type}
            points.append(Point(DISCOVERY_FAILURES, 1, attributes))
            events.append(Event(DISCOVERY_FAILURE_EVENT, "WARN", found.failure.detail, attributes))
    if report is not None:
        points.extend(state_points(report))
        events.extend(state_events(report))
    for node, failure in archive_failures:
        where: dict[str, AttributeValue] = {"exalate.node": node, "error.type": failure.error_type}
        points.append(Point(ARCHIVE_FAILURES, 1, where))
        body = f"the answers of node {node} could not be archived ({failure.error_type}): {failure.detail}"
        events.append(Event(ARCHIVE_FAILURE_EVENT, "ERROR", body, where))
    points.append(Point(RUN_DURATION, round(run_duration_s, 6), {}))
    return RunTelemetry(points=tuple(points), events=stamped(events, observed_at))


def stamped(events: Sequence[Event], observed_at: float | None) -> tuple[Event, ...]:
    """Each event named in its ``event.name`` attribute too, and timed: its own observation time if it
    has one, else ``observed_at`` (epoch seconds)."""
    run_ns = 0 if observed_at is None else observed_ns(observed_at)
    return tuple(
        replace(e, attributes={**e.attributes, EVENT_NAME: e.name}, time_unix_nano=e.time_unix_nano or run_ns)
        for e in events
    )


def observed_ns(epoch_s: float) -> int:
    return round(epoch_s * 1e9)


def answered_ns(ex: Exchange) -> int:
    """When the answer (or the failure) of an exchange was observed, in nanoseconds since the epoch."""
    started = (ex.started_at - _EPOCH) // timedelta(microseconds=1) * 1000
    return started + round(ex.elapsed_s * 1e9)


def exchange_points(ex: Exchange) -> list[Point]:
    where = where_of(ex)
    at_endpoint = {**where, "exalate.endpoint": ex.endpoint}
    points = [Point(ENDPOINT_UP, 1 if ex.ok else 0, at_endpoint)]
    if ex.sent:
        timing: dict[str, AttributeValue] = dict(at_endpoint)
        if ex.status_code is not None:
            timing["http.response.status_code"] = ex.status_code
        if ex.failure is not None:
            timing["error.type"] = ex.failure.error_type
        points.append(Point(POLL_DURATION, ex.elapsed_s, timing))
    if ex.failure is not None:
        points.append(Point(POLL_ERRORS, 1, {**at_endpoint, "error.type": ex.failure.error_type}))
        return points
    if ex.reading is None:
        return points
    spec = row(ex.endpoint)
    points.append(Point(spec.metric, ex.reading.items, _value_attributes(ex, spec)))
    metric = spec.reason_metric
    if metric is not None:
        for reason, count in ex.reading.reasons.items():
            points.append(Point(metric, count, {**where, "exalate.error.reason": reason}))
    for connection in ex.reading.connections:
        status: dict[str, AttributeValue] = {"exalate.node": ex.node, "exalate.relation": connection.name}
        points.append(Point(CONNECTION_STATUS, 1, {**status, "exalate.connection.status": connection.status}))
    return points


def relation_up_points(exchanges: Sequence[Exchange]) -> list[Point]:
    """0 where the node said the connection is gone; 1 where it answered; nothing where it never did."""
    state: dict[tuple[str, str], int] = {}
    for ex in exchanges:
        key = (ex.node, ex.relation)
        if not ex.relation:
            continue
        if isinstance(ex.failure, ConnectionNotFound):
            state[key] = 0
        elif ex.ok and key not in state:
            state[key] = 1
    return [
        Point(RELATION_UP, up, {"exalate.node": node, "exalate.relation": relation})
        for (node, relation), up in state.items()
    ]


def state_points(report: StateReport) -> list[Point]:
    points = []
    for node, adv in report.advances.items():
        for (relation, endpoint), age in adv.ages.items():
            where = {"exalate.node": node, "exalate.relation": relation, "exalate.endpoint": endpoint}
            points.append(Point(QUEUE_OLDEST_AGE, round(age.oldest_s, 3), where))
            points.append(Point(QUEUE_STUCK, age.stuck, where))
    return points


_ITEMS = {"metrics": "data points", "events": "log records"}


def _outcome(o: Any) -> str:
    if o.verdict.delivered:
        return "delivered"
    return "partly_rejected" if o.verdict.error_type == "export_rejected" and o.verdict.rejected < o.items else "failed"


def export_telemetry(
    outcomes: Sequence[Any], too_large: Mapping[str, int], targets: Mapping[str, Any], observed_ns: int = 0
) -> RunTelemetry:
    """What became of an export's requests (``delivery.RequestOutcome``s): one count per request by outcome,
    every item not delivered (refused, rejected, or too large to send) as dropped, and one event per
    distinct metrics problem (an events backend that failed cannot carry its own failure)."""
    points: list[Point] = []
    for o in outcomes:
        where: dict[str, AttributeValue] = {"exalate.signal": o.signal, "exalate.export.outcome": _outcome(o)}
        if o.verdict.error_type:
            where["error.type"] = o.verdict.error_type
        if o.verdict.status_code is not None:
            where["http.response.status_code"] = o.verdict.status_code
        points.append(Point(EXPORT_REQUESTS, 1, where))
        if not o.verdict.delivered and o.verdict.rejected:
            why = {"exalate.signal": o.signal, "error.type": str(o.verdict.error_type)}
            points.append(Point(EXPORT_DROPPED, o.verdict.rejected, why))
    for signal, count in too_large.items():
        if count:
            points.append(Point(EXPORT_DROPPED, count, {"exalate.signal": signal, "error.type": "export_too_large"}))
    events: list[Event] = []
    mine = [o for o in outcomes if o.signal == "metrics"]
    said: dict[tuple[str, str, int | None], int] = {}
    for o in mine:
        if not o.verdict.delivered:
            key = (str(o.verdict.error_type), o.verdict.message, o.verdict.status_code)
            said[key] = said.get(key, 0) + 1
    url = getattr(targets.get("metrics"), "url", "the metrics endpoint")
    for (error_type, message, status), n in said.items():
        attributes: dict[str, AttributeValue] = {"exalate.signal": "metrics", "error.type": error_type}
        if status is not None:
            attributes["http.response.status_code"] = status
        body = f"{n} of {len(mine)} metrics requests to {url} not delivered ({error_type}): {message}"
        events.append(Event(EXPORT_FAILURE_EVENT, "ERROR", body, attributes))
    if too_large.get("metrics"):
        attributes = {"exalate.signal": "metrics", "error.type": "export_too_large"}
        body = (
            f"{too_large['metrics']} data points each larger than a request may be"
            " (EXALATE_OTLP_MAX_REQUEST_KB): not sent"
        )
        events.append(Event(EXPORT_FAILURE_EVENT, "ERROR", body, attributes))
    return RunTelemetry(tuple(points), stamped(events, observed_ns / 1e9 if observed_ns else None))
