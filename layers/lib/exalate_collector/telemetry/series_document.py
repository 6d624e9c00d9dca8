"""The series state as stored: ``SeriesState`` (series.py) <-> its JSON document, checked on the way in.

One document per deployment (one ``service.instance.id``), next to the node states. Schema 2
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

Pure: plain data in, the same out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import StateCorrupt
from .points import SeriesKey, series_key, shared_pair, shared_pairs
from .series import HistogramTotal, SeriesState, SumTotal

SCHEMA = 2
#: Schema 1 (earlier builds: a dict per series) is still read; written is always ``SCHEMA``.
READABLE = (1, SCHEMA)


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
    """The memory as stored (schema 2, or 1 as earlier builds wrote it), checked; raises StateCorrupt
    naming what is wrong."""
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
        return names[row[0]], shared_pairs(sorted(pairs[i] for i in row[1]))

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
    """Schema 1 (earlier builds): a dict of attributes per entry."""
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


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return value
