"""The OpenTelemetry edge: instruments built from the contract, one export per signal per run.

No background thread: a one-shot metric reader and a buffering log processor export only when
``publish`` calls ``force_flush``, which is what a Lambda that is frozen after returning needs.

Gauges are *observable* gauges fed from the current run's points. The SDK keeps the last value of a
synchronous gauge for every attribute set it ever saw (with cumulative temporality) and would keep
exporting a relation, endpoint or error reason that is gone; observable gauges report exactly what
the callback returns at that collection, so each run reports what that run saw.

Counters and the histogram are aggregated by the SDK as one run's delta; with cumulative temporality the
reader adds them to the deployment's totals from the state (``series.cumulate``), so the stream goes on
across processes. ``service.instance.id`` is the deployment's, not the process's (see build_resource).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
)
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from .. import __version__, redact
from ..errors import ConfigError
from .contract import Contract, load_contract
from .points import RunTelemetry
from .series import SeriesMemory, cumulate

log = logging.getLogger(__name__)

SCOPE = "exalate_collector"
DEFAULT_SERVICE_NAME = "exalate-collector"
LOG_BATCH = 512
#: An export's time when the caller gives none (a run gives what remains of its budget).
DEFAULT_EXPORT_TIMEOUT_S = 10.0
_SEVERITY = {"ERROR": SeverityNumber.ERROR, "WARN": SeverityNumber.WARN, "INFO": SeverityNumber.INFO}
_ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
_PROTOCOL_VARS = (
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
)
_COMPRESSION_VARS = (
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
)
INSTANCE_ID = "service.instance.id"


def otlp_configured(env: Mapping[str, str]) -> bool:
    return any(env.get(var) for var in _ENDPOINT_VARS)


def check_protocol(env: Mapping[str, str]) -> None:
    for var in _PROTOCOL_VARS:
        value = env.get(var)
        if value and value != "http/protobuf":
            raise ConfigError([f"{var}: {value!r} is not supported; exalate-collector exports http/protobuf only"])
    problems = [f"{var}: {problem}" for var in _ENDPOINT_VARS if (problem := _endpoint_problem(env.get(var)))]
    if problems:
        raise ConfigError(problems)


def _endpoint_problem(url: str | None) -> str | None:
    """Why an OTLP endpoint URL cannot be used; never quotes it (it might carry credentials)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as https://otlp.example.com"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@host); put them in OTEL_EXPORTER_OTLP_HEADERS"
    return None


def cli_instance_id(config_path: str | None) -> str:
    """The default ``service.instance.id`` outside AWS: this host and the configuration it runs."""
    where = config_path or "-"
    if not where.startswith("ssm:") and where != "-":
        where = str(Path(where).resolve())
    return f"{socket.gethostname()}:{where}"


def lambda_instance_id(invoked_function_arn: str) -> str:
    """The default ``service.instance.id`` in AWS Lambda: the function's ARN, without version or alias."""
    return ":".join(invoked_function_arn.split(":")[:7])


def build_resource(env: Mapping[str, str], instance_id: str) -> Resource:
    """service.* always; cloud.* and faas.* when running in AWS Lambda. OTEL_* variables win.

    ``instance_id`` is the deployment's stable ``service.instance.id`` (one series per deployment, not
    per process); ``OTEL_RESOURCE_ATTRIBUTES=service.instance.id=...`` overrides it.
    """
    attributes: dict[str, Any] = {"service.version": __version__}
    function = env.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        attributes.update({"cloud.provider": "aws", "cloud.platform": "aws_lambda", "faas.name": function})
        optional = {
            "cloud.region": env.get("AWS_REGION"),
            "faas.version": env.get("AWS_LAMBDA_FUNCTION_VERSION"),
        }  # not faas.instance: it changes with every execution environment, and backends make it a label
        attributes.update({k: v for k, v in optional.items() if v})
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        if memory.isdigit():
            attributes["faas.max_memory"] = int(memory) * 1024 * 1024
    # The SDK would otherwise put a random id per process (its own detector); the variable still wins.
    attributes[INSTANCE_ID] = OTELResourceDetector().detect().attributes.get(INSTANCE_ID) or instance_id
    resource = Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    return resource


