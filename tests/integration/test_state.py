"""Memory between runs (S3 through moto's server, and a local file): ages, new and resolved errors,
overlapping runs, corrupt state, failed polls, refused writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from exalate_collector.aws import LazyClient
from exalate_collector.deadline import Deadline
from exalate_collector.endpoints import SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.runner import RunResult, commit_state, recall, run
from exalate_collector.simulator import Behaviour
from exalate_collector.state.store import Loaded, LocalStateStore, S3StateStore, StateStore

from .conftest import config_for, node_config

T0 = 1_795_800_000.0
ERRORS = json.dumps(
    [
        {
            "syncEventId": 49,
            "sourceIssueKey": {"id": 11742, "urn": "AC-113"},
            "message": "m",
            "errorReason": "NO_ISSUE_TO_CONNECT_TO",
        },
        {"syncEventId": 50, "sourceIssueKey": {"id": 11743, "urn": "AC-114"}, "message": "m2", "errorReason": "SCRIPT"},
    ]
).encode()
QUEUE = json.dumps([{"syncEventId": 1}, {"syncEventId": 2}]).encode()


def stored(store: StateStore, node: str = "jira-test") -> dict[str, Any] | None:
    return store.load(node, Deadline.NONE).state


def events(result: RunResult, name: str) -> list[Any]:
    return [e for e in result.telemetry.events if e.name == name]


def point(result: RunResult, name: str, endpoint: str) -> float | int:
    (value,) = [
        p.value for p in result.telemetry.points if p.name == name and p.attributes.get("exalate.endpoint") == endpoint
    ]
    return value


@pytest.fixture
def node(simulator):
    simulator.set("AllContent", SYNC_ERRORS, Behaviour(body=ERRORS))
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=QUEUE))
    return simulator


def test_first_run_second_run_and_a_resolved_error(node, store):
    config = config_for(node_config(node, ["AllContent"], stuck_after_s=600))
    first = run(config, 10, None, None, store, clock=lambda: T0)
    assert len(events(first, "exalate.sync.error")) == 2  # new: reported
    assert point(first, "exalate.queue.oldest_age", SYNC_REQUESTS) == 0
    assert stored(store)["schema"] == 1

    second = run(config, 10, None, None, store, clock=lambda: T0 + 900)
    assert events(second, "exalate.sync.error") == []  # standing errors are not repeated
    assert point(second, "exalate.queue.oldest_age", SYNC_REQUESTS) == 900
    assert point(second, "exalate.queue.stuck", SYNC_REQUESTS) == 2  # older than stuck_after_s 600
    assert point(second, "exalate.queue.oldest_age", SYNC_ERRORS) == 900

    node.set("AllContent", SYNC_ERRORS, Behaviour(body=ERRORS.replace(b'"SCRIPT"', b'"OTHER"')))
    node.set("AllContent", SYNC_REQUESTS, Behaviour(body=json.dumps([{"syncEventId": 2}, {"syncEventId": 3}]).encode()))
    third = run(config, 10, None, None, store, clock=lambda: T0 + 3600)
    (resolved,) = events(third, "exalate.sync.error.resolved")
    assert resolved.severity == "INFO"
    assert resolved.attributes["exalate.error.reason"] == "SCRIPT"
    assert resolved.attributes["exalate.issue.key"] == "AC-114"
    assert resolved.attributes["exalate.error.duration"] == 3600
    assert "resolved after 1h00m" in resolved.body
    (new,) = events(third, "exalate.sync.error")  # the same item with another reason is another error
    assert new.attributes["exalate.error.reason"] == "OTHER"
    assert point(third, "exalate.queue.oldest_age", SYNC_REQUESTS) == 3600  # item 2 is still there
    items = stored(store)["relations"]["AllContent"][SYNC_REQUESTS]
    assert set(items) == {"2", "3"}  # only what is present now


def test_repeat_true_restores_one_event_per_run(node, store):
    config = config_for(node_config(node, ["AllContent"]))
    config = type(config)(nodes=config.nodes, repeat_events=True)
    run(config, 10, None, None, store, clock=lambda: T0)
    second = run(config, 10, None, None, store, clock=lambda: T0 + 300)
    assert len(events(second, "exalate.sync.error")) == 2


def test_a_failed_poll_resolves_nothing_and_keeps_the_state(node, store):
    config = config_for(node_config(node, ["AllContent"]))
    run(config, 10, None, None, store, clock=lambda: T0)
    before = stored(store)["relations"]["AllContent"][SYNC_ERRORS]
    node.set("AllContent", SYNC_ERRORS, Behaviour(status=500, body=b"{}"))
    failed = run(config, 10, None, None, store, clock=lambda: T0 + 300)
    assert events(failed, "exalate.sync.error.resolved") == []
    assert not [
        p
        for p in failed.telemetry.points
        if p.name == "exalate.queue.oldest_age" and p.attributes["exalate.endpoint"] == SYNC_ERRORS
    ]
    assert stored(store)["relations"]["AllContent"][SYNC_ERRORS] == before
    node.set("AllContent", SYNC_ERRORS, Behaviour(body=ERRORS))
    back = run(config, 10, None, None, store, clock=lambda: T0 + 600)
    assert events(back, "exalate.sync.error") == [] and events(back, "exalate.sync.error.resolved") == []
    assert point(back, "exalate.queue.oldest_age", SYNC_ERRORS) == 600


def test_corrupt_state_starts_fresh_and_is_repaired(node, store, tmp_path):
    config = config_for(node_config(node, ["AllContent"]))
    run(config, 10, None, None, store, clock=lambda: T0)
    corrupt(store, b'{"schema": 1, "relations": {"AllContent": {"syncevents/syncrequests": {"1": {}}}}}')
    result = run(config, 10, None, None, store, clock=lambda: T0 + 300)
    (failure,) = events(result, "exalate.state.failure")
    assert failure.attributes["error.type"] == "state_corrupt" and failure.severity == "WARN"
    assert len(events(result, "exalate.sync.error")) == 2  # errors count as new
    assert point(result, "exalate.queue.oldest_age", SYNC_REQUESTS) == 0  # ages restart
    assert stored(store)["schema"] == 1  # repaired
    corrupt(store, b"\xff not json at all")
    again = run(config, 10, None, None, store, clock=lambda: T0 + 600)
    assert [e.attributes["error.type"] for e in events(again, "exalate.state.failure")] == ["state_corrupt"]


def corrupt(store: StateStore, data: bytes) -> None:
    if isinstance(store, LocalStateStore):
        store.path("jira-test").write_bytes(data)
    else:
        store.s3(Deadline.NONE).put_object(Bucket=store.bucket, Key=store.key("jira-test"), Body=data)


class Interleaved:
    """A store where another whole run slips in between this run's read and its write."""

    def __init__(self, inner: StateStore, other_run) -> None:
        self.inner, self.other_run, self.saves = inner, other_run, 0

    def load(self, node: str, deadline: Deadline) -> Loaded:
        return self.inner.load(node, deadline)

    def save(self, node: str, state: dict[str, Any], token: str | None, deadline: Deadline) -> bool:
        self.saves += 1
        if self.saves == 1:
            self.other_run()
        return self.inner.save(node, state, token, deadline)


