"""run_telemetry(): exchanges -> metric points and events. Golden outputs for the seed's examples."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict

import pytest
from exalate_collector import errors
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.model import Exchange
from exalate_collector.simulator import seed_body
from exalate_collector.telemetry.points import RunTelemetry, run_telemetry

from ..conftest import T0, exchange_for, golden, seed_exchanges


def as_json(telemetry: RunTelemetry) -> dict:
    points = [{"name": p.name, "value": p.value, "attributes": p.attributes} for p in telemetry.points]
    return {"points": points, "events": [asdict(e) for e in telemetry.events]}


def test_seed_examples_golden():
    telemetry = run_telemetry(seed_exchanges(), run_duration_s=1.25)
    actual = as_json(telemetry)
    assert actual == golden("seed_telemetry.json", actual)


def test_seed_examples_in_words():
    telemetry = run_telemetry(seed_exchanges(), run_duration_s=1.25)
    sizes = {p.attributes["exalate.endpoint"]: p.value for p in telemetry.named("exalate.queue.size")}
    assert sizes == {e: 1 for e in sizes} and BLOB_ERRORS not in sizes  # the blob example is invalid JSON
    assert [(p.value, p.attributes["exalate.error.reason"]) for p in telemetry.named("exalate.sync.errors")] == [
        (1, "NO_ISSUE_TO_CONNECT_TO")
    ]
    assert telemetry.named("exalate.blob.errors") == []
    up = {p.attributes["exalate.endpoint"]: p.value for p in telemetry.named("exalate.endpoint.up")}
    assert up[BLOB_ERRORS] == 0 and sum(up.values()) == len(ENDPOINTS) - 1
    assert [p.value for p in telemetry.named("exalate.relation.up")] == [1]
    assert [p.attributes["error.type"] for p in telemetry.named("exalate.poll.errors")] == ["invalid_json"]
    assert [e.name for e in telemetry.events] == ["exalate.sync.error", "exalate.poll.failure"]
    assert telemetry.named("exalate.collector.run.duration")[0].value == 1.25


def test_blob_errors_by_reason_and_events():
    items = [
        {
            "blobId": 1,
            "blobEventId": 10,
            "syncEventId": 5,
            "blobErrorReason": "CHECKSUM_MISMATCH",
            "errorMessage": "bad",
            "sourceIssueKey": {"id": 7, "urn": "PAR-1"},
        },
        {"blobId": 2, "blobErrorReason": "CHECKSUM_MISMATCH"},
        {"blobId": 3},
    ]
    telemetry = run_telemetry([exchange_for(BLOB_ERRORS, json.dumps(items).encode())], 0.1)
    by_reason = {p.attributes["exalate.error.reason"]: p.value for p in telemetry.named("exalate.blob.errors")}
    assert by_reason == {"CHECKSUM_MISMATCH": 2, "UNKNOWN": 1}
    first, second, third = telemetry.events
    assert first.attributes == {
        "event.name": "exalate.blob.error",
        "exalate.node": "jira-prod",
        "exalate.relation": "AllContent",
        "exalate.error.reason": "CHECKSUM_MISMATCH",
        "exalate.sync_event.id": 5,
        "exalate.issue.key": "PAR-1",
        "exalate.issue.id": 7,
        "exalate.blob.id": 1,
        "exalate.blob_event.id": 10,
    }
    assert first.body == "bad" and first.severity == "ERROR"
    assert second.body == "blob error CHECKSUM_MISMATCH (the node sent no message)"
    assert third.attributes["exalate.error.reason"] == "UNKNOWN"


def failed(failure: errors.PollFailure, relation: str = "AllContent", sent: bool = True) -> Exchange:
    return Exchange(
        node="n",
        relation=relation,
        endpoint=SYNC_REQUESTS,
        url="https://j/x",
        started_at=T0,
        elapsed_s=0.2,
        status_code=failure.status_code,
        failure=failure,
        sent=sent,
    )


@pytest.mark.parametrize(
    ("failure", "severity"),
    [
        (errors.Unauthorized("d", 401), "ERROR"),
        (errors.Forbidden("d", 403), "ERROR"),
        (errors.ServerError("d", 500, "boom"), "WARN"),
        (errors.Timeout("d"), "WARN"),
    ],
)
def test_poll_failure_event(failure, severity):
    (event,) = run_telemetry([failed(failure)], 0.1).events
    assert event.name == "exalate.poll.failure" and event.severity == severity
    assert event.attributes["error.type"] == failure.error_type
    assert event.attributes["url.full"] == "https://j/x"
    assert ("http.response.status_code" in event.attributes) == (failure.status_code is not None)
    assert ("exalate.response.excerpt" in event.attributes) == (failure.excerpt is not None)
    assert failure.detail in event.body


def test_a_node_wide_failure_is_one_event_per_node_but_counted_at_every_endpoint():
    failure = errors.SecretUnavailable("environment variable S is not set or empty")
    exchanges = [failed(failure, relation=r, sent=False) for r in ("A", "B", "C")]
    telemetry = run_telemetry(exchanges, 0.1)
    (event,) = telemetry.events
    assert event.name == "exalate.poll.failure" and event.severity == "ERROR"
    assert event.attributes == {"exalate.node": "n", "error.type": "secret_unavailable", "event.name": event.name}
    assert event.body == "node n was not polled (secret_unavailable): environment variable S is not set or empty"
    assert [p.attributes["exalate.relation"] for p in telemetry.named("exalate.poll.errors")] == ["A", "B", "C"]


def test_duration_only_for_requests_that_went_out():
    telemetry = run_telemetry([failed(errors.SecretUnavailable("d"), sent=False), failed(errors.Timeout("t"))], 0.1)
    (duration,) = telemetry.named("exalate.poll.duration")
    assert duration.attributes["error.type"] == "timeout" and "http.response.status_code" not in duration.attributes


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["ok", "ok"], [1]),
        (["ok", "gone"], [0]),
        (["gone", "ok"], [0]),
        (["down", "down"], []),  # nothing known: no point rather than a guess
        (["down", "ok"], [1]),
    ],
)
def test_relation_up(outcomes, expected):
    exchanges = []
    for outcome in outcomes:
        if outcome == "ok":
            exchanges.append(exchange_for(SYNC_REQUESTS, b"[]", node="n"))
        elif outcome == "gone":
            exchanges.append(failed(errors.ConnectionNotFound("gone", 400)))
        else:
            exchanges.append(failed(errors.ConnectionFailed("refused")))
    for ex in exchanges:
        ex.node = "n"
    assert [p.value for p in run_telemetry(exchanges, 0.1).named("exalate.relation.up")] == expected


def test_no_payload_content_reaches_any_point_or_event():
    """The seed's replicas carry summaries, names and e-mail addresses: none may come out."""
    payload = json.loads(seed_body(SYNC_REQUESTS))[0]["replica"]
    decoded = base64.b64decode(payload["encodedPayload"]).decode()
    secrets_of_the_replica = [
        payload["summary"],
        "admin@example.com",
        "Brad Pitt",
        "Houston, we have a problem",
        payload["encodedPayload"][:40],
        decoded[:40],
    ]
    assert all(s in decoded or s in json.dumps(payload) for s in secrets_of_the_replica)
    exchanges = seed_exchanges() + [exchange_for(SYNC_REQUESTS, seed_body(SYNC_REQUESTS)[:-3])]  # + broken JSON
    text = json.dumps(as_json(run_telemetry(exchanges, 0.1)))
    for secret in secrets_of_the_replica:
        assert secret not in text


def test_error_items_are_all_counted_even_when_broken():
    body = json.dumps([{"errorReason": "A"}, None, {"message": "m"}]).encode()
    telemetry = run_telemetry([exchange_for(SYNC_ERRORS, body)], 0.1)
    assert telemetry.named("exalate.queue.size")[0].value == 3
    assert sum(p.value for p in telemetry.named("exalate.sync.errors")) == 3
    assert len(telemetry.events) == 3


def test_a_node_wide_failure_is_one_log_line_without_an_empty_status(caplog):
    import logging

    from exalate_collector.runner import log_failures

    failure = errors.SecretUnavailable("environment variable S is not set or empty")
    exchanges = [failed(failure, relation=r, sent=False) for r in ("A", "B", "C")] + [failed(errors.Timeout("t"))]
    with caplog.at_level(logging.WARNING, logger="exalate_collector.runner"):
        log_failures(exchanges)
    first, second = caplog.records
    assert first.levelname == "ERROR"
    assert first.getMessage() == (
        "node n not polled: error.type=secret_unavailable: environment variable S is not set or empty"
    )
    assert not hasattr(first, "http.response.status_code") and not hasattr(first, "exalate.relation")
    assert second.levelname == "WARNING" and getattr(second, "error.type") == "timeout"
