"""The pure OTLP encoding: points -> bounded requests (every series, exact framing), answers -> verdicts."""

from __future__ import annotations

import gzip
import json

import pytest
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.points import Point, run_telemetry
from exalate_collector.telemetry.series import SeriesState, SumTotal, continue_totals, series_key
from exalate_collector.telemetry.verdicts import clean, judge
from exalate_collector.telemetry.wire import (
    DEFAULT_MAX_REQUEST_BYTES,
    MIN_MAX_REQUEST_BYTES,
    metric_stream,
    split_logs,
)
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from ..conftest import golden, seed_exchanges

S = 1_000_000_000
NOW = 1_795_805_100 * S
SPECS = load_contract().metrics
RESOURCE = {"service.name": "exalate-collector", "service.instance.id": "host:/etc/x.yaml"}
SCOPE = ("exalate_collector", "0.0.0")


def metric_requests(*args, **kwargs):
    """Every request of an export at once."""
    return metric_stream(*args, **kwargs).whole()


def decoded(encoded) -> list[dict]:
    """Every data point of every request: (metric, kind, attributes, value/count, start, time)."""
    found = []
    for batch in encoded.batches:
        request = ExportMetricsServiceRequest.FromString(batch.body)
        count = 0
        for rm in request.resource_metrics:
            assert {kv.key for kv in rm.resource.attributes} == set(RESOURCE)
            for sm in rm.scope_metrics:
                assert (sm.scope.name, sm.scope.version) == SCOPE
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    data = getattr(metric, kind)
                    for dp in data.data_points:
                        count += 1
                        attrs = {kv.key: MessageToDict(kv.value) for kv in dp.attributes}
                        value = dp.count if kind == "histogram" else getattr(dp, dp.WhichOneof("value"))
                        row = {"m": metric.name, "kind": kind, "a": attrs, "v": value}
                        row |= {"start": dp.start_time_unix_nano, "time": dp.time_unix_nano}
                        if kind != "gauge":
                            row["temporality"] = data.aggregation_temporality
                        if kind == "histogram":
                            row |= {"buckets": list(dp.bucket_counts), "sum": dp.sum, "min": dp.min, "max": dp.max}
                        found.append(row)
        assert count == batch.items
    return found


def where(relation: str, endpoint: str = "syncevents/syncrequests") -> dict:
    return {"exalate.node": "n", "exalate.relation": relation, "exalate.endpoint": endpoint}