def test_overlapping_runs_lose_no_update(node, store):
    """Run A polls only GROOVY, run B only AllContent (the other failed): both survive in the state."""
    node.set("GROOVY", SYNC_REQUESTS, Behaviour(body=json.dumps([{"syncEventId": 77}]).encode()))
    config = config_for(node_config(node, ["AllContent", "GROOVY"]))
    only_groovy = run(config, 10, None, clock=lambda: T0)
    only_all = run(config, 10, None, clock=lambda: T0)
    for ex in only_groovy.exchanges:
        if ex.relation == "AllContent":
            ex.reading = None  # as if AllContent had failed in run A
    for ex in only_all.exchanges:
        if ex.relation == "GROOVY":
            ex.reading = None

    def run_b() -> None:
        commit_state(only_all, recall(only_all, config, store, T0 + 5, Deadline.NONE), store, Deadline.NONE)

    interleaved = Interleaved(store, run_b)
    drafts = recall(only_groovy, config, interleaved, T0 + 10, Deadline.NONE)
    assert commit_state(only_groovy, drafts, interleaved, Deadline.NONE) == []
    assert interleaved.saves == 2  # A's first write conflicted, it re-read B's state and wrote again
    relations = stored(store)["relations"]
    assert set(relations["GROOVY"][SYNC_REQUESTS]) == {"77"}
    assert set(relations["AllContent"][SYNC_REQUESTS]) == {"1", "2"}
    assert relations["AllContent"][SYNC_REQUESTS]["1"]["t"] == T0 + 5  # B's first-seen time kept
    assert set(relations["AllContent"][SYNC_ERRORS]) == {"49|NO_ISSUE_TO_CONNECT_TO", "50|SCRIPT"}


def received_errors(receiver) -> list[tuple[str, object]]:
    return sorted(
        (e.event_name, e.attributes.get("exalate.sync_event.id"))
        for e in receiver.events()
        if e.event_name.startswith("exalate.sync.error")
    )


