"""Pure: the events of one run's answers and states (a new or resolved sync error, a failed poll, a
node not polled), with their bodies and attributes; nothing of a replica's payload."""

from __future__ import annotations

from ..endpoints import row
from ..errors import PollFailure
from ..model import Exchange
from ..parse import ErrorItem
from ..state.model import Resolved, StateReport
from .measurements import AttributeValue, Event, where_of
from .names import (
    POLL_FAILURE_EVENT,
    STATE_FAILURE_EVENT,
)


def state_events(report: StateReport) -> list[Event]:
    events = [resolved_event(node, r) for node, adv in report.advances.items() for r in adv.resolved]
    for node, failure in report.failures:
        if node in report.unreadable and failure.error_type == "state_read_failed":
            then = "no queue age, no stuck count and no error reported as new this run; the state is left as it is"
        else:
            then = "ages restart, errors count as new"
        body = f"state of node {node} unusable ({failure.error_type}): {failure.detail}; {then}"
        events.append(
            Event(STATE_FAILURE_EVENT, "WARN", body, {"exalate.node": node, "error.type": failure.error_type})
        )
    return events


def resolved_event(node: str, resolved: Resolved) -> Event:
    spec = row(resolved.endpoint)
    info = resolved.info
    attributes: dict[str, AttributeValue] = {
        "exalate.node": node,
        "exalate.relation": resolved.relation,
        "exalate.error.reason": str(info.get("reason", "UNKNOWN")),
        "exalate.error.duration": round(resolved.stood_s, 3),
    }
    attributes.update({attr: info[short] for attr, short in _RESOLVED_IDS.items() if info.get(short) is not None})
    what = f"issue {info['key']}" if info.get("key") else f"item {resolved.identity.split('|')[0]}"
    body = (
        f"{spec.kind} error {attributes['exalate.error.reason']} on {what} resolved after {_duration(resolved.stood_s)}"
    )
    return Event(str(spec.resolved_event), "INFO", body, attributes)


#: Event attribute -> the short name of what the state remembers of an error (state/model.py).
_RESOLVED_IDS = {
    "exalate.sync_event.id": "sync_event_id",
    "exalate.issue.key": "key",
    "exalate.issue.id": "issue_id",
    "exalate.blob.id": "blob_id",
    "exalate.blob_event.id": "blob_event_id",
}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def exchange_events(ex: Exchange, report: StateReport | None = None) -> list[Event]:
    if ex.failure is not None:
        failure = ex.failure
        attributes: dict[str, AttributeValue] = {
            **where_of(ex),
            "exalate.endpoint": ex.endpoint,
            "error.type": failure.error_type,
            "url.full": ex.url,
        }
        if failure.status_code is not None:
            attributes["http.response.status_code"] = failure.status_code
        if failure.excerpt:
            attributes["exalate.response.excerpt"] = failure.excerpt
        severity = "ERROR" if failure.authentication else "WARN"
        of = f" of relation {ex.relation}" if ex.relation else ""
        body = f"GET {ex.endpoint}{of} on node {ex.node} failed ({failure.error_type}): {failure.detail}"
        return [Event(POLL_FAILURE_EVENT, severity, body, attributes)]
    if ex.reading is None:
        return []
    return [
        error_event(ex, item)
        for item in ex.reading.errors
        if report is None or report.is_new(ex.node, ex.relation, ex.endpoint, item.identity)
    ]


def node_failure_event(node: str, failure: PollFailure) -> Event:
    """The one event of a failure that kept a whole node from being polled (no relation, no endpoint)."""
    attributes: dict[str, AttributeValue] = {"exalate.node": node, "error.type": failure.error_type}
    body = f"node {node} was not polled ({failure.error_type}): {failure.detail}"
    return Event(POLL_FAILURE_EVENT, "ERROR" if failure.authentication else "WARN", body, attributes)


def error_event(ex: Exchange, item: ErrorItem) -> Event:
    spec = row(item.endpoint)
    attributes: dict[str, AttributeValue] = {**where_of(ex), "exalate.error.reason": item.reason}
    optional: dict[str, AttributeValue | None] = {
        "exalate.sync_event.id": item.sync_event_id,
        "exalate.issue.key": item.issue_key,
        "exalate.issue.id": item.issue_id,
        "exalate.blob.id": item.blob_id,  # set only by rows that declare blobId (parse.error_item)
        "exalate.blob_event.id": item.blob_event_id,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    body = item.message or f"{spec.kind} error {item.reason} (the node sent no message)"
    return Event(str(spec.error_event), "ERROR", body, attributes)
