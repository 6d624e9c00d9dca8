"""Pure: a run's points -> OTLP/HTTP protobuf requests of bounded size, and an OTLP answer -> a verdict.

The points are what ``points.py`` computed; nothing is aggregated by the SDK (whose instruments merge
every series past its cardinality limit, 2,000 per metric by default, into one ``otel.metric.overflow``
series). Here each distinct attribute set is one series, however many there are: gauges keep their last
value, counters add up, histogram samples fall into the contract's buckets. Cumulative totals continue
the deployment's memory (``series.continue_totals``).

Requests are assembled from serialized data points with exact protobuf framing, so a request's size is
known before it is built: every request is at most ``max_bytes`` (uncompressed), a metric's points are
spread over as many requests as needed, and only a point that alone exceeds the bound is left out
(counted in ``Encoded.too_large``).
"""

from __future__ import annotations

import bisect
import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource

from ..errors import ExportRedirected, ExportRefused, ExportRejected
from ..redact import redact
from .contract import MetricSpec
from .points import Point
from .series import HistogramTotal, SeriesKey, SeriesState, continue_totals

#: The default bound of one request's protobuf body, before compression: far below what backends accept
#: (OpenTelemetry Collector 20 MiB, VictoriaMetrics 64 MB), large enough for ~25,000 points a request.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: The smallest bound accepted: room for a resource, a scope, a metric and its longest point.
MIN_MAX_REQUEST_BYTES = 16 * 1024
#: Framing of one length-delimited field: a one-byte tag and at most a five-byte length.
_FRAME = 6
_CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
_DELTA = pb.AGGREGATION_TEMPORALITY_DELTA
AttributeValue = str | int | float | bool


@dataclass(frozen=True)
class Batch:
    """One request: its serialized protobuf body and how many data points (or log records) it carries."""

    body: bytes
    items: int


@dataclass(frozen=True)
class Encoded:
    batches: tuple[Batch, ...]
    #: Items that alone are larger than a request may be: not sent, and counted as dropped.
    too_large: int = 0
    #: The deployment's series after this export (cumulative totals); the input memory with delta.
    series: SeriesState = field(default_factory=SeriesState)

    @property
    def items(self) -> int:
        return sum(b.items for b in self.batches)


def _varint(n: int) -> bytes:
    if n < _SMALL:
        return _VARINTS[n]
    return _slow_varint(n)


def _slow_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


