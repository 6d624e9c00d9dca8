"""Series that stay right where users query them, across processes: final zeros and continued counters.

Each run is often a new process (cron, Lambda cold starts). What a time-series backend needs across them
is kept per deployment (one ``service.instance.id``) in one JSON document next to the node states. Schema 2
names each metric name and (attribute, value) pair once, in tables, and every series by positions in them
(5,000 relations: 155,000 series in about 4 MB, where schema 1's dict per series took 17 MB):

    {"schema": 2, "instance": "host:/etc/exalate.yaml", "start_unix_nano": 1795805100000000000,
     "names": ["exalate.queue.size", "exalate.poll.errors", "exalate.poll.duration"],
     "pairs": [["exalate.node", "jira-prod"], ["exalate.relation", "to-acme"], ["error.type", "timeout"], ...],
     "bounds": [[0.005, 0.01, ...]],
     "gauges": [[0, [0, 1, 3]], ...],                          # name, pairs
     "sums": [[1, [0, 2, 3], 12, 1795805100.0]],              # name, pairs, total, changed at
     "histograms": [[2, [0, 3], 3, 0.3, 0, [1, 2, 0, ...], 0.1, 0.2, 1795805100.0]],
                        # name, pairs, count, sum, bounds, bucket counts, min, max, changed at
     "pending": [[1, [0, 4], 2]]}                             # name, pairs, increment

- ``gauges``: the gauge series the last run exported. One that is absent now gets one final 0
  (for the gauges whose contract says ``final_zero``), so a query at the next run's time sums no stale value.
- ``sums`` / ``histograms``: the cumulative totals exported last, and ``start_unix_nano`` the start of the
  stream. The SDK aggregates each run as a delta; ``cumulate`` adds it to these totals, so a counter goes
  on across processes and ``increase()`` works. Series without a change for ``CARRY_S`` are dropped.

Pure: plain data and the SDK's metric data classes in, the same out.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    Sum,
)

from ..errors import StateCorrupt
from .points import Point, SeriesKey, series_key, shared_pair

__all__ = ["SeriesKey", "series_key"]  # their home is points.py; imported from here too

SCHEMA = 2
#: Schema 1 (0.x, a dict per series) is still read; written is always ``SCHEMA``.
READABLE = (1, SCHEMA)
#: A counter or histogram series that has not changed for this long is no longer carried (a day).
CARRY_S = 86_400.0


@dataclass(slots=True)
class SumTotal:
    value: int | float
    changed_at: float


@dataclass(slots=True)
class HistogramTotal:
    count: int
    sum: float
    bounds: tuple[float, ...]
    buckets: list[int]
    min: float
    max: float
    changed_at: float


@dataclass
class SeriesState:
    """What one deployment's previous export left for the next one."""

    start_unix_nano: int | None = None
    gauges: set[SeriesKey] = field(default_factory=set)
    sums: dict[SeriesKey, SumTotal] = field(default_factory=dict)
    histograms: dict[SeriesKey, HistogramTotal] = field(default_factory=dict)
    #: Counter increments known only after an export (what became of its requests), for the next one.
    pending: dict[SeriesKey, int | float] = field(default_factory=dict)


def _attrs(key: SeriesKey) -> dict[str, Any]:
    return dict(key[1])


#: Rows encoded per ``json.dumps`` call: the document is written a slice at a time, never held as objects.
_ROWS_PER_SLICE = 4096