HEADERS_VAR = "OTEL_EXPORTER_OTLP_HEADERS"
_SIGNAL_HEADERS_VARS = {"metrics": "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "logs": "OTEL_EXPORTER_OTLP_LOGS_HEADERS"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_headers(text: str, var: str) -> dict[str, str]:
    """OTLP headers from ``name=value,...`` (values URL-encoded, as the specification says) or from a
    JSON object (``{"dd-api-key": "..."}``, the Secrets Manager console's default). Every value is
    registered for redaction; an error names the variable and the item, never a value."""
    text = text.strip()
    pairs: list[tuple[str, str]] = []
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError:
            raise ConfigError([f"{var}: looks like a JSON object but is not valid JSON"]) from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ConfigError([f"{var}: a JSON object must map header names to string values"])
        pairs = [(str(k).strip(), v.strip()) for k, v in raw.items()]
    else:
        for index, item in enumerate(text.split(","), 1):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError([f"{var}: item {index} is not name=value (the value is not shown)"])
            pairs.append((unquote(name).strip(), unquote(value).strip()))
    headers: dict[str, str] = {}
    for index, (name, value) in enumerate(pairs, 1):
        if not _HEADER_NAME.match(name):
            raise ConfigError([f"{var}: header {index} has no valid name"])
        redact.remember(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            redact.remember(credential.strip())  # "Basic <base64>": the credential alone too
        headers[name.lower()] = value
    return headers


def canonical_headers(headers: Mapping[str, str]) -> str:
    """The ``name=value,...`` form the OpenTelemetry SDK reads from the environment without complaint."""
    return ",".join(f"{name}={quote(value, safe='')}" for name, value in headers.items())


def otlp_headers(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per signal: the headers from OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS."""
    found = {}
    for signal, var in _SIGNAL_HEADERS_VARS.items():
        chosen = var if env.get(var) else HEADERS_VAR
        found[signal] = parse_headers(env.get(chosen) or "", chosen)
    return found


MetricExporterFor = Callable[[float], MetricExporter]
LogExporterFor = Callable[[float], LogRecordExporter]


def otlp_exporters(env: Mapping[str, str]) -> tuple[MetricExporterFor, LogExporterFor | None, Callable[[], None]]:
    """OTLP/HTTP protobuf exporters configured by the standard variables; gzip unless told otherwise.

    Returned as factories taking the seconds an export may last, retries included: each export gets
    an exporter bounded by what remains of the run's budget. All share one HTTP session (keep-alive
    across exports and warm runs), which the third value closes.

    Headers are parsed here (JSON or name=value) and given to the exporters explicitly; the SDK's own
    parsing of the same variables is kept quiet (logs.QUIET), as it would print a malformed one in full.
    No log exporter when only ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set: metrics-only backends
    (Prometheus, VictoriaMetrics) take no logs, and the events are then not sent anywhere.
    """
    check_protocol(env)
    headers = otlp_headers(env)
    import requests
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    from ..logs import pin_library_loggers

    pin_library_loggers()
    compression = None if any(env.get(v) for v in _COMPRESSION_VARS) else Compression.Gzip
    logs = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    session = requests.Session()

    def metric_exporter(timeout_s: float) -> MetricExporter:
        return OTLPMetricExporter(
            compression=compression, headers=headers["metrics"] or None, timeout=timeout_s, session=session
        )

    def log_exporter(timeout_s: float) -> LogRecordExporter:
        return OTLPLogExporter(
            compression=compression, headers=headers["logs"] or None, timeout=timeout_s, session=session
        )

    return metric_exporter, log_exporter if logs else None, session.close


class OneShotMetricReader(MetricReader):
    """Collects only when flushed and remembers whether the export succeeded.

    The SDK aggregates counters and histograms as deltas (one run's worth); when the exporter prefers
    cumulative temporality, ``cumulative`` is True and ``transform`` (set per run) continues the totals
    of the deployment's previous runs, which a new process does not have in memory.
    """

    def __init__(self, exporter_for: MetricExporterFor) -> None:
        exporter = exporter_for(DEFAULT_EXPORT_TIMEOUT_S)  # for its preferences; each export gets its own
        preferred = exporter._preferred_temporality or {}  # noqa: SLF001 - as PeriodicExportingMetricReader
        super().__init__(
            preferred_temporality={
                **preferred,
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
            },
            preferred_aggregation=exporter._preferred_aggregation,  # noqa: SLF001
        )
        self.cumulative = preferred.get(Counter) is not AggregationTemporality.DELTA
        self._exporter_for = exporter_for
        self.last_ok: bool | None = None
        self.transform: Any = None

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if self.transform is not None:
            metrics_data = self.transform(metrics_data)
        try:
            exporter = self._exporter_for(timeout_millis / 1000)  # bounded by this flush's time, retries included
            result = exporter.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:
            log.exception("metric export raised")
            result = MetricExportResult.FAILURE
        self.last_ok = result is MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None  # exporters live for one export; the pipeline closes their shared session


class BufferingLogProcessor(LogRecordProcessor):
    """Keeps a run's events and exports them in as few requests as the batch limit allows, all of them
    within the flush's timeout: a batch no time is left for is not sent (and the flush fails)."""

    def __init__(
        self, exporter_for: LogExporterFor, batch: int = LOG_BATCH, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._exporter_for = exporter_for
        self._batch = batch
        self._buffer: list[ReadableLogRecord] = []
        self._monotonic = monotonic

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._buffer.append(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource or Resource.get_empty(),
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        pending, self._buffer = self._buffer, []
        until = self._monotonic() + timeout_millis / 1000
        for start in range(0, len(pending), self._batch):
            left = until - self._monotonic()
            if left <= 0:
                log.error("no time left in the run's budget to export %d events", len(pending) - start)
                return False
            try:
                result = self._exporter_for(left).export(pending[start : start + self._batch])
            except Exception:
                log.exception("log export raised")
                result = LogRecordExportResult.FAILURE
            if result is not LogRecordExportResult.SUCCESS:
                return False  # refused or unreachable: the next batches would fare no better
        return True

    def shutdown(self) -> None:
        return None


@dataclass(frozen=True)
class ExportTarget:
    """Where one signal goes and which variable says so: what a user checks when it is not delivered."""

    url: str
    variable: str


def export_targets(env: Mapping[str, str]) -> dict[str, ExportTarget]:
    """``{"metrics": ..., "events": ...}`` as the OTLP/HTTP exporters resolve them from the variables."""
    base = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318").rstrip("/")
    targets = {}
    for signal, kind, path in (("metrics", "METRICS", "v1/metrics"), ("events", "LOGS", "v1/logs")):
        specific = f"OTEL_EXPORTER_OTLP_{kind}_ENDPOINT"
        if env.get(specific):
            targets[signal] = ExportTarget(env[specific], specific)
        else:
            targets[signal] = ExportTarget(f"{base}/{path}", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return targets


@dataclass(frozen=True)
class ExportReport:
    metrics_ok: bool
    logs_ok: bool
    points: int
    events: int
    #: The deployment's series after this export (cumulative totals exported, gauge series exported).
    series: SeriesMemory | None = None
    #: signal -> where it was sent; names the endpoint and the variable in the failure message.
    targets: Mapping[str, ExportTarget] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.metrics_ok and self.logs_ok


def export_failure_message(report: ExportReport) -> str:
    """The one message for an export that was not delivered: which signal, where, and what to check."""
    failed = [signal for signal, ok in (("metrics", report.metrics_ok), ("events", report.logs_ok)) if not ok]
    where = [f"{signal} to {report.targets[signal].url}" for signal in failed if signal in report.targets]
    variables = sorted({report.targets[signal].variable for signal in failed if signal in report.targets})
    check = f"check {' and '.join(variables)}, and " if variables else "check "
    return (
        f"the telemetry backend refused the export or was unreachable ({', '.join(where or failed)}); "
        f"{check}OTEL_EXPORTER_OTLP_HEADERS if the backend needs an API key"
    )


class OtelPipeline:
    """Built once per process (module level in Lambda); ``publish`` once per run."""

    def __init__(
        self,
        resource: Resource,
        metric_exporter: MetricExporterFor,
        log_exporter: LogExporterFor | None,
        contract: Contract | None = None,
        close: Callable[[], None] | None = None,
        targets: Mapping[str, ExportTarget] | None = None,
    ) -> None:
        contract = contract or load_contract()
        self._close = close
        self.instance_id = str(resource.attributes.get(INSTANCE_ID, ""))
        self._specs = {m.name: (m.unit, m.description) for m in contract.metrics.values()}
        self._targets = dict(targets or {})
        self._reader = OneShotMetricReader(metric_exporter)
        self._meters = MeterProvider(resource=resource, metric_readers=[self._reader])
        self._logs = LoggerProvider(resource=resource)
        self._events = BufferingLogProcessor(log_exporter) if log_exporter is not None else None
        if self._events is not None:
            self._logs.add_log_record_processor(self._events)
        self._logger = self._logs.get_logger(SCOPE, __version__)
        meter = self._meters.get_meter(SCOPE, __version__)
        self._gauge_values: dict[str, list[Observation]] = {}
        self._instruments: dict[str, Any] = {}
        for spec in contract.metrics.values():
            if spec.instrument == "gauge":
                self._instruments[spec.name] = meter.create_observable_gauge(
                    spec.name, callbacks=[self._observer(spec.name)], unit=spec.unit, description=spec.description
                )
            elif spec.instrument == "counter":
                self._instruments[spec.name] = meter.create_counter(
                    spec.name, unit=spec.unit, description=spec.description
                )
            else:
                self._instruments[spec.name] = meter.create_histogram(
                    spec.name,
                    unit=spec.unit,
                    description=spec.description,
                    explicit_bucket_boundaries_advisory=list(spec.bucket_boundaries) or None,
                )
        self._kinds = {spec.name: spec.instrument for spec in contract.metrics.values()}

    @classmethod
    def from_environment(cls, instance_id: str | None = None, env: Mapping[str, str] | None = None) -> OtelPipeline:
        """``instance_id``: the deployment's default ``service.instance.id`` (OTEL_RESOURCE_ATTRIBUTES wins);
        by default this host and ``$EXALATE_COLLECTOR_CONFIG``."""
        env = os.environ if env is None else env
        metric_exporter, log_exporter, close = otlp_exporters(env)
        resource = build_resource(env, instance_id or cli_instance_id(None))
        return cls(resource, metric_exporter, log_exporter, close=close, targets=export_targets(env))

    def _observer(self, name: str) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return list(self._gauge_values.get(name, ()))

        return observe

    def publish(
        self,
        telemetry: RunTelemetry,
        series: SeriesMemory | None = None,
        timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S,
    ) -> ExportReport:
        """Record one run's points and events, export both signals within one shared ``timeout_s``
        (retries included), report whether the backend took them.

        ``series``: what the deployment's previous export left (cumulative totals and their start).
        """
        until = time.monotonic() + timeout_s
        series = series or SeriesMemory()
        kept: list[SeriesMemory] = [series]

        def transform(data: MetricsData) -> MetricsData:
            exported, kept[0] = cumulate(data, series, time.time_ns(), self._specs)
            return exported

        self._reader.transform = transform if self._reader.cumulative else None
        gauges: dict[str, list[Observation]] = {}
        for point in telemetry.points:
            kind = self._kinds[point.name]
            if kind == "gauge":
                gauges.setdefault(point.name, []).append(Observation(point.value, dict(point.attributes)))
            elif kind == "counter":
                self._instruments[point.name].add(point.value, dict(point.attributes))
            else:
                self._instruments[point.name].record(point.value, dict(point.attributes))
        for event in telemetry.events:
            self._logger.emit(
                timestamp=event.time_unix_nano or None,
                event_name=event.name,
                severity_number=_SEVERITY[event.severity],
                severity_text=event.severity,
                body=event.body,
                attributes=dict(event.attributes),
            )
        self._gauge_values = gauges
        try:
            self._reader.last_ok = None
            if timeout_s > 0:
                self._meters.force_flush(timeout_millis=int(timeout_s * 1000))
            left_ms = max(0, int((until - time.monotonic()) * 1000))
            # the processor itself, not the provider: once the time is up, the provider would skip it
            # and this run's events would go out with the next run's
            logs_ok = self._events is None or self._events.force_flush(timeout_millis=left_ms)
        finally:
            self._gauge_values = {}
            self._reader.transform = None
        log.debug("export: %d points and %d events sent", len(telemetry.points), len(telemetry.events))
        return ExportReport(
            metrics_ok=bool(self._reader.last_ok),
            logs_ok=bool(logs_ok),
            points=len(telemetry.points),
            events=len(telemetry.events),
            series=kept[0],
            targets=self._targets,
        )

    def shutdown(self) -> None:
        self._meters.shutdown()
        self._logs.shutdown()
        if self._close is not None:
            self._close()