_SMALL = 1 << 14
_VARINTS = [_slow_varint(n) for n in range(_SMALL)]
_TAGS = [bytes((n,)) for n in range(256)]


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag byte (field number << 3 | 2), length, payload."""
    n = len(payload)
    return _TAGS[tag] + (_VARINTS[n] if n < _SMALL else _slow_varint(n)) + payload


def _any(value: AttributeValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(double_value=float(value))


def key_values(attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attributes.items()]


def resource_proto(attributes: Mapping[str, AttributeValue]) -> PbResource:
    return PbResource(attributes=key_values(attributes))


@dataclass(frozen=True)
class _Histogram:
    bounds: tuple[float, ...]
    count: int = 0
    sum: float = 0.0
    buckets: tuple[int, ...] = ()
    min: float = math.inf
    max: float = -math.inf


def _sample(before: HistogramTotal | None, value: float, bounds: tuple[float, ...]) -> HistogramTotal:
    """A histogram with one more sample (a value equal to a boundary falls in the bucket it closes)."""
    if before is None:
        before = HistogramTotal(0, 0.0, bounds, [0] * (len(bounds) + 1), math.inf, -math.inf, 0.0)
    before.buckets[bisect.bisect_left(bounds, value)] += 1
    before.count += 1
    before.sum += value
    before.min = min(before.min, value)
    before.max = max(before.max, value)
    return before


@dataclass
class Aggregated:
    """One run's points as series: gauges' last values, counters' increments, histograms' samples."""

    gauges: dict[str, dict[SeriesKey, int | float]] = field(default_factory=dict)
    sums: dict[SeriesKey, int | float] = field(default_factory=dict)
    histograms: dict[SeriesKey, HistogramTotal] = field(default_factory=dict)


def aggregate(points: Iterable[Point], specs: Mapping[str, MetricSpec]) -> Aggregated:
    out = Aggregated()
    for p in points:
        spec = specs[p.name]
        if spec.instrument == "gauge":  # a run's own series: its points' attribute order is stable
            out.gauges.setdefault(p.name, {})[(p.name, tuple(p.attributes.items()))] = p.value
            continue
        key = p.key
        if spec.instrument == "counter":
            out.sums[key] = out.sums.get(key, 0) + p.value
        else:
            out.histograms[key] = _sample(out.histograms.get(key), float(p.value), spec.bucket_boundaries)
    return out


class _Encoder:
    """Data points serialized by hand (the same wire format the protobuf runtime writes, fields in number
    order), each attribute's KeyValue serialized once per run: the run's hot loop, 3-5x the generated
    classes' speed. ``test_wire`` decodes every shape back with the generated classes."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[int, tuple[str, AttributeValue]], bytes] = {}

    def attributes(self, tag: int, key: SeriesKey) -> bytes:
        out = []
        cache = self._attributes
        for pair in key[1]:
            encoded = cache.get((tag, pair))
            if encoded is None:
                kv = KeyValue(key=pair[0], value=_any(pair[1])).SerializeToString()
                encoded = cache[(tag, pair)] = _field(tag, kv)
            out.append(encoded)
        return b"".join(out)

    def number(self, key: SeriesKey, value: int | float, start: int, now: int) -> bytes:
        head = (_FIXED64_2 + _U64.pack(start) if start else b"") + _FIXED64_3 + _U64.pack(now)
        if isinstance(value, int) and not isinstance(value, bool):
            number = _SFIXED64_6 + _I64.pack(value)  # a oneof: written even when 0
        else:
            number = _DOUBLE_4 + _F64.pack(float(value))
        return _field(0x0A, head + number + self.attributes(0x3A, key))

    def histogram(self, key: SeriesKey, h: HistogramTotal, start: int, now: int) -> bytes:
        parts = [
            (_FIXED64_2 + _U64.pack(start) if start else b"") + _FIXED64_3 + _U64.pack(now),
            b"\x21" + _U64.pack(h.count),
            b"\x29" + _F64.pack(h.sum),  # optional in the proto: present even when 0
            _field(0x32, struct.pack(f"<{len(h.buckets)}Q", *h.buckets)) if h.buckets else b"",
            _field(0x3A, struct.pack(f"<{len(h.bounds)}d", *h.bounds)) if h.bounds else b"",
            self.attributes(0x4A, key),
        ]
        if h.count:
            parts.append(b"\x59" + _F64.pack(h.min) + b"\x61" + _F64.pack(h.max))
        return _field(0x0A, b"".join(parts))


_U64, _I64, _F64 = struct.Struct("<Q"), struct.Struct("<q"), struct.Struct("<d")
_FIXED64_2, _FIXED64_3, _DOUBLE_4, _SFIXED64_6 = b"\x11", b"\x19", b"\x21", b"\x31"


@dataclass
class _Metric:
    """A metric's header (name, description, unit; the data's temporality) and its framed points."""

    head: bytes
    data_tag: int  # gauge 5, sum 7, histogram 9: (number << 3) | 2
    data_head: bytes
    points: list[bytes]


def _by_key(item: tuple[SeriesKey, Any]) -> str:
    return repr(item[0])


def _head(spec: MetricSpec) -> bytes:
    return pb.Metric(name=spec.name, description=spec.description, unit=spec.unit).SerializeToString()