def encode_document(memory: SeriesState, instance: str) -> bytes:
    """The memory as the schema 2 JSON document (compact: see the module's text), UTF-8.

    Written a slice of rows at a time, so that what it costs beyond the bytes is a slice's rows; the
    tables (names, pairs, bounds) are those the rows refer to, assigned as the rows are written.
    Non-finite numbers are refused (``ValueError``: the caller's bug, never stored)."""
    names: dict[str, int] = {}
    pairs: dict[tuple[str, Any], int] = {}
    bounds: dict[tuple[float, ...], int] = {}

    def ref(key: SeriesKey) -> list[Any]:
        return [names.setdefault(key[0], len(names)), [pairs.setdefault(p, len(pairs)) for p in key[1]]]

    def rows(items: Iterable[list[Any]]) -> str:
        slices, chunk = [], []
        for row in items:
            chunk.append(row)
            if len(chunk) == _ROWS_PER_SLICE:
                slices.append(json.dumps(chunk, separators=(",", ":"), allow_nan=False)[1:-1])
                chunk = []
        if chunk:
            slices.append(json.dumps(chunk, separators=(",", ":"), allow_nan=False)[1:-1])
        return "[" + ",".join(slices) + "]"

    gauges = rows(ref(key) for key in memory.gauges)  # a set: any order reads back the same
    sums = rows([*ref(key), total.value, total.changed_at] for key, total in memory.sums.items())
    histograms = rows(
        [*ref(key), h.count, h.sum, bounds.setdefault(h.bounds, len(bounds)), h.buckets, h.min, h.max, h.changed_at]
        for key, h in memory.histograms.items()
    )
    pending = rows([*ref(key), value] for key, value in memory.pending.items())
    head = {
        "schema": SCHEMA,
        "instance": instance,
        "start_unix_nano": memory.start_unix_nano,
        "names": list(names),
        "pairs": [list(pair) for pair in pairs],
        "bounds": [list(b) for b in bounds],
    }
    text = json.dumps(head, separators=(",", ":"), allow_nan=False)[:-1]
    body = f',"gauges":{gauges},"sums":{sums},"histograms":{histograms},"pending":{pending}}}'
    return (text + body).encode("utf-8")


def from_document(raw: object, instance: str) -> SeriesState:
    """The memory as stored (schema 2, or 1 as 0.x wrote it), checked; raises StateCorrupt naming what is wrong."""
    where = f"series state of {instance}"
    if not isinstance(raw, dict) or raw.get("schema") not in READABLE:
        raise StateCorrupt(f"{where}: not a schema {SCHEMA} object")
    try:
        start = raw.get("start_unix_nano")
        if start is not None and (not isinstance(start, int) or start <= 0):
            raise ValueError("start_unix_nano")
        read = _read_v2 if raw["schema"] == SCHEMA else _read_v1
        gauges, sums, histograms, pending = read(raw)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StateCorrupt(f"{where}: malformed entry ({type(exc).__name__})") from None
    # A total below zero (or buckets not adding up to the count) would be exported on the same start
    # time as the true totals before it: a counter going down, which backends read as a reset.
    for key, total in sums.items():
        if total.value < 0:
            raise StateCorrupt(f"{where}: {key[0]} has a negative total")
    for key, value in pending.items():
        if value < 0:
            raise StateCorrupt(f"{where}: {key[0]} has a negative pending increment")
    for key, h in histograms.items():
        if len(h.buckets) != len(h.bounds) + 1:
            raise StateCorrupt(f"{where}: {key[0]} has {len(h.buckets)} buckets for {len(h.bounds)} bounds")
        if h.count < 0 or min(h.buckets) < 0 or sum(h.buckets) != h.count:
            raise StateCorrupt(f"{where}: {key[0]} has bucket counts that do not add up to its count")
    return SeriesState(start, gauges, sums, histograms, pending)


_Read = tuple[set[SeriesKey], dict[SeriesKey, SumTotal], dict[SeriesKey, HistogramTotal], dict[SeriesKey, int | float]]


def _read_v2(raw: dict[str, Any]) -> _Read:
    """Rows refer to the tables by position; a position out of range is a KeyError (a dict, not a list:
    a negative one must not wrap around)."""
    names = dict(enumerate(sys.intern(_text(n)) for n in raw["names"]))
    pairs = dict(enumerate(shared_pair(_text(k), _value(v)) for k, v in raw["pairs"]))
    bounds = dict(enumerate(tuple(float(b) for b in row) for row in raw["bounds"]))

    def key(row: Sequence[Any]) -> SeriesKey:
        return names[row[0]], tuple(sorted(pairs[i] for i in row[1]))

    gauges = {key(row) for row in raw["gauges"]}
    sums = {key(row): SumTotal(_number(row[2]), float(row[3])) for row in raw["sums"]}
    histograms = {
        key(row): HistogramTotal(
            count=int(row[2]),
            sum=float(row[3]),
            bounds=bounds[row[4]],
            buckets=[int(c) for c in row[5]],
            min=float(row[6]),
            max=float(row[7]),
            changed_at=float(row[8]),
        )
        for row in raw["histograms"]
    }
    pending = {key(row): _number(row[2]) for row in raw["pending"]}
    return gauges, sums, histograms, pending


