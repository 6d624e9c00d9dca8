"""A real OTLP/HTTP receiver on loopback that decodes what it gets with ``opentelemetry-proto``.

Used by the demo, the integration tests and the benchmarks to see exactly what a backend would see.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class ReceivedPoint:
    name: str
    kind: str  # gauge | sum | histogram
    unit: str
    attributes: dict[str, Any]
    value: float | int | None  # gauges and sums
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0
    count: int | None = None  # histograms
    sum: float | None = None
    monotonic: bool | None = None
    temporality: int | None = None


@dataclass(frozen=True)
class ReceivedEvent:
    event_name: str
    severity_text: str
    severity_number: int
    body: Any
    attributes: dict[str, Any]
    time_unix_nano: int = 0
    observed_time_unix_nano: int = 0


@dataclass
class Received:
    metric_requests: list[ExportMetricsServiceRequest] = field(default_factory=list)
    log_requests: list[ExportLogsServiceRequest] = field(default_factory=list)
    content_encodings: list[str] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    bytes_received: int = 0
    sizes: list[int] = field(default_factory=list)


class OtlpReceiver:
    """``with OtlpReceiver() as r: ... r.endpoint ...``; ``status`` makes it refuse (e.g. 401).

    Backends that misbehave as real ones do: ``status`` 3xx with ``location`` redirects; ``message`` is
    the google.rpc.Status of an error answer (as the OpenTelemetry Collector sends, e.g. "flate: corrupt
    input before offset 5"); ``rejected`` (data points) and ``rejected_records`` (log records) answer 200
    with a partial_success rejecting that many items of each request (still keeping it).
    ``received.sizes``: each request's size before compression.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.location = ""
        self.message: str | None = None
        self.rejected = 0
        self.rejected_records = 0
        self.received = Received()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(_Handler):
            owner = receiver

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-receiver", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self.lock:
            self.received = Received()

    def points(self) -> list[ReceivedPoint]:
        found: list[ReceivedPoint] = []
        with self.lock:
            requests = list(self.received.metric_requests)
        for request in requests:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        found.extend(_points(metric))
        return found

    def events(self) -> list[ReceivedEvent]:
        found: list[ReceivedEvent] = []
        with self.lock:
            requests = list(self.received.log_requests)
        for request in requests:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for rec in sl.log_records:
                        found.append(
                            ReceivedEvent(
                                event_name=rec.event_name,
                                severity_text=rec.severity_text,
                                severity_number=rec.severity_number,
                                body=any_value(rec.body),
                                attributes=attributes(rec.attributes),
                                time_unix_nano=rec.time_unix_nano,
                                observed_time_unix_nano=rec.observed_time_unix_nano,
                            )
                        )
        return found

    def resources(self) -> list[dict[str, Any]]:
        with self.lock:
            metric_requests = list(self.received.metric_requests)
            log_requests = list(self.received.log_requests)
        found = [attributes(rm.resource.attributes) for r in metric_requests for rm in r.resource_metrics]
        found += [attributes(rl.resource.attributes) for r in log_requests for rl in r.resource_logs]
        return found


def _metrics(request: Any) -> list[Any]:
    return [m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def _points(metric: Any) -> list[ReceivedPoint]:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    points = []
    for dp in data.data_points:
        common = {
            "name": metric.name,
            "kind": kind,
            "unit": metric.unit,
            "attributes": attributes(dp.attributes),
            "start_time_unix_nano": dp.start_time_unix_nano,
            "time_unix_nano": dp.time_unix_nano,
        }
        if kind == "histogram":
            points.append(
                ReceivedPoint(
                    **common, value=None, count=dp.count, sum=dp.sum, temporality=data.aggregation_temporality
                )
            )
        else:
            value = dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
            extra: dict[str, Any] = {}
            if kind == "sum":
                extra = {"monotonic": data.is_monotonic, "temporality": data.aggregation_temporality}
            points.append(ReceivedPoint(**common, value=value, **extra))
    return points


class _Handler(BaseHTTPRequestHandler):
    owner: OtlpReceiver
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see the simulator: no 40 ms delayed-ACK stalls on loopback

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        try:
            data = (
                gzip.decompress(raw) if encoding == "gzip" else zlib.decompress(raw) if encoding == "deflate" else raw
            )
            if self.path == "/v1/metrics":
                request: Any = ExportMetricsServiceRequest.FromString(data)
                answer: Any = ExportMetricsServiceResponse()
            elif self.path == "/v1/logs":
                request = ExportLogsServiceRequest.FromString(data)
                answer = ExportLogsServiceResponse()
            else:
                self._reply(404, b"")
                return
        except (OSError, zlib.error, DecodeError):
            self._reply(400, b"undecodable")
            return
        owner = self.owner
        with owner.lock:
            owner.received.bytes_received += len(raw)
            owner.received.sizes.append(len(data))
            owner.received.content_encodings.append(encoding or "identity")
            owner.received.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
            if owner.status == 200:
                target = owner.received.metric_requests if self.path == "/v1/metrics" else owner.received.log_requests
                target.append(request)
            status, location, message = owner.status, owner.location, owner.message
            rejected = owner.rejected if self.path == "/v1/metrics" else owner.rejected_records
        if status != 200:
            if message is not None:
                from google.rpc.status_pb2 import Status

                self._reply(status, Status(code=3, message=message).SerializeToString(), location)
            else:
                self._reply(status, b"refused", location)
            return
        if rejected:
            if self.path == "/v1/metrics":
                count = sum(len(getattr(m, m.WhichOneof("data")).data_points) for m in _metrics(request))
                answer.partial_success.rejected_data_points = min(rejected, count)
            else:
                count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
                answer.partial_success.rejected_log_records = min(rejected, count)
            answer.partial_success.error_message = "points older than the retention period"
        self._reply(200, answer.SerializeToString())

    def _reply(self, status: int, body: bytes, location: str = "") -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
