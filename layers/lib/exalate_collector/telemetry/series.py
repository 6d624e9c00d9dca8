"""Series that stay right where users query them, across processes: final zeros and continued counters.

Each run is often a new process (cron, Lambda cold starts). What a time-series backend needs across them
is kept per deployment (one ``service.instance.id``) in one JSON document next to the node states
(``series_document``):

- ``gauges``: the gauge series the last run exported. One that is absent now gets one final 0
  (for the gauges whose contract says ``final_zero``), so a query at the next run's time sums no stale value.
- ``sums`` / ``histograms``: the cumulative totals exported last, and ``start_unix_nano`` the start of the
  stream. The SDK aggregates each run as a delta; ``cumulate`` adds it to these totals, so a counter goes
  on across processes and ``increase()`` works. Series without a change for ``CARRY_S`` are dropped.

Pure: plain data and the SDK's metric data classes in, the same out.
"""

from __future__ import annotations

import dataclasses
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

from .points import Point, SeriesKey, series_key

__all__ = ["SeriesKey", "series_key"]  # their home is points.py; imported from here too

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


def gauge_series(points: Iterable[Point], gauge_names: Iterable[str]) -> set[SeriesKey]:
    names = set(gauge_names)
    return {p.key for p in points if p.name in names}


def final_zeros(previous: Iterable[SeriesKey], points: Sequence[Point], final_zero_names: Iterable[str]) -> list[Point]:
    """A 0 for every gauge series the previous run exported that this run does not (only ``final_zero`` gauges)."""
    names = set(final_zero_names)
    now = gauge_series(points, names)
    gone = [key for key in previous if key[0] in names and key not in now]  # few: sorted after the filter
    return [Point(name, 0, dict(attrs)) for name, attrs in sorted(gone, key=repr)]


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
    unused), taken over: each becomes its series' total (``memory`` is left as it was). Series unchanged
    for ``CARRY_S`` are dropped. A start in the future starts anew (``starts_anew``).
    """
    now_s = now_unix_nano / 1e9
    if starts_anew(memory, now_unix_nano):
        memory = SeriesState(None, memory.gauges)
    start = memory.start_unix_nano or now_unix_nano
    # the untouched series that are recent enough, then every touched one (added to its total, however old)
    totals = {k: v for k, v in memory.sums.items() if now_s - v.changed_at < CARRY_S}
    buckets = {k: v for k, v in memory.histograms.items() if now_s - v.changed_at < CARRY_S}
    for key, value in sums.items():
        before = memory.sums.get(key)
        totals[key] = SumTotal((before.value if before else 0) + value, now_s)
    for key, delta in histograms.items():
        buckets[key] = _added_to(memory.histograms.get(key), delta, now_s)
    return SeriesState(start, memory.gauges, totals, buckets)  # the same gauges: the caller replaces them


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
                        histograms[key] = _added_to(histograms.get(key), sample, 0.0)
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


def _added_to(before: HistogramTotal | None, delta: HistogramTotal, now_s: float) -> HistogramTotal:
    """``delta`` made the total (``before`` + it), in place: a series' samples become its total, not a copy."""
    if before is not None and before.bounds == delta.bounds:  # else a new series, or bounds changed with an upgrade
        buckets = delta.buckets
        for i, count in enumerate(before.buckets):
            buckets[i] += count
        delta.count += before.count
        delta.sum += before.sum
        delta.min = min(before.min, delta.min)
        delta.max = max(before.max, delta.max)
    delta.changed_at = now_s
    return delta


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