def _read_v1(raw: dict[str, Any]) -> _Read:
    """Schema 1 (0.x): a dict of attributes per entry."""
    gauges = {series_key(str(name), dict(attrs)) for name, attrs in raw.get("gauges", [])}
    sums = {
        series_key(str(s["m"]), dict(s["a"])): SumTotal(_number(s["v"]), float(s["t"])) for s in raw.get("sums", [])
    }
    bounds: dict[tuple[float, ...], tuple[float, ...]] = {}  # one tuple per set of bounds, shared
    histograms = {
        series_key(str(h["m"]), dict(h["a"])): HistogramTotal(
            count=int(h["count"]),
            sum=float(h["sum"]),
            bounds=_shared(bounds, tuple(float(b) for b in h["bounds"])),
            buckets=[int(c) for c in h["buckets"]],
            min=float(h["min"]),
            max=float(h["max"]),
            changed_at=float(h["t"]),
        )
        for h in raw.get("histograms", [])
    }
    pending = {series_key(str(p["m"]), dict(p["a"])): _number(p["v"]) for p in raw.get("pending", [])}
    return gauges, sums, histograms, pending


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _value(value: object) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError("not an attribute value")
    return value


def _shared(cache: dict[Any, Any], value: Any) -> Any:
    return cache.setdefault(value, value)


def pending_points(memory: SeriesState) -> list[Point]:
    """The increments the previous export left for this one, as points of this run."""
    return [Point(name, value, dict(attrs)) for (name, attrs), value in sorted(memory.pending.items(), key=repr)]


def pending_of(points: Iterable[Point]) -> dict[SeriesKey, int | float]:
    """Counter points, as increments to keep for the next export."""
    found: dict[SeriesKey, int | float] = {}
    for p in points:
        key = p.key
        found[key] = found.get(key, 0) + p.value
    return found


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return value


def gauge_series(points: Iterable[Point], gauge_names: Iterable[str]) -> set[SeriesKey]:
    names = set(gauge_names)
    return {p.key for p in points if p.name in names}


def final_zeros(previous: Iterable[SeriesKey], points: Sequence[Point], final_zero_names: Iterable[str]) -> list[Point]:
    """A 0 for every gauge series the previous run exported that this run does not (only ``final_zero`` gauges)."""
    names = set(final_zero_names)
    now = gauge_series(points, names)
    gone = [key for key in sorted(previous, key=repr) if key[0] in names and key not in now]
    return [Point(name, 0, dict(attrs)) for name, attrs in gone]


def starts_anew(memory: SeriesState, now_unix_nano: int) -> bool:
    """Whether the stored start is unusable now: after ``now`` (the clock stepped back, or a start kept by a
    host whose clock ran ahead). Continued on it, points would have ``start_time > time``, which backends
    refuse or read as nonsense; the totals of that stream are dropped and a new stream starts now."""
    return memory.start_unix_nano is not None and memory.start_unix_nano > now_unix_nano


def continue_totals(
    sums: Mapping[SeriesKey, int | float],
    histograms: Mapping[SeriesKey, HistogramTotal],
    memory: SeriesState,
    now_unix_nano: int,
) -> SeriesState:
    """This run's deltas added to the deployment's totals: the memory after exporting them.

    ``sums``: series -> this run's increment; ``histograms``: series -> this run's samples (``changed_at``
    unused). Series unchanged for ``CARRY_S`` are dropped. A start in the future starts anew (``starts_anew``).
    """
    now_s = now_unix_nano / 1e9
    if starts_anew(memory, now_unix_nano):
        memory = SeriesState(None, set(memory.gauges))
    start = memory.start_unix_nano or now_unix_nano
    totals = dict(memory.sums)
    buckets = dict(memory.histograms)
    for key, value in sums.items():
        before = totals.get(key)
        totals[key] = SumTotal((before.value if before else 0) + value, now_s)
    for key, delta in histograms.items():
        buckets[key] = _add_histogram(buckets.get(key), delta, now_s)
    touched = set(sums) | set(histograms)
    totals = {k: v for k, v in totals.items() if k in touched or now_s - v.changed_at < CARRY_S}
    buckets = {k: v for k, v in buckets.items() if k in touched or now_s - v.changed_at < CARRY_S}
    return SeriesState(start, set(memory.gauges), totals, buckets)