def metric_requests(
    points: Sequence[Point],
    specs: Mapping[str, MetricSpec],
    resource: Mapping[str, AttributeValue],
    scope: tuple[str, str],
    memory: SeriesState,
    now_unix_nano: int,
    *,
    cumulative: bool = True,
    delta_start_unix_nano: int | None = None,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> Encoded:
    """Every series of ``points`` (and, cumulative, every total ``memory`` carries) as
    ExportMetricsServiceRequest bodies of at most ``max_bytes`` each, metrics in the contract's order.

    Gauges: time ``now``, no start. Counters and histograms: cumulative totals since the memory's start
    (a new one when it is unset or in the future), or with ``cumulative=False`` this run's deltas since
    ``delta_start_unix_nano``.
    """
    run = aggregate(points, specs)
    if cumulative:
        kept = continue_totals(run.sums, run.histograms, memory, now_unix_nano)
        start = kept.start_unix_nano or now_unix_nano
        histograms = kept.histograms
        sum_values = {k: v.value for k, v in kept.sums.items()}
        temporality = _CUMULATIVE
    else:
        kept = memory
        start = min(delta_start_unix_nano or now_unix_nano, now_unix_nano)
        sum_values, histograms = dict(run.sums), dict(run.histograms)
        temporality = _DELTA
    by_name: dict[str, list[bytes]] = {}
    encode = _Encoder()
    for name, series in run.gauges.items():
        by_name[name] = [encode.number(k, v, 0, now_unix_nano) for k, v in series.items()]
    for key, value in sorted(sum_values.items(), key=_by_key):
        by_name.setdefault(key[0], []).append(encode.number(key, value, start, now_unix_nano))
    for key, h in sorted(histograms.items(), key=_by_key):
        by_name.setdefault(key[0], []).append(encode.histogram(key, h, start, now_unix_nano))
    metrics = []
    for name, spec in specs.items():
        if name not in by_name:
            continue
        if spec.instrument == "gauge":
            tag, data_head = 0x2A, b""
        elif spec.instrument == "counter":
            tag, data_head = 0x3A, pb.Sum(aggregation_temporality=temporality, is_monotonic=True).SerializeToString()
        else:
            tag, data_head = 0x4A, pb.Histogram(aggregation_temporality=temporality).SerializeToString()
        metrics.append(_Metric(_head(spec), tag, data_head, by_name[name]))
    batches, too_large = pack(metrics, resource_proto(resource), scope, max_bytes)
    return Encoded(batches, too_large, kept)


def _scope_head(resource: PbResource, scope: tuple[str, str]) -> tuple[bytes, bytes]:
    rm_head = pb.ResourceMetrics(resource=resource).SerializeToString()
    sm_head = pb.ScopeMetrics(scope=InstrumentationScope(name=scope[0], version=scope[1])).SerializeToString()
    return rm_head, sm_head


def pack(
    metrics: Sequence[_Metric], resource: PbResource, scope: tuple[str, str], max_bytes: int
) -> tuple[tuple[Batch, ...], int]:
    """Greedy: points in order into the current request while it stays within ``max_bytes`` (framing
    counted at its largest), then a new request. Returns the requests and the points left out."""
    rm_head, sm_head = _scope_head(resource, scope)
    base = _FRAME + len(rm_head) + _FRAME + len(sm_head)
    batches: list[Batch] = []
    too_large = 0
    current: list[tuple[_Metric, list[bytes]]] = []
    size = base
    items = 0

    def flush() -> None:
        nonlocal current, size, items
        if items:
            batches.append(Batch(_request(rm_head, sm_head, current), items))
        current, size, items = [], base, 0

    for metric in metrics:
        overhead = _FRAME + len(metric.head) + _FRAME + len(metric.data_head)
        opened = False
        for point in metric.points:
            if base + overhead + len(point) > max_bytes:
                too_large += 1
                continue
            if size + (0 if opened else overhead) + len(point) > max_bytes:
                flush()
                opened = False
            if not opened:
                current.append((metric, []))
                size += overhead
                opened = True
            current[-1][1].append(point)
            size += len(point)
            items += 1
    flush()
    return tuple(batches), too_large


def _request(rm_head: bytes, sm_head: bytes, metrics: Sequence[tuple[_Metric, list[bytes]]]) -> bytes:
    """ExportMetricsServiceRequest{ResourceMetrics{resource, ScopeMetrics{scope, Metric...}}}, its lengths
    computed first so that the request is joined once (nesting ``_field`` would copy it at each level)."""
    pieces: list[bytes] = []
    scope_size = len(sm_head)
    for metric, points in metrics:
        if not points:
            continue
        data_size = len(metric.data_head) + sum(len(p) for p in points)
        data_length = _varint(data_size)
        metric_size = len(metric.head) + 1 + len(data_length) + data_size
        metric_length = _varint(metric_size)
        pieces += (_TAGS[0x12], metric_length, metric.head, _TAGS[metric.data_tag], data_length, metric.data_head)
        pieces += points
        scope_size += 1 + len(metric_length) + metric_size
    scope_length = _varint(scope_size)
    resource_size = len(rm_head) + 1 + len(scope_length) + scope_size
    head = [_TAGS[0x0A], _varint(resource_size), rm_head, _TAGS[0x12], scope_length, sm_head]
    return b"".join(head + pieces)


def split_logs(request: ExportLogsServiceRequest, max_bytes: int) -> tuple[tuple[Batch, ...], int]:
    """An ExportLogsServiceRequest (one resource, one scope: what the SDK's encoder makes of one run's
    events) in requests of at most ``max_bytes``; a record larger than that alone is left out."""
    batches: list[Batch] = []
    too_large = 0
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            head = ExportLogsServiceRequest()
            part = head.resource_logs.add()
            part.resource.CopyFrom(rl.resource)
            part.schema_url = rl.schema_url
            scoped = part.scope_logs.add()
            scoped.scope.CopyFrom(sl.scope)
            scoped.schema_url = sl.schema_url
            base = head.ByteSize() + 2 * _FRAME
            chunk: list[Any] = []
            size = base
            for record in sl.log_records:
                cost = record.ByteSize() + _FRAME
                if base + cost > max_bytes:
                    too_large += 1
                    continue
                if size + cost > max_bytes and chunk:
                    batches.append(_logs_batch(head, chunk))
                    chunk, size = [], base
                chunk.append(record)
                size += cost
            if chunk:
                batches.append(_logs_batch(head, chunk))
    return tuple(batches), too_large


def _logs_batch(head: ExportLogsServiceRequest, records: list[Any]) -> Batch:
    request = ExportLogsServiceRequest()
    request.CopyFrom(head)
    request.resource_logs[0].scope_logs[0].log_records.extend(records)
    return Batch(request.SerializeToString(), len(records))


# --- answers ------------------------------------------------------------------------------------------

#: The longest backend message kept (a log line and the CLI's message quote it).
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Verdict:
    """What one answer says. ``delivered``: a 2xx that rejected nothing. ``rejected``: items the backend
    said it rejected (partial_success); all of them when a request failed."""

    delivered: bool
    error_type: str | None = None
    message: str = ""
    status_code: int | None = None
    rejected: int = 0


def clean(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A backend's text as one printable, redacted line of at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_message(body: bytes, content_type: str) -> str:
    """The message of an error answer: a google.rpc.Status (protobuf or JSON), else the text itself."""
    if not body:
        return ""
    if "protobuf" in content_type:
        try:
            from google.rpc.status_pb2 import Status

            status = Status.FromString(body)
            if status.message:
                return clean(status.message)
        except DecodeError:
            pass
    if "json" in content_type:
        try:
            raw = json.loads(body)
            if isinstance(raw, dict) and isinstance(raw.get("message"), str):
                return clean(raw["message"])
        except ValueError:
            pass
    if "html" in content_type:
        return "an HTML page"
    return clean(body[:4096].decode("utf-8", "replace"))


def _partial(body: bytes, content_type: str, signal: str) -> tuple[int, str]:
    """(rejected items, message) of a 2xx answer's partial_success; (0, '') when it has none."""
    if not body:
        return 0, ""
    if "json" in content_type:
        try:
            raw = json.loads(body)
            partial = raw.get("partialSuccess") or {} if isinstance(raw, dict) else {}
            count = partial.get("rejectedDataPoints" if signal == "metrics" else "rejectedLogRecords", 0)
            return int(count or 0), clean(str(partial.get("errorMessage") or ""))
        except (ValueError, TypeError, AttributeError):
            return 0, ""
    answer: Any = ExportMetricsServiceResponse() if signal == "metrics" else ExportLogsServiceResponse()
    try:
        answer.ParseFromString(body)
    except DecodeError:
        return 0, ""
    if not answer.HasField("partial_success"):
        return 0, ""
    success = answer.partial_success
    count = success.rejected_data_points if signal == "metrics" else success.rejected_log_records
    return int(count), clean(success.error_message)


def origin(location: str) -> str:
    """Scheme and host of a redirect's target: never its user-info, path or query."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(location)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unreadable location"
    if not parts.scheme or not host:
        return "a relative location"
    return clean(f"{parts.scheme}://{host}{port}")


def judge(
    signal: str, status: int, content_type: str = "", body: bytes = b"", location: str = "", items: int = 0
) -> Verdict:
    """The verdict on one answer to a request of ``items`` data points (or log records)."""
    content_type = content_type.lower()
    if 200 <= status < 300:
        rejected, message = _partial(body, content_type, signal)
        if rejected > 0:
            what = "data points" if signal == "metrics" else "log records"
            told = f": {message}" if message else ""
            return Verdict(
                False,
                ExportRejected.error_type,
                f"rejected {rejected} of {items} {what}{told}",
                status,
                min(rejected, items),
            )
        return Verdict(True, message=message, status_code=status)
    if 300 <= status < 400:
        where = origin(location) if location else "nowhere (no Location)"
        message = (
            f"HTTP {status} redirecting to {where}: not followed (a redirected POST loses its body or goes where it"
            " should not); set the endpoint to the final URL"
        )
        return Verdict(False, ExportRedirected.error_type, message, status, items)
    told = _status_message(body, content_type)
    return Verdict(False, ExportRefused.error_type, f"HTTP {status}" + (f": {told}" if told else ""), status, items)
