"""The OpenTelemetry edge: one run's points and events out over OTLP/HTTP protobuf, each request judged.

Metrics do not go through the SDK's instruments: the points a run computed become OTLP requests directly
(``wire.metric_requests``: every series, no cardinality limit, requests of bounded size), sent one by
one (``delivery.OtlpSender``: no redirect followed, only a 2xx that rejected nothing is delivered).
Events go through the SDK's log records (its encoder), buffered and sent by the same sender.

Counters and the histogram continue the deployment's totals kept in the state (``series``), so a stream
goes on across processes; ``service.instance.id`` is the deployment's, not the process's (see
build_resource). What became of a run's requests (``exalate.export.requests``, ``exalate.export.dropped``)
is known only after them: the report hands those counts back, and the next export carries them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from .. import __version__, redact
from ..errors import ConfigError
from .contract import Contract, load_contract
from .delivery import OtlpSender, RequestOutcome
from .points import RunTelemetry, export_telemetry
from .series import SeriesState
from .wire import DEFAULT_MAX_REQUEST_BYTES, Batch, metric_requests, split_logs

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
INSTANCE_ID = "service.instance.id"
#: The SDK's resource keys. ``telemetry.sdk.version`` is dropped: backends that make resource attributes
#: labels (VictoriaMetrics) would start new series at every SDK upgrade. Name and language are pinned
#: here, not taken from the SDK, so no upgrade changes them either.
SDK_VERSION_KEY = "telemetry.sdk.version"
PINNED_SDK = {"telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry"}
TEMPORALITY_VAR = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"


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
    """service.* always; cloud.* and faas.* when running in AWS Lambda. OTEL_* variables win; the SDK's
    telemetry.sdk.* keys pinned, without the version (PINNED_SDK).

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
    # identity across SDK upgrades: no telemetry.sdk.version, name and language pinned (see PINNED_SDK)
    attrs = {k: v for k, v in resource.attributes.items() if k != SDK_VERSION_KEY and k not in PINNED_SDK}
    return Resource({**attrs, **PINNED_SDK}, resource.schema_url)


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


