"""The console summary and the verdict: pure, from exchanges of real seed answers."""

from __future__ import annotations

from exalate_collector.console import summary, verdict
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, SYNC_ERRORS
from exalate_collector.simulator.answers import NOT_FOUND_TEXT
from exalate_collector.telemetry.points import Event, run_telemetry

from ..conftest import exchange_for, repaired_blob_errors, seed_exchanges


def removed(relation: str) -> list:
    body = NOT_FOUND_TEXT.format(relation=relation).encode()
    return [exchange_for(e, body, status=400, content_type="text/plain", relation=relation) for e in ENDPOINTS]


def test_verdict_in_plain_words():
    healthy = [
        exchange_for(BLOB_ERRORS, repaired_blob_errors()) if ex.endpoint == BLOB_ERRORS else ex
        for ex in seed_exchanges()
    ]
    fixed = [
        exchange_for(SYNC_ERRORS, b"[]", relation="GROOVY") if ex.endpoint == SYNC_ERRORS else ex
        for ex in seed_exchanges("GROOVY")
    ]
    text = verdict(healthy + fixed + removed("Gone"))
    # GROOVY's bloberrorresponses is the seed's invalid JSON: its blob errors were not counted, and it says so
    assert text == (
        "verdict: 2 relations healthy, 1 removed on the other side; 1 sync error, 1 blob error (1 of 2 relations"
        " unread); 1 other failed poll (invalid_json x1)"
    )


def test_a_verdict_never_reads_a_failed_error_queue_as_no_errors():
    # every blob error queue failed (the seed's own example, as the demo served it): not "0 blob errors"
    text = verdict(seed_exchanges() + seed_exchanges("GROOVY"))
    assert "; 2 sync errors, blob errors unknown (2 of 2 relations unread); " in text
    assert "0 blob errors" not in text
    assert text.endswith("2 other failed polls (invalid_json x2)")
    # the error queues of relations that answered are counted: 2 sync errors, 2 blob errors
    repaired = [exchange_for(BLOB_ERRORS, repaired_blob_errors(), relation=r) for r in ("AllContent", "GROOVY")]
    sound = [ex for ex in seed_exchanges() + seed_exchanges("GROOVY") if ex.endpoint != BLOB_ERRORS] + repaired
    assert verdict(sound) == "verdict: 2 relations healthy; 2 sync errors, 2 blob errors"


def test_verdict_of_a_node_that_does_not_answer():
    down = [exchange_for(e, b"<html>", status=502, content_type="text/html") for e in ENDPOINTS]
    assert (
        verdict(down) == "verdict: 1 relation not reachable; 0 sync errors, 0 blob errors; "
        f"{len(ENDPOINTS)} other failed polls (server_error x{len(ENDPOINTS)})"
    )


def test_summary_shows_each_failure_once_and_no_age_for_an_empty_queue():
    exchanges = [exchange_for(SYNC_ERRORS, b"[]")] + removed("Gone")
    text = summary(exchanges, run_telemetry(exchanges, 0.1))
    (row,) = [
        line.split() for line in text.splitlines() if "syncrequests/errorresponses" in line and "AllContent" in line
    ]
    assert row == ["jira-prod", "AllContent", "syncrequests/errorresponses", "0", "-", "ok"]
    rows = len(ENDPOINTS)
    assert text.count("connection_not_found (HTTP 400)") == rows
    assert f"events ({rows}, of which {rows} exalate.poll.failure: the failed rows above):" in text
    assert "GET syncevents" not in text  # the event bodies are not printed again


def test_a_node_wide_event_is_shown_under_its_node_without_a_relation():
    exchanges = [exchange_for(SYNC_ERRORS, b"[]")]
    event = Event("exalate.state.failure", "WARN", "state of node jira-prod unusable", {"exalate.node": "jira-prod"})
    text = summary(exchanges, run_telemetry(exchanges, 0.1).extended([], [event]))
    (line,) = [line for line in text.splitlines() if "exalate.state.failure" in line]
    assert line.split()[2] == "jira-prod"  # it said jira-prod/None
