"""The pure series memory: final zeros, delta -> cumulative continued from the state, the stored document."""

from __future__ import annotations

import json

import pytest
from exalate_collector.errors import StateCorrupt
from exalate_collector.telemetry.points import Point
from exalate_collector.telemetry.series import (
    CARRY_S,
    HistogramTotal,
    SeriesState,
    SumTotal,
    cumulate,
    final_zeros,
    series_key,
)
from exalate_collector.telemetry.series_document import encode_document, from_document
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

S = 1_000_000_000
DELTA = AggregationTemporality.DELTA
WHERE = {"exalate.node": "n", "exalate.relation": "R", "exalate.endpoint": "e", "error.type": "timeout"}
SPECS = {"exalate.poll.errors": ("{error}", "Failed polls."), "exalate.poll.duration": ("s", "Time of each GET")}


def data(*metrics: Metric) -> MetricsData:
    scope = ScopeMetrics(InstrumentationScope("exalate_collector"), list(metrics), "")
    return MetricsData([ResourceMetrics(Resource({"service.instance.id": "i"}), [scope], "")])


def errors(value: int, at: int, **where: str) -> Metric:
    point = NumberDataPoint({**WHERE, **where}, at - S, at, value)
    return Metric("exalate.poll.errors", "Failed polls.", "{error}", Sum([point], DELTA, is_monotonic=True))


def durations(*seconds: float, at: int) -> Metric:
    bounds = [0.1, 1.0]
    buckets = [sum(1 for s in seconds if s <= 0.1), sum(1 for s in seconds if 0.1 < s <= 1), 0]
    point = HistogramDataPoint(
        WHERE, at - S, at, len(seconds), sum(seconds), buckets, bounds, min(seconds), max(seconds)
    )
    return Metric("exalate.poll.duration", "", "s", Histogram([point], DELTA))


def queue(value: int, at: int) -> Metric:
    return Metric("exalate.queue.size", "", "{item}", Gauge([NumberDataPoint(WHERE, 0, at, value)]))


def to_document(memory: SeriesState, instance: str) -> object:
    """The document as a new process reads it back: bytes, parsed as the store does."""
    return json.loads(encode_document(memory, instance))


def exported(result: MetricsData) -> dict[str, list]:
    (rm,) = result.resource_metrics
    (sm,) = rm.scope_metrics
    return {m.name: list(m.data.data_points) for m in sm.metrics}


def test_a_run_continues_the_totals_and_start_of_the_previous_process():
    first, memory = cumulate(data(queue(3, 100 * S), errors(2, 100 * S)), SeriesState(), 100 * S, SPECS)
    (point,) = exported(first)["exalate.poll.errors"]
    assert (point.value, point.start_time_unix_nano) == (2, 100 * S)
    # a new process: only the document survives
    memory = from_document(to_document(memory, "i"), "i")
    second, memory = cumulate(data(queue(1, 400 * S), errors(3, 400 * S)), memory, 400 * S, SPECS)
    got = exported(second)
    (point,) = got["exalate.poll.errors"]
    assert (point.value, point.start_time_unix_nano, point.time_unix_nano) == (5, 100 * S, 400 * S)
    assert [p.value for p in got["exalate.queue.size"]] == [1]  # gauges pass through untouched
    (metric,) = [m for m in second.resource_metrics[0].scope_metrics[0].metrics if m.name == "exalate.poll.errors"]
    assert metric.data.aggregation_temporality is AggregationTemporality.CUMULATIVE and metric.data.is_monotonic


def test_a_series_without_failures_this_run_is_carried_with_its_total_then_dropped_after_a_day():
    _, memory = cumulate(data(errors(2, 100 * S)), SeriesState(), 100 * S, SPECS)
    later, memory = cumulate(data(queue(1, 400 * S)), memory, 400 * S, SPECS)
    (point,) = exported(later)["exalate.poll.errors"]
    assert (point.value, point.time_unix_nano) == (2, 400 * S)
    day_later = int((100 + CARRY_S + 1) * S)
    last, memory = cumulate(data(queue(1, day_later)), memory, day_later, SPECS)
    assert "exalate.poll.errors" not in exported(last) and memory.sums == {}


def test_a_series_failing_again_after_more_than_a_day_continues_its_total():
    _, memory = cumulate(data(errors(2, 100 * S)), SeriesState(), 100 * S, SPECS)
    day_later = int((100 + CARRY_S + 1) * S)
    again, memory = cumulate(data(errors(3, day_later)), memory, day_later, SPECS)
    (point,) = exported(again)["exalate.poll.errors"]
    assert (point.value, point.start_time_unix_nano) == (5, 100 * S)  # still the stream it started
    assert [total.value for total in memory.sums.values()] == [5]