def test_a_failed_export_loses_no_event(node, store, receiver, pipeline):
    """Backend healthy, then refusing, then healthy: every new and resolved error arrives exactly once."""
    config = config_for(node_config(node, ["AllContent"]))
    run(config, 10, pipeline, None, store, clock=lambda: T0)
    assert received_errors(receiver) == [("exalate.sync.error", 49), ("exalate.sync.error", 50)]

    receiver.clear()
    receiver.status = 400  # not retried by the exporter: the run's export fails
    node.set("AllContent", SYNC_ERRORS, Behaviour(body=ERRORS.replace(b"50", b"51")))  # 50 resolved, 51 new
    node.set("AllContent", SYNC_REQUESTS, Behaviour(body=json.dumps([{"syncEventId": 3}]).encode()))
    failed = run(config, 10, pipeline, None, store, clock=lambda: T0 + 300)
    assert failed.export_failed
    assert [e.attributes["exalate.sync_event.id"] for e in events(failed, "exalate.sync.error")] == [51]
    assert len(events(failed, "exalate.sync.error.resolved")) == 1
    errors = stored(store)["relations"]["AllContent"][SYNC_ERRORS]
    assert set(errors) == {"49|NO_ISSUE_TO_CONNECT_TO", "50|SCRIPT"}  # the undelivered changes are not committed
    assert stored(store)["relations"]["AllContent"][SYNC_REQUESTS]["3"]["t"] == T0 + 300  # ages are

    receiver.status = 200
    healthy = run(config, 10, pipeline, None, store, clock=lambda: T0 + 600)
    assert not healthy.export_failed
    assert received_errors(receiver) == [("exalate.sync.error", 51), ("exalate.sync.error.resolved", 50)]
    assert point(healthy, "exalate.queue.oldest_age", SYNC_REQUESTS) == 300

    receiver.clear()
    run(config, 10, pipeline, None, store, clock=lambda: T0 + 900)
    assert received_errors(receiver) == []  # and never again


def test_a_store_that_refuses_never_breaks_the_run(node, tmp_path, request):
    blocker = tmp_path / "file"
    blocker.write_text("")
    stores: list[StateStore] = [LocalStateStore(blocker / "state")]
    request.getfixturevalue("aws")
    stores.append(S3StateStore(LazyClient("s3"), "no-such-state-bucket", "state/"))
    config = config_for(node_config(node, ["AllContent"]))
    for refusing in stores:
        result = run(config, 10, None, None, refusing, clock=lambda: T0)
        kinds = {e.attributes["error.type"] for e in events(result, "exalate.state.failure")}
        # Issue 19: a state that cannot be read is not replaced by a fresh one (it was: state_write_failed)
        # and its standing errors are not announced as new (they were: 2 exalate.sync.error events).
        assert kinds == {"state_read_failed"}
        assert len(events(result, "exalate.sync.error")) == 0
        assert result.failures == 1  # only the seed's invalid bloberrorresponses; the run went on


def test_state_stays_small(node, store):
    node.set(
        "AllContent", SYNC_REQUESTS, Behaviour(body=json.dumps([{"syncEventId": i} for i in range(2000)]).encode())
    )
    config = config_for(node_config(node, ["AllContent"]))
    run(config, 10, None, None, store, clock=lambda: T0)
    node.set("AllContent", SYNC_REQUESTS, Behaviour(body=b"[]"))
    run(config, 10, None, None, store, clock=lambda: T0 + 300)
    size = len(json.dumps(stored(store)))
    assert size < 2000  # the 2,000 processed items are gone from it


def test_series_state_carries_counters_across_cold_starts_and_survives_corruption(node, store, receiver):
    """Two pipelines are two cold starts (S3 and local): the series document in the state continues the counter."""
    from exalate_collector.telemetry.otel import OtelPipeline

    from .helpers import values

    config = config_for(node_config(node, ["AllContent", "Gone"]))
    where = {"exalate.relation": "Gone", "exalate.endpoint": SYNC_ERRORS}
    for expected in (1, 2):
        pipeline = OtelPipeline.from_environment("deployment-a/b:c")
        try:
            run(config, 10, pipeline, None, store, clock=lambda: T0)
        finally:
            pipeline.shutdown()
        assert values(receiver, "exalate.poll.errors", where) == [expected]
        receiver.clear()
    document = store.load_series("deployment-a/b:c", Deadline.NONE)
    assert document.state is not None and document.state["instance"] == "deployment-a/b:c"
    if isinstance(store, LocalStateStore):
        store.series_path("deployment-a/b:c").write_bytes(b"{broken")
    else:
        key = store.series_key("deployment-a/b:c")
        store.s3(Deadline.NONE).put_object(Bucket=store.bucket, Key=key, Body=b"{broken")
    pipeline = OtelPipeline.from_environment("deployment-a/b:c")
    try:
        result = run(config, 10, pipeline, None, store, clock=lambda: T0)
    finally:
        pipeline.shutdown()
    assert result.export is not None and result.export.ok
    assert values(receiver, "exalate.poll.errors", where) == [1]  # starts anew, and repairs the document
    assert store.load_series("deployment-a/b:c", Deadline.NONE).state["schema"] == 2