def _signal_env(env: Mapping[str, str], signal: str, name: str) -> str | None:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>, else OTEL_EXPORTER_OTLP_<NAME> (the specification's order)."""
    return env.get(f"OTEL_EXPORTER_OTLP_{signal}_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or None


def _compression(env: Mapping[str, str], signal: str) -> str:
    value = (_signal_env(env, signal, "COMPRESSION") or "gzip").strip().lower()
    if value not in ("gzip", "deflate", "none"):
        raise ConfigError(
            [
                f"OTEL_EXPORTER_OTLP_{signal}_COMPRESSION or OTEL_EXPORTER_OTLP_COMPRESSION: {value!r}"
                " is not gzip, deflate or none"
            ]
        )
    return value


def cumulative_preferred(env: Mapping[str, str]) -> bool:
    """Counters and histograms cumulative unless the variable says delta (or lowmemory, which is delta for
    synchronous counters and histograms, as all of ours are)."""
    return (env.get(TEMPORALITY_VAR) or "cumulative").strip().lower() not in ("delta", "lowmemory")


@dataclass(frozen=True)
class Senders:
    metrics: OtlpSender
    events: OtlpSender | None
    close: Callable[[], None]


def otlp_senders(env: Mapping[str, str]) -> Senders:
    """One sender per signal, configured by the standard variables (endpoint, headers, compression —
    gzip unless told otherwise —, certificates); one shared HTTP session (keep-alive across exports).

    Headers are parsed here (JSON or name=value). No event sender when only
    ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set: metrics-only backends (Prometheus, VictoriaMetrics)
    take no logs, and the events are then not sent anywhere.
    """
    check_protocol(env)
    headers = otlp_headers(env)
    import requests

    from ..logs import pin_library_loggers

    pin_library_loggers()
    session = requests.Session()
    targets = export_targets(env)

    def sender(signal: str, kind: str, header_key: str) -> OtlpSender:
        key, cert = _signal_env(env, kind, "CLIENT_KEY"), _signal_env(env, kind, "CLIENT_CERTIFICATE")
        return OtlpSender(
            session,
            signal,
            targets[signal].url,
            headers[header_key],
            compression=_compression(env, kind),
            verify=_signal_env(env, kind, "CERTIFICATE") or True,
            cert=(cert, key) if cert and key else cert,
        )

    logs = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    events = sender("events", "LOGS", "logs") if logs else None
    return Senders(sender("metrics", "METRICS", "metrics"), events, session.close)


class OtlpLogExporter(LogRecordExporter):
    """The SDK's encoding of a batch of log records, sent in requests of at most ``max_bytes`` before
    ``deadline``; each request's outcome is appended to ``outcomes``, records too large to send to
    ``too_large``."""

    def __init__(
        self,
        sender: OtlpSender,
        deadline: float,
        outcomes: list[RequestOutcome],
        too_large: list[int],
        max_bytes: int,
    ) -> None:
        self._sender, self._deadline, self._max_bytes = sender, deadline, max_bytes
        self._outcomes, self._too_large = outcomes, too_large

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

        batches, too_large = split_logs(encode_logs(batch), self._max_bytes)
        self._too_large.append(too_large)
        ok = not too_large
        for request in batches:
            outcome = self._sender.send(request, self._deadline)
            self._outcomes.append(outcome)
            ok = ok and outcome.delivered
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


LogExporterFor = Callable[[float], LogRecordExporter]


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
    series: SeriesState | None = None
    #: signal -> where it was sent; names the endpoint and the variable in the failure message.
    targets: Mapping[str, ExportTarget] = field(default_factory=dict)
    #: Every request of the run's export, in the order sent (the follow-up's not included).
    outcomes: tuple[RequestOutcome, ...] = ()
    #: signal -> items (data points, log records) that alone were larger than a request may be.
    too_large: Mapping[str, int] = field(default_factory=dict)
    #: What the export itself reported: exalate.export.* points and exalate.export.failure events.
    reported: RunTelemetry = field(default_factory=lambda: RunTelemetry((), ()))

    @property
    def ok(self) -> bool:
        return self.metrics_ok and self.logs_ok


def _signal_problems(report: ExportReport, signal: str) -> str:
    """``2 of 6 requests: HTTP 400: flate: corrupt input ...; 1 data point larger than a request``"""
    mine = [o for o in report.outcomes if o.signal == signal]
    failed = [o for o in mine if not o.delivered]
    said: dict[str, int] = {}
    for outcome in failed:
        said[outcome.verdict.message] = said.get(outcome.verdict.message, 0) + 1
    parts = [f"{n} of {len(mine)} requests: {message}" for message, n in said.items()]
    if report.too_large.get(signal):
        parts.append(f"{report.too_large[signal]} items each larger than a request may be (not sent)")
    return "; ".join(parts)


def export_failure_message(report: ExportReport) -> str:
    """The one message for an export that was not delivered: which signal, where, what the backend said,
    and what to check."""
    failed = [signal for signal, ok in (("metrics", report.metrics_ok), ("events", report.logs_ok)) if not ok]
    where = []
    for signal in failed:
        target = f"{signal} to {report.targets[signal].url}" if signal in report.targets else signal
        problems = _signal_problems(report, signal)
        where.append(f"{target}: {problems}" if problems else target)
    kinds = {o.verdict.error_type for o in report.outcomes if not o.delivered}
    statuses = {o.verdict.status_code for o in report.outcomes if not o.delivered}
    variables = sorted({report.targets[signal].variable for signal in failed if signal in report.targets})
    hints = []
    if "export_redirected" in kinds:
        hints.append(f"set {' and '.join(variables) or 'the endpoint'} to the URL the redirect points to")
    elif variables and (not kinds or kinds & {"export_unreachable", "export_refused"}):
        hints.append(f"check {' and '.join(variables)}")
    if not kinds or statuses & {401, 403} or "export_unreachable" in kinds:
        hints.append("OTEL_EXPORTER_OTLP_HEADERS if the backend needs an API key")
    if "export_rejected" in kinds:
        hints.append("the backend's message says which points it refused")
    hint = f"; {', and '.join(hints)}" if hints else ""
    return f"the telemetry backend refused the export or was unreachable ({'; '.join(where or failed)}){hint}"


class OtelPipeline:
    """Built once per process (module level in Lambda); ``publish`` once per run."""

    def __init__(
        self,
        resource: Resource,
        metrics: OtlpSender,
        events: OtlpSender | None,
        contract: Contract | None = None,
        close: Callable[[], None] | None = None,
        targets: Mapping[str, ExportTarget] | None = None,
        *,
        cumulative: bool = True,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        contract = contract or load_contract()
        self._close = close
        self.instance_id = str(resource.attributes.get(INSTANCE_ID, ""))
        self.resource: dict[str, Any] = dict(resource.attributes)
        self._specs = contract.metrics
        self._targets = dict(targets or {})
        self._metrics = metrics
        self.cumulative = cumulative
        self.max_request_bytes = max_request_bytes
        self._clock_ns, self._monotonic = clock_ns, monotonic
        #: The start of the next delta (cumulative=False): this pipeline's previous export, as the SDK's.
        self._delta_start = clock_ns()
        self._logs = LoggerProvider(resource=resource)
        self._event_outcomes: list[RequestOutcome] = []
        self._events_too_large: list[int] = []
        self._events: BufferingLogProcessor | None = None
        if events is not None:
            self._events = BufferingLogProcessor(
                lambda left: OtlpLogExporter(
                    events,
                    self._monotonic() + left,
                    self._event_outcomes,
                    self._events_too_large,
                    self.max_request_bytes,
                ),
                monotonic=monotonic,
            )
            self._logs.add_log_record_processor(self._events)
        self._logger = self._logs.get_logger(SCOPE, __version__)

    @classmethod
    def from_environment(
        cls,
        instance_id: str | None = None,
        env: Mapping[str, str] | None = None,
        max_request_bytes: int | None = None,
    ) -> OtelPipeline:
        """``instance_id``: the deployment's default ``service.instance.id`` (OTEL_RESOURCE_ATTRIBUTES wins);
        by default this host and ``$EXALATE_COLLECTOR_CONFIG``. ``max_request_bytes``: the bound of one
        request (Settings.otlp_max_request_bytes; default DEFAULT_MAX_REQUEST_BYTES)."""
        env = os.environ if env is None else env
        senders = otlp_senders(env)
        resource = build_resource(env, instance_id or cli_instance_id(None))
        return cls(
            resource,
            senders.metrics,
            senders.events,
            close=senders.close,
            targets=export_targets(env),
            cumulative=cumulative_preferred(env),
            max_request_bytes=max_request_bytes or DEFAULT_MAX_REQUEST_BYTES,
        )

    def _send_all(self, batches: Sequence[Batch], until: float) -> list[RequestOutcome]:
        """Each request in turn; once the backend is unreachable, the rest are not tried (the time is the
        run's, and they would fare no better)."""
        outcomes: list[RequestOutcome] = []
        for batch in batches:
            if outcomes and outcomes[-1].verdict.error_type == "export_unreachable":
                outcomes.append(RequestOutcome(self._metrics.signal, batch.items, outcomes[-1].verdict))
                continue
            outcomes.append(self._metrics.send(batch, until))
        return outcomes

    def publish(
        self,
        telemetry: RunTelemetry,
        series: SeriesState | None = None,
        timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S,
    ) -> ExportReport:
        """Export one run's points and events within one shared ``timeout_s`` (retries included), then what
        became of each request; report whether the backend took everything.

        ``series``: what the deployment's previous export left (cumulative totals and their start).
        A run without points (the late, events-only export) sends no metrics. ``ExportReport.reported``: the
        export's own counts (for the next export) and the events it sent about its metrics requests.
        """
        until = self._monotonic() + timeout_s
        series = series or SeriesState()
        now = self._clock_ns()
        options: dict[str, Any] = {
            "cumulative": self.cumulative,
            "delta_start_unix_nano": self._delta_start,
            "max_bytes": self.max_request_bytes,
        }
        scope = (SCOPE, __version__)
        metric_outcomes: list[RequestOutcome] = []
        too_large: dict[str, int] = {}
        kept = series
        if telemetry.points:
            encoded = metric_requests(telemetry.points, self._specs, self.resource, scope, series, now, **options)
            kept = encoded.series
            too_large["metrics"] = encoded.too_large
            metric_outcomes = self._send_all(encoded.batches, until)
        failures = export_telemetry(metric_outcomes, too_large, self._targets, observed_ns=now)
        events = telemetry.events + failures.events
        self._event_outcomes.clear()
        self._events_too_large.clear()
        for event in events:
            self._logger.emit(
                timestamp=event.time_unix_nano or None,
                event_name=event.name,
                severity_number=_SEVERITY[event.severity],
                severity_text=event.severity,
                body=event.body,
                attributes=dict(event.attributes),
            )
        # the processor itself, not the provider: once the time is up, the provider would skip it and this
        # run's events would go out with the next run's
        left_ms = max(0, int((until - self._monotonic()) * 1000))
        logs_ok = self._events is None or self._events.force_flush(timeout_millis=left_ms)
        too_large["events"] = sum(self._events_too_large)
        outcomes = tuple(metric_outcomes + self._event_outcomes)
        # known only now: carried by the next export (runner.publish keeps them in the series state)
        reported = export_telemetry(outcomes, too_large, self._targets, observed_ns=now)
        for outcome in outcomes:
            if outcome.delivered and outcome.verdict.message:
                log.warning(
                    "the %s backend took the export with a warning: %s", outcome.signal, outcome.verdict.message
                )
        self._delta_start = now
        log.debug("export: %d points and %d events sent", len(telemetry.points), len(telemetry.events))
        metrics_ok = all(o.delivered for o in metric_outcomes) and not too_large.get("metrics")
        return ExportReport(
            metrics_ok=metrics_ok,
            logs_ok=bool(logs_ok) and not too_large["events"],
            points=len(telemetry.points),
            events=len(telemetry.events),
            series=kept,
            targets=self._targets,
            outcomes=outcomes,
            too_large=too_large,
            reported=RunTelemetry(reported.points, failures.events),
        )

    def shutdown(self) -> None:
        self._logs.shutdown()
        if self._close is not None:
            self._close()