def test_histograms_add_up_bucket_by_bucket():
    _, memory = cumulate(data(durations(0.05, 0.5, at=100 * S)), SeriesState(), 100 * S, SPECS)
    memory = from_document(to_document(memory, "i"), "i")
    second, _ = cumulate(data(durations(0.07, at=400 * S)), memory, 400 * S, SPECS)
    (point,) = exported(second)["exalate.poll.duration"]
    assert (point.count, point.bucket_counts, point.min, point.max) == (3, [2, 1, 0], 0.05, 0.5)
    assert point.sum == pytest.approx(0.62) and point.start_time_unix_nano == 100 * S


def test_the_previous_memory_is_left_as_it_was_when_its_totals_are_continued():
    """This run's samples become the totals in place; the memory read back is not changed by it."""
    _, memory = cumulate(data(durations(0.05, 0.5, at=100 * S)), SeriesState(), 100 * S, SPECS)
    (before,) = memory.histograms.values()
    snapshot = (before.count, list(before.buckets), before.sum, before.changed_at)
    _, after = cumulate(data(durations(0.07, at=400 * S)), memory, 400 * S, SPECS)
    (total,) = after.histograms.values()
    assert total is not before and (total.count, total.buckets) == (3, [2, 1, 0])
    assert (before.count, before.buckets, before.sum, before.changed_at) == snapshot


def test_a_point_keeps_its_attributes_only_in_its_series_key():
    where = {"exalate.node": "n", "exalate.relation": "R", "exalate.endpoint": "e"}
    up, size = Point("exalate.endpoint.up", 1, where), Point("exalate.queue.size", 3, dict(where))
    assert up.attributes == where and list(up.attributes) == sorted(where)  # a new dict, by attribute name
    assert up.key[1] is size.key[1]  # one tuple of pairs for every series with these attributes
    assert up == Point("exalate.endpoint.up", 1, dict(reversed(where.items()))) and up != size
    with pytest.raises(AttributeError):
        up.value = 2  # type: ignore[misc]
    assert not hasattr(up, "__dict__")


def test_final_zeros_only_for_gauges_that_are_gone_and_declared_so():
    before = {
        series_key("exalate.queue.size", {"exalate.relation": "A"}),
        series_key("exalate.queue.size", {"exalate.relation": "B"}),
        series_key("exalate.endpoint.up", {"exalate.relation": "B"}),
    }
    now = [Point("exalate.queue.size", 4, {"exalate.relation": "A"})]
    assert final_zeros(before, now, ["exalate.queue.size"]) == [
        Point("exalate.queue.size", 0, {"exalate.relation": "B"})
    ]


BOUNDS = (0.1, 1.0)
ROUND_TRIP = SeriesState(
    start_unix_nano=100 * S,
    gauges={
        series_key("exalate.queue.size", {"exalate.node": "n", "exalate.relation": "R", "exalate.endpoint": "e"}),
        series_key("exalate.endpoint.up", {"exalate.node": "n", "exalate.endpoint": "e"}),
    },
    sums={
        series_key("exalate.poll.errors", WHERE): SumTotal(5, 100.5),
        series_key("exalate.export.requests", {}): SumTotal(2.5, 3.0),
    },
    histograms={
        series_key("exalate.poll.duration", {**WHERE, "http.response.status_code": 200}): HistogramTotal(
            3, 0.62, BOUNDS, [2, 1, 0], 0.05, 0.5, 400.0
        )
    },
    pending={series_key("exalate.export.dropped", {"exalate.signal": "metrics"}): 7},
)


def test_the_document_reads_back_as_the_memory_it_was_written_from():
    back = from_document(to_document(ROUND_TRIP, "i"), "i")
    assert back == ROUND_TRIP
    (key,) = back.histograms
    assert dict(key[1])["http.response.status_code"] == 200  # an int attribute stays an int


def test_schema_2_names_each_name_and_pair_once():
    memory = SeriesState(
        gauges={series_key("exalate.queue.size", {"exalate.node": "n", "exalate.relation": f"R{i}"}) for i in range(50)}
    )
    document = to_document(memory, "i")
    assert document["schema"] == 2 and document["names"] == ["exalate.queue.size"]
    assert sorted(map(tuple, document["pairs"])) == sorted(
        [("exalate.node", "n")] + [("exalate.relation", f"R{i}") for i in range(50)]
    )
    assert all(len(row) == 2 and len(row[1]) == 2 for row in document["gauges"])


