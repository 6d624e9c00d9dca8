"""The OpenTelemetry edge: one run's points and events out over OTLP/HTTP protobuf, each request judged.

Metrics do not go through the SDK's instruments: the points a run computed become OTLP requests directly
(``wire.metric_stream``: every series, no cardinality limit, requests of bounded size made one at a
time), sent one by one (``delivery.OtlpSender``: no redirect followed, only a 2xx that rejected nothing is
delivered).
Events go through the SDK's log records (its encoder), buffered and sent by the same sender
(``log_export``).

Counters and the histogram continue the deployment's totals kept in the state (``series``), so a stream
goes on across processes; ``service.instance.id`` is the deployment's, not the process's (see
``resource.build_resource``). What became of a run's requests (``exalate.export.requests``,
``exalate.export.dropped``) is known only after them: the report (``export_report``) hands those counts
back, and the next export carries them. The variables that configure it all: ``otlp_settings``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from .. import __version__
from .contract import Contract, load_contract
from .delivery import OtlpSender, RequestOutcome
from .export_report import ExportReport, export_failure_message
from .log_export import LOG_BATCH, BufferingLogProcessor, LogExporterFor, OtlpLogExporter
from .otlp_settings import (
    HEADERS_VAR,
    TEMPORALITY_VAR,
    ExportTarget,
    Senders,
    canonical_headers,
    check_protocol,
    cumulative_preferred,
    export_targets,
    otlp_configured,
    otlp_headers,
    otlp_senders,
    parse_headers,
)
from .points import RunTelemetry, export_telemetry
from .resource import (
    DEFAULT_SERVICE_NAME,
    INSTANCE_ID,
    PINNED_SDK,
    SDK_VERSION_KEY,
    build_resource,
    cli_instance_id,
    lambda_instance_id,
)
from .series import SeriesState
from .wire import DEFAULT_MAX_REQUEST_BYTES, Batch, metric_stream

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT_S",
    "DEFAULT_SERVICE_NAME",
    "HEADERS_VAR",
    "INSTANCE_ID",
    "LOG_BATCH",
    "PINNED_SDK",
    "SCOPE",
    "SDK_VERSION_KEY",
    "TEMPORALITY_VAR",
    "BufferingLogProcessor",
    "ExportReport",
    "ExportTarget",
    "LogExporterFor",
    "OtelPipeline",
    "OtlpLogExporter",
    "Senders",
    "build_resource",
    "canonical_headers",
    "check_protocol",
    "cli_instance_id",
    "cumulative_preferred",
    "export_failure_message",
    "export_targets",
    "lambda_instance_id",
    "otlp_configured",
    "otlp_headers",
    "otlp_senders",
    "parse_headers",
]

log = logging.getLogger(__name__)

SCOPE = "exalate_collector"
#: An export's time when the caller gives none (a run gives what remains of its budget).
DEFAULT_EXPORT_TIMEOUT_S = 10.0
_SEVERITY = {"ERROR": SeverityNumber.ERROR, "WARN": SeverityNumber.WARN, "INFO": SeverityNumber.INFO}


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

    def _send_all(self, batches: Iterable[Batch], until: float) -> list[RequestOutcome]:
        """Each request in turn, made as it is sent (one held at a time); once the backend is unreachable,
        the rest are not tried (the time is the run's, and they would fare no better)."""
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
            stream = metric_stream(telemetry.points, self._specs, self.resource, scope, series, now, **options)
            kept = stream.series
            metric_outcomes = self._send_all(stream.batches, until)
            too_large["metrics"] = stream.too_large  # known once every request is made
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
