"""Corrupt input never crashes a run: a node's answer with huge numbers, a state object that is too
large, too deep, holds huge or non-finite numbers. Each is classified, the run goes on, the next is normal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from exalate_collector.archive.records import decode_jsonl_gz
from exalate_collector.archive.sinks import LocalDirectorySink
from exalate_collector.deadline import Deadline
from exalate_collector.endpoints import ENDPOINTS, SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour
from exalate_collector.state.store import MAX_STATE_BYTES, LocalStateStore, S3StateStore, StateStore

from .conftest import config_for, node_config

T0 = 1_795_800_000.0
HUGE = b"9" * 5000


@pytest.mark.parametrize(
    "body",
    [
        b"[" + HUGE + b"]",
        b'[{"syncEventId": ' + HUGE + b"}]",
        HUGE,
        b"[" * 200_000,
    ],
    ids=["huge-item", "huge-id", "huge-document", "deep"],
)
def test_huge_numbers_in_an_answer_are_invalid_json_and_fully_archived(simulator, tmp_path: Path, body):
    simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=body))
    result = run(config_for(node_config(simulator, ["AllContent"])), 10, None, LocalDirectorySink(tmp_path))
    (ex,) = [ex for ex in result.exchanges if ex.endpoint == SYNC_REQUESTS]
    assert ex.failure is not None and ex.failure.error_type == "invalid_json"
    # the others answered (bloberrorresponses is the seed's own invalid JSON)
    assert sum(1 for ex in result.exchanges if ex.ok) == len(ENDPOINTS) - 2
    (path,) = tmp_path.rglob("*.jsonl.gz")
    (record,) = [r for r in decode_jsonl_gz(path.read_bytes()) if r["endpoint"] == SYNC_REQUESTS]
    assert record["status_code"] == 200 and record["error_type"] == "invalid_json"
    assert record["body_bytes"] == len(body) and record["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert record["body"].encode() == body


def test_an_id_too_large_for_int64_is_kept_as_text(simulator):
    errors = [{"syncEventId": 10**30, "sourceIssueKey": {"id": 2**64, "urn": "AC-1"}, "errorReason": "X"}]
    simulator.set("AllContent", SYNC_ERRORS, Behaviour(body=json.dumps(errors).encode()))
    result = run(config_for(node_config(simulator, ["AllContent"])), 10, None)
    (event,) = [e for e in result.telemetry.events if e.name == "exalate.sync.error"]
    assert event.attributes["exalate.sync_event.id"] == str(10**30)
    assert event.attributes["exalate.issue.id"] == str(2**64)


def write_raw(store: StateStore, data: bytes) -> None:
    if isinstance(store, LocalStateStore):
        store.path("jira-test").parent.mkdir(parents=True, exist_ok=True)
        store.path("jira-test").write_bytes(data)
    else:
        assert isinstance(store, S3StateStore)
        store.s3(Deadline.NONE).put_object(Bucket=store.bucket, Key=store.key("jira-test"), Body=data)


def valid_with(item: str) -> bytes:
    relations = f'{{"AllContent":{{"{SYNC_REQUESTS}":{{"1":{item}}}}}}}'
    return f'{{"schema":1,"node":"jira-test","relations":{relations}}}'.encode()


CORRUPT = {
    "5000-digit integer": valid_with('{"t":' + "9" * 5000 + "}"),
    "25-digit integer": valid_with('{"t":' + "9" * 25 + "}"),
    "200000-deep nesting": b'{"schema":1,"relations":' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "NaN time": valid_with('{"t":NaN}'),
    "Infinity time": valid_with('{"t":-Infinity}'),
    "nested info": valid_with('{"t":1,"reason":{"a":[1]}}'),
    "too large": valid_with('{"t":1,"x":"' + "a" * MAX_STATE_BYTES + '"}'),
    "not UTF-8": b"\xff\xfe{",
}


@pytest.mark.parametrize("data", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupt_state_is_classified_replaced_and_the_next_run_is_normal(simulator, store, data):
    config = config_for(node_config(simulator, ["AllContent"]))
    write_raw(store, data)
    first = run(config, 10, None, None, store, clock=lambda: T0)
    kinds = [e.attributes["error.type"] for e in first.telemetry.events if e.name == "exalate.state.failure"]
    assert kinds == ["state_corrupt"]
    assert first.failures == 1  # only the seed's own invalid bloberrorresponses: every endpoint was polled
    replaced = store.load("jira-test", Deadline.NONE)
    assert replaced.failure is None and replaced.state is not None  # the object was replaced
    assert [seen["t"] for seen in replaced.state["relations"]["AllContent"][SYNC_REQUESTS].values()] == [T0]

    second = run(config, 10, None, None, store, clock=lambda: T0 + 300)
    assert [e for e in second.telemetry.events if e.name == "exalate.state.failure"] == []
    (age,) = [
        p.value
        for p in second.telemetry.points
        if p.name == "exalate.queue.oldest_age" and p.attributes["exalate.endpoint"] == SYNC_REQUESTS
    ]
    assert age == 300