def test_a_schema_1_document_of_earlier_builds_is_still_read():
    """Upgrading keeps the deployment's counters: earlier builds wrote a dict per series (schema 1)."""
    attrs = {"exalate.node": "n", "exalate.endpoint": "e"}
    raw = {
        "schema": 1,
        "instance": "i",
        "start_unix_nano": 100 * S,
        "gauges": [["exalate.endpoint.up", attrs]],
        "sums": [{"m": "exalate.poll.errors", "a": WHERE, "v": 5, "t": 100.5}],
        "histograms": [
            {
                "m": "h",
                "a": attrs,
                "count": 3,
                "sum": 0.6,
                "bounds": [0.1, 1],
                "buckets": [2, 1, 0],
                "min": 0.1,
                "max": 0.3,
                "t": 1.0,
            }
        ],
        "pending": [{"m": "exalate.export.dropped", "a": {}, "v": 2}],
    }
    memory = from_document(raw, "i")
    assert memory.gauges == {series_key("exalate.endpoint.up", attrs)}
    assert memory.sums == {series_key("exalate.poll.errors", WHERE): SumTotal(5, 100.5)}
    assert memory.histograms[series_key("h", attrs)] == HistogramTotal(3, 0.6, BOUNDS, [2, 1, 0], 0.1, 0.3, 1.0)
    assert memory.pending == {series_key("exalate.export.dropped", {}): 2}
    assert to_document(memory, "i")["schema"] == 2  # and written anew as schema 2


def test_a_non_finite_number_is_never_written():
    memory = SeriesState(sums={series_key("exalate.poll.errors", {}): SumTotal(float("inf"), 1.0)})
    with pytest.raises(ValueError):
        encode_document(memory, "i")


def v2(**rows: object) -> dict[str, object]:
    base = {"schema": 2, "names": ["x"], "pairs": [["a", "b"]], "bounds": [[1.0]], "gauges": [], "sums": []}
    return {**base, "histograms": [], "pending": [], **rows}


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"schema": 2},
        {"schema": 3},
        v2(gauges=[[0, [1]]]),  # a pair out of the table
        v2(gauges=[[0, [-1]]]),  # negative: not wrapped around to the last pair
        v2(gauges=[[1, [0]]]),  # a name out of the table
        v2(pairs=[["a", True]]),  # a bool is no attribute value
        v2(pairs=[[3, "b"]]),
        v2(names=[7]),
        v2(sums=[[0, [0], "three", 1.0]]),
        v2(sums=[[0, [0], -5, 1.0]]),
        v2(histograms=[[0, [0], 3, 1.0, 0, [1, 1], 1.0, 1.0, 1.0]]),  # buckets not adding up
        v2(histograms=[[0, [0], 1, 1.0, 1, [1, 0], 1.0, 1.0, 1.0]]),  # bounds out of the table
        v2(pending=[[0, [0], -1]]),
        {"schema": 1, "sums": [{"m": "x", "a": {}, "v": "three", "t": 1.0}]},
        {"schema": 1, "start_unix_nano": "yesterday"},
        # Counts below zero: exported on the same start time, the counter would go down (read as a reset).
        {"schema": 1, "start_unix_nano": 1, "sums": [{"m": "x", "a": {}, "v": -5, "t": 1.0}]},
        {"schema": 1, "start_unix_nano": -1},
        {
            "schema": 1,
            "histograms": [
                {
                    "m": "h",
                    "a": {},
                    "count": -1,
                    "sum": 1,
                    "bounds": [1],
                    "buckets": [0, -1],
                    "min": 1,
                    "max": 1,
                    "t": 1,
                }
            ],
        },
        {
            "schema": 1,
            "histograms": [
                {"m": "h", "a": {}, "count": 3, "sum": 1, "bounds": [1], "buckets": [1, 1], "min": 1, "max": 1, "t": 1}
            ],
        },
        {
            "schema": 1,
            "histograms": [
                {"m": "h", "a": {}, "count": 1, "sum": 1, "bounds": [1], "buckets": [1], "min": 1, "max": 1, "t": 1}
            ],
        },
    ],
)
def test_a_malformed_document_is_state_corrupt(raw):
    with pytest.raises(StateCorrupt):
        from_document(raw, "i")