def cumulate(
    data: MetricsData, memory: SeriesState, now_unix_nano: int, specs: Mapping[str, tuple[str, str]]
) -> tuple[MetricsData, SeriesState]:
    """Turn this run's delta sums and histograms (the SDK's data classes) into cumulative ones continuing
    ``memory`` (``continue_totals``).

    ``specs``: metric name -> (unit, description), for series carried from memory that had no
    measurement in this run (their metric may be absent from ``data``). Returns the data to export and
    the memory to keep (the totals just exported).
    """
    sums: dict[SeriesKey, int | float] = {}
    histograms: dict[SeriesKey, HistogramTotal] = {}
    resources = []
    for rm in data.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for metric in sm.metrics:
                if isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    for dp in metric.data.data_points:
                        key = series_key(metric.name, dp.attributes)
                        sums[key] = sums.get(key, 0) + dp.value
                elif isinstance(metric.data, Histogram):
                    for hp in metric.data.data_points:
                        key = series_key(metric.name, hp.attributes)
                        sample = HistogramTotal(
                            hp.count,
                            hp.sum,
                            tuple(float(b) for b in hp.explicit_bounds),
                            list(hp.bucket_counts),
                            hp.min,
                            hp.max,
                            0.0,
                        )
                        histograms[key] = _add_histogram(histograms.get(key), sample, 0.0)
                else:
                    metrics.append(metric)
            scopes.append(dataclasses.replace(sm, metrics=metrics))
        resources.append(dataclasses.replace(rm, scope_metrics=scopes))
    kept = continue_totals(sums, histograms, memory, now_unix_nano)
    assert kept.start_unix_nano is not None
    carried = _metrics(kept.sums, kept.histograms, kept.start_unix_nano, now_unix_nano, specs)
    if resources and resources[0].scope_metrics:
        first = resources[0]
        scope = first.scope_metrics[0]
        scopes = [dataclasses.replace(scope, metrics=[*scope.metrics, *carried]), *first.scope_metrics[1:]]
        resources[0] = dataclasses.replace(first, scope_metrics=scopes)
    return MetricsData(resource_metrics=resources), kept


def _add_histogram(before: HistogramTotal | None, delta: HistogramTotal, now_s: float) -> HistogramTotal:
    if before is None or before.bounds != delta.bounds:  # new series, or the boundaries changed with an upgrade
        return HistogramTotal(delta.count, delta.sum, delta.bounds, list(delta.buckets), delta.min, delta.max, now_s)
    return HistogramTotal(
        count=before.count + delta.count,
        sum=before.sum + delta.sum,
        bounds=before.bounds,
        buckets=[a + b for a, b in zip(before.buckets, delta.buckets, strict=True)],
        min=min(before.min, delta.min),
        max=max(before.max, delta.max),
        changed_at=now_s,
    )


def _metrics(
    sums: Mapping[SeriesKey, SumTotal],
    histograms: Mapping[SeriesKey, HistogramTotal],
    start: int,
    now: int,
    specs: Mapping[str, tuple[str, str]],
) -> list[Metric]:
    by_name: dict[str, list[Any]] = {}
    for key, total in sorted(sums.items(), key=repr):
        by_name.setdefault(key[0], []).append(NumberDataPoint(_attrs(key), start, now, total.value))
    for key, h in sorted(histograms.items(), key=repr):
        point = HistogramDataPoint(
            _attrs(key), start, now, h.count, h.sum, list(h.buckets), list(h.bounds), h.min, h.max
        )
        by_name.setdefault(key[0], []).append(point)
    metrics = []
    for name, points in by_name.items():
        unit, description = specs.get(name, ("", ""))
        cumulative = AggregationTemporality.CUMULATIVE
        data: Sum | Histogram = (
            Histogram(points, cumulative)
            if isinstance(points[0], HistogramDataPoint)
            else Sum(points, cumulative, is_monotonic=True)
        )
        metrics.append(Metric(name, description, unit, data))
    return metrics
