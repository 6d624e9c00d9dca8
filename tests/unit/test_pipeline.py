"""pipeline.AnswerPipeline (issue 23): what is archived while polling is what was archived after it, in
the same order; bodies go as answers are written; a node is handed off as soon as it is done."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from exalate_collector.archive.records import decode_jsonl_gz, encode_jsonl_gz, record_of
from exalate_collector.archive.sinks import NodeBatch
from exalate_collector.deadline import Deadline
from exalate_collector.endpoints import ENDPOINTS
from exalate_collector.errors import ArchiveWriteFailed
from exalate_collector.pipeline import AnswerPipeline, Background
from exalate_collector.telemetry.points import exchange_points

from ..conftest import exchange_for, seed_body

RUN = "20261203T170000Z-0a1b2c3d"
STARTED = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


class RecordingSink:
    """Keeps each batch's records, and on which thread and after how many answers it came."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.batches: dict[str, list[dict]] = {}
        self.threads: set[str] = set()
        self.fail = fail

    def deliver(self, batch: NodeBatch, deadline: Deadline) -> str:
        self.threads.add(threading.current_thread().name)
        if batch.node in self.fail:
            raise ArchiveWriteFailed("bucket gone")
        self.batches[batch.node] = decode_jsonl_gz(batch.payload.read())
        return f"mem://{batch.node}"


def jobs(node: str) -> list:
    return [exchange_for(e, seed_body(e), node=node, relation="R") for e in ENDPOINTS[:4]]


def expected(exchanges: list) -> list[dict]:
    return decode_jsonl_gz(encode_jsonl_gz([record_of(RUN, ex) for ex in exchanges]))


def test_answers_out_of_order_are_archived_in_job_order_and_their_bodies_let_go():
    a = jobs("a")
    want = expected(a)
    sink = RecordingSink()
    pipeline = AnswerPipeline(RUN, STARTED, Background(), sink, Deadline.after(60))
    pipeline.answered(2, a[2])
    assert a[2].body != b""  # waits for the answers before it
    pipeline.answered(0, a[0])
    assert a[0].body == b"" and a[2].body != b""  # 1 is still missing
    pipeline.answered(1, a[1])
    assert a[1].body == b"" and a[2].body == b""
    pipeline.answered(3, a[3])
    pipeline.node_done("a")
    outcome = pipeline.finish(a, ["a"])
    assert outcome is not None and outcome.delivered == {"a": "mem://a"} and outcome.failures == []
    assert sink.batches["a"] == want
    assert sink.threads == {next(iter(sink.threads))} and next(iter(sink.threads)).startswith("exalate-background")


def test_what_polling_left_is_archived_after_it_and_failures_are_told_in_configuration_order():
    a, b, c = jobs("a"), jobs("b"), jobs("c")
    want_b = expected(b)
    sink = RecordingSink(fail=frozenset({"a", "c"}))
    pipeline = AnswerPipeline(RUN, STARTED, Background(), sink, Deadline.after(60))
    for position, ex in enumerate(c):
        pipeline.answered(position, ex)
    pipeline.node_done("c")  # handed off (and failed) first
    pipeline.answered(0, b[0])  # b: cut off by the deadline after its first answer
    outcome = pipeline.finish([*a, *b, *c], ["a", "b", "c"])  # a: not polled at all
    assert outcome is not None
    assert [node for node, _ in outcome.failures] == ["a", "c"]
    assert sink.batches["b"] == want_b and outcome.delivered == {"b": "mem://b"}


def test_no_time_left_is_a_failure_of_the_node_not_a_hand_off():
    a = jobs("a")
    sink = RecordingSink()
    pipeline = AnswerPipeline(RUN, STARTED, Background(), sink, Deadline.after(-1))
    outcome = pipeline.finish(a, ["a"])
    assert outcome is not None and sink.batches == {}
    assert [(node, f.error_type) for node, f in outcome.failures] == [("a", "archive_write_failed")]


def test_the_points_computed_as_an_answer_arrived_are_those_computed_after():
    a = jobs("a")
    pipeline = AnswerPipeline(RUN, STARTED, Background())
    pipeline.answered(0, a[0])
    assert a[0].body == b""  # no archive: nothing needs the body
    assert pipeline.points_of(a[0]) == exchange_points(a[0])
    assert pipeline.points_of(a[1]) == exchange_points(a[1])  # not heard of: computed now
    assert pipeline.finish(a, ["a"]) is None