CASES = {
    "gauge: last value of a series, int stays int": (
        [Point("exalate.queue.size", 3, where("A")), Point("exalate.queue.size", 4, where("A"))],
        True,
        [{"m": "exalate.queue.size", "kind": "gauge", "v": "4", "start": 0, "time": NOW}],
    ),
    "counter, cumulative: a new stream starts now": (
        [Point("exalate.poll.errors", 1, {**where("A"), "error.type": "timeout"})] * 2,
        True,
        [{"m": "exalate.poll.errors", "kind": "sum", "v": "2", "start": NOW, "time": NOW, "temporality": 2}],
    ),
    "counter, delta: since the previous export": (
        [Point("exalate.poll.errors", 1, {**where("A"), "error.type": "timeout"})],
        False,
        [{"m": "exalate.poll.errors", "kind": "sum", "v": "1", "start": NOW - 300 * S, "time": NOW, "temporality": 1}],
    ),
    "histogram: samples in the contract's buckets, a boundary closes its bucket": (
        [Point("exalate.poll.duration", v, where("A")) for v in (0.005, 0.3, 40.0)],
        True,
        [
            {
                "m": "exalate.poll.duration",
                "kind": "histogram",
                "v": "3",
                "start": NOW,
                "time": NOW,
                "temporality": 2,
                "buckets": ["1", "0", "0", "0", "0", "0", "0", "1", "0", "0", "0", "0", "0", "0", "0", "1"],
                "sum": 40.305,
                "min": 0.005,
                "max": 40.0,
            }
        ],
    ),
    "gauge without attributes, a float": (
        [Point("exalate.collector.run.duration", 1.25, {})],
        True,
        [{"m": "exalate.collector.run.duration", "kind": "gauge", "v": 1.25, "start": 0, "time": NOW}],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_points_become_otlp_data_points(case):
    points, cumulative, expected = CASES[case]
    encoded = metric_requests(
        points, SPECS, RESOURCE, SCOPE, SeriesState(), NOW, cumulative=cumulative, delta_start_unix_nano=NOW - 300 * S
    )
    got = decoded(encoded)
    for row in got:
        row.pop("a")
    normalized = [
        {k: (str(v) if k == "v" and isinstance(v, int) else v) for k, v in r.items()}
        for r in json.loads(json.dumps(got))
    ]
    for row in normalized:
        if "buckets" in row:
            row["buckets"] = [str(b) for b in row["buckets"]]
            row["sum"] = round(row["sum"], 9)
    assert normalized == expected


def test_a_cumulative_counter_continues_the_memory_and_carries_series_without_points():
    key = series_key("exalate.poll.errors", {**where("B"), "error.type": "timeout"})
    memory = SeriesState(NOW - 600 * S, set(), {key: SumTotal(7, NOW / S - 600)})
    points = [Point("exalate.poll.errors", 2, {**where("A"), "error.type": "timeout"})]
    rows = decoded(metric_requests(points, SPECS, RESOURCE, SCOPE, memory, NOW))
    assert sorted((r["a"]["exalate.relation"]["stringValue"], r["v"], r["start"]) for r in rows) == [
        ("A", 2, NOW - 600 * S),
        ("B", 7, NOW - 600 * S),
    ]


@pytest.mark.parametrize("stored_start", [NOW + 3600 * S, NOW + 1])
def test_a_stored_start_in_the_future_starts_the_series_anew(stored_start):
    """A clock stepped back: continued on the stored start, every point would have start_time > time."""
    key = series_key("exalate.poll.errors", {**where("A"), "error.type": "timeout"})
    memory = SeriesState(stored_start, set(), {key: SumTotal(7, stored_start / S)})
    kept = continue_totals({key: 1}, {}, memory, NOW)
    assert kept.start_unix_nano == NOW and kept.sums[key].value == 1  # the old stream's total is not continued
    points = [Point("exalate.poll.errors", 1, {**where("A"), "error.type": "timeout"})]
    points += [Point("exalate.poll.duration", 0.1, where("A")), Point("exalate.queue.size", 1, where("A"))]
    rows = decoded(metric_requests(points, SPECS, RESOURCE, SCOPE, memory, NOW))
    assert len(rows) == 3 and all(r["start"] <= r["time"] for r in rows)


def many(n: int) -> list[Point]:
    """n distinct series of each of three metrics: far past the SDK's default limit of 2,000."""
    points = []
    for i in range(n):
        at = {"exalate.node": f"node-{i // 50}", "exalate.relation": f"relation-{i % 50}", "exalate.endpoint": "e"}
        points.append(Point("exalate.queue.size", i, at))
        points.append(Point("exalate.endpoint.up", 1, at))
        points.append(Point("exalate.poll.duration", 0.01 * (i % 7), at))
    return points


@pytest.mark.parametrize("max_bytes", [MIN_MAX_REQUEST_BYTES, 100_000, DEFAULT_MAX_REQUEST_BYTES])
def test_every_series_arrives_in_requests_of_bounded_size(max_bytes):
    points = many(6000)
    encoded = metric_requests(points, SPECS, RESOURCE, SCOPE, SeriesState(), NOW, max_bytes=max_bytes)
    assert encoded.too_large == 0
    assert all(len(b.body) <= max_bytes for b in encoded.batches)
    rows = decoded(encoded)
    assert len(rows) == len(points) == encoded.items
    by_metric = {}
    for r in rows:
        by_metric.setdefault(r["m"], set()).add(json.dumps(r["a"], sort_keys=True))
    assert {m: len(s) for m, s in by_metric.items()} == {
        "exalate.queue.size": 6000,
        "exalate.endpoint.up": 6000,
        "exalate.poll.duration": 6000,
    }
    if max_bytes == DEFAULT_MAX_REQUEST_BYTES:
        assert len(encoded.batches) == 1
    else:
        assert len(encoded.batches) > 1
        # greedy packing: no request but the last is less than 90% full
        assert all(len(b.body) > 0.9 * max_bytes for b in encoded.batches[:-1])


def test_a_point_larger_than_a_request_is_left_out_and_counted():
    huge = {"exalate.node": "n" * 20_000, "exalate.relation": "A", "exalate.endpoint": "e"}
    points = [Point("exalate.queue.size", 1, where("A")), Point("exalate.queue.size", 2, huge)]
    encoded = metric_requests(points, SPECS, RESOURCE, SCOPE, SeriesState(), NOW, max_bytes=MIN_MAX_REQUEST_BYTES)
    assert encoded.too_large == 1 and [r["v"] for r in decoded(encoded)] == [1]


def test_the_stream_makes_the_same_requests_one_at_a_time_and_counts_what_it_left_out_once_made():
    huge = {"exalate.node": "n" * 20_000, "exalate.relation": "A", "exalate.endpoint": "e"}
    points = [*many(3000), Point("exalate.queue.size", 2, huge)]
    args = (points, SPECS, RESOURCE, SCOPE, SeriesState(), NOW)
    whole = metric_requests(*args, max_bytes=MIN_MAX_REQUEST_BYTES)
    stream = metric_stream(*args, max_bytes=MIN_MAX_REQUEST_BYTES)
    first = next(stream.batches)  # made before the others exist: an export holds one request at a time
    assert stream.too_large == 0 and first == whole.batches[0]
    assert (first, *stream.batches) == whole.batches and len(whole.batches) > 2
    assert stream.too_large == whole.too_large == 1
    assert stream.series == whole.series


def test_log_requests_are_split_by_size_and_a_record_too_large_is_counted():
    request = ExportLogsServiceRequest()
    scoped = request.resource_logs.add().scope_logs.add()
    scoped.scope.name = "exalate_collector"
    for i in range(200):
        record = scoped.log_records.add()
        record.body.string_value = f"{i}:" + "x" * 500
    scoped.log_records.add().body.string_value = "y" * 40_000
    batches, too_large = split_logs(request, MIN_MAX_REQUEST_BYTES)
    assert too_large == 1 and len(batches) > 1 and all(len(b.body) <= MIN_MAX_REQUEST_BYTES for b in batches)
    bodies = [
        r.body.string_value.split(":")[0]
        for b in batches
        for r in ExportLogsServiceRequest.FromString(b.body).resource_logs[0].scope_logs[0].log_records
    ]
    assert bodies == [str(i) for i in range(200)]


def test_the_seed_run_as_an_otlp_request_golden():
    """The seed examples' points as the backend decodes them (a changed encoding is a reviewed diff)."""
    telemetry = run_telemetry(seed_exchanges(), run_duration_s=1.25)
    encoded = metric_requests(telemetry.points, SPECS, RESOURCE, SCOPE, SeriesState(), NOW)
    (batch,) = encoded.batches
    actual = MessageToDict(ExportMetricsServiceRequest.FromString(batch.body))
    assert actual == golden("seed_metrics_request.json", actual)


def metrics_partial(rejected: int, message: str = "") -> bytes:
    answer = ExportMetricsServiceResponse()
    answer.partial_success.rejected_data_points = rejected
    answer.partial_success.error_message = message
    return answer.SerializeToString()


def logs_partial(rejected: int) -> bytes:
    answer = ExportLogsServiceResponse()
    answer.partial_success.rejected_log_records = rejected
    return answer.SerializeToString()


PB = "application/x-protobuf"
VERDICTS = [
    # (signal, status, content type, body, location) -> (delivered, error.type, in the message, rejected)
    (("metrics", 200, PB, b"", ""), (True, None, "", 0)),
    (("metrics", 200, PB, ExportMetricsServiceResponse().SerializeToString(), ""), (True, None, "", 0)),
    (("metrics", 202, "text/plain", b"accepted", ""), (True, None, "", 0)),
    (("metrics", 200, PB, metrics_partial(0, "deprecated field"), ""), (True, None, "deprecated field", 0)),
    (("metrics", 200, PB, metrics_partial(30, "too old"), ""), (False, "export_rejected", "rejected 30 of 100", 30)),
    (("events", 200, PB, logs_partial(2), ""), (False, "export_rejected", "rejected 2 of 100 log records", 2)),
    (
        ("metrics", 200, "application/json", b'{"partialSuccess":{"rejectedDataPoints":"5","errorMessage":"x"}}', ""),
        (False, "export_rejected", "rejected 5 of 100 data points: x", 5),
    ),
    (("metrics", 301, "text/html", b"<a>moved</a>", "https://u:p@otlp.example.com/v1/metrics?key=k"), None),
    (("metrics", 307, "", b"", ""), (False, "export_redirected", "nowhere", 100)),
    (
        ("metrics", 400, PB, Status(code=3, message="flate: corrupt input before offset 5").SerializeToString(), ""),
        (False, "export_refused", "HTTP 400: flate: corrupt input before offset 5", 100),
    ),
    (("metrics", 400, "text/plain", b"bad\x1b[2J request\n", ""), (False, "export_refused", "HTTP 400: bad [2J", 100)),
    (("metrics", 401, "application/json", b'{"message":"invalid API key"}', ""), (False, "export_refused", "key", 100)),
    (("events", 503, "text/html", b"<html>busy</html>", ""), (False, "export_refused", "HTTP 503: an HTML page", 100)),
    (("metrics", 500, "", b"", ""), (False, "export_refused", "HTTP 500", 100)),
]


@pytest.mark.parametrize(("answer", "expected"), VERDICTS)
def test_only_a_2xx_that_rejected_nothing_is_delivered(answer, expected):
    verdict = judge(*answer, items=100)
    if expected is None:  # the redirect: its target's origin only, never user-info, path or query
        assert (verdict.delivered, verdict.error_type, verdict.rejected) == (False, "export_redirected", 100)
        assert "https://otlp.example.com" in verdict.message
        assert "u:p" not in verdict.message and "key=k" not in verdict.message and "/v1" not in verdict.message
        return
    delivered, error_type, said, rejected = expected
    assert (verdict.delivered, verdict.error_type, verdict.rejected) == (delivered, error_type, rejected)
    assert said in verdict.message and verdict.status_code == answer[1]


def test_a_backends_message_is_one_printable_redacted_line():
    from exalate_collector import redact

    redact.remember("api-key-of-the-backend-123")
    text = clean("denied for api-key-of-the-backend-123\r\nForged: line\x1b[2J" + "z" * 1000)
    assert "api-key-of-the-backend-123" not in text and "\n" not in text and "\x1b" not in text
    assert len(text) <= 300


def test_gzip_of_a_request_is_what_the_receiver_inflates():
    from exalate_collector.telemetry.delivery import compress

    body = metric_requests(many(10), SPECS, RESOURCE, SCOPE, SeriesState(), NOW).batches[0].body
    assert gzip.decompress(compress(body, "gzip")) == body
