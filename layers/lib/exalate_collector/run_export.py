"""The run's OTLP export: continuing the deployment's series (final zeros, cumulative totals, the series
state read and written around it), the late export of state write failures, and its report as an
output's."""

from __future__ import annotations

import json
import logging
import time
import weakref
from dataclasses import replace
from typing import Protocol

from .budget import RunBudget
from .deadline import Deadline
from .errors import StateCorrupt, StateFailure, StateWriteFailed
from .outputs import OutputReport
from .run_result import RunResult
from .state.model import StateReport
from .state.store import StateStore
from .telemetry.contract import load_contract
from .telemetry.otel import ExportReport, export_failure_message
from .telemetry.points import QUEUE_OLDEST_AGE, QUEUE_STUCK, RunTelemetry, stamped, state_events
from .telemetry.series import (
    SeriesState,
    final_zeros,
    gauge_series,
    pending_of,
    pending_points,
)
from .telemetry.series_document import encode_document, from_document

log = logging.getLogger(__name__)


class Publisher(Protocol):
    #: The deployment's service.instance.id: the series state is kept per instance.
    instance_id: str

    def publish(
        self, telemetry: RunTelemetry, series: SeriesState | None = None, timeout_s: float = ...
    ) -> ExportReport:
        """Export within ``timeout_s`` seconds, retries included."""
        ...


def log_export(result: RunResult) -> None:
    report = result.export
    if report is not None and not report.ok:
        extra = {"run_id": result.run_id, "metrics_ok": report.metrics_ok, "logs_ok": report.logs_ok}
        log.error("%s", export_failure_message(report), extra=extra)


def seconds_left(until: float) -> float:
    return max(0.0, until - time.monotonic())


def report_late(
    result: RunResult, failures: list[tuple[str, StateFailure]], publisher: Publisher | None, until: float
) -> None:
    """State write failures happen after the run's export: they go out in a second, small one."""
    if result.state_report is not None:
        result.state_report.failures.extend(failures)
    late = StateReport(failures=failures)
    extra = RunTelemetry((), stamped(state_events(late), time.time()))
    result.telemetry = RunTelemetry(result.telemetry.points, result.telemetry.events + extra.events)
    if publisher is not None and result.export is not None:
        # only events: a metric export of nothing says nothing
        followup = publisher.publish(extra, timeout_s=seconds_left(until))
        events = result.export.events + followup.events
        outcomes = result.export.outcomes + followup.outcomes
        logs_ok = result.export.logs_ok and followup.logs_ok
        result.export = replace(result.export, logs_ok=logs_ok, events=events, outcomes=outcomes)
        log_export(result)


#: Without a state store, the series state lives as long as the publisher (a warm Lambda, the demo).
_PROCESS_SERIES: weakref.WeakKeyDictionary[Publisher, bytes] = weakref.WeakKeyDictionary()


def publish(
    result: RunResult,
    publisher: Publisher,
    state: StateStore | None,
    plan: RunBudget,
    loaded: tuple[SeriesState, str | None] | None = None,
) -> ExportReport:
    """Export the run, continuing the deployment's series: final zeros for gauge series gone since the
    previous export, cumulative totals carried on. The series state is saved after the export: the
    totals even when it failed (a cumulative total delivered late is still right), and a gauge series
    whose final zero was not delivered is kept to be zeroed at the next run. The series state is read
    in the state-reading phase of ``plan`` (or, ``loaded``, while polling), written in the state-writing one.
    """
    instance = publisher.instance_id
    if loaded is None:
        loaded = load_series(state, publisher, result.run_id, plan.deadline("state_read"))
    previous, token = loaded
    gauges = [m for m in load_contract().metrics.values() if m.instrument == "gauge"]
    # the ages of a node whose state could not be read are unknown, not gone: no final 0, kept for later
    unknown = {
        k for k in previous.gauges if k[0] in _AGE_GAUGES and dict(k[1]).get("exalate.node") in _unreadable(result)
    }
    known = previous.gauges - unknown if unknown else previous.gauges  # no copy of 100,000s of keys for nothing
    zeros = final_zeros(known, result.telemetry.points, [m.name for m in gauges if m.final_zero])
    present = gauge_series(result.telemetry.points, [m.name for m in gauges])
    present |= unknown
    carried = pending_points(previous)  # what became of the previous export's requests
    result.telemetry = RunTelemetry(result.telemetry.points + tuple(zeros + carried), result.telemetry.events)
    previous = replace(previous, pending={})
    report = publisher.publish(result.telemetry, previous, timeout_s=seconds_left(plan.until("export")))
    result.telemetry = result.telemetry.extended((), report.reported.events)
    kept = report.series or previous
    kept.gauges = present if report.metrics_ok else present | previous.gauges
    kept.pending = pending_of(report.reported.points)
    try:
        document = encode_document(kept, instance)
    except ValueError as exc:  # a total that is no finite number: never stored, the next run starts anew
        log.error("series state of %s not saved: %s", instance, exc, extra={"run_id": result.run_id})
        return report
    if state is None:
        _PROCESS_SERIES[publisher] = document
        return report
    try:
        saved = state.save_series(instance, document, token, plan.deadline("state_write"))
        if not saved:
            log.warning(
                "series state of %s changed during the run: another run uses the same service.instance.id",
                instance,
                extra={"run_id": result.run_id, "service.instance.id": instance},
            )
    except StateWriteFailed as failure:
        log.warning(
            "series state of %s not saved: %s; counters restart at the next run",
            instance,
            failure.detail,
            extra={"run_id": result.run_id, "error.type": failure.error_type},
        )
    return report


_AGE_GAUGES = {QUEUE_OLDEST_AGE, QUEUE_STUCK}


def _unreadable(result: RunResult) -> set[str]:
    return result.state_report.unreadable if result.state_report is not None else set()


def load_series(
    state: StateStore | None, publisher: Publisher, run_id: str, deadline: Deadline
) -> tuple[SeriesState, str | None]:
    instance = publisher.instance_id
    if state is None:
        raw = _PROCESS_SERIES.get(publisher)
        return (from_document(json.loads(raw), instance) if raw else SeriesState()), None
    loaded = state.load_series(instance, deadline)
    failure = loaded.failure
    kept = SeriesState()
    if failure is None and loaded.state is not None:
        try:
            kept = from_document(loaded.state, instance)
        except StateCorrupt as corrupt:
            failure = corrupt
    if failure is not None:
        log.warning(
            "series state of %s unusable (error.type=%s): %s; counters start anew",
            instance,
            failure.error_type,
            failure.detail,
            extra={"run_id": run_id, "error.type": failure.error_type},
        )
    return kept, loaded.token


def otlp_report(export: ExportReport) -> OutputReport:
    """The OTLP export as an output's report (OTLP is built from the environment: telemetry/otel.py)."""
    return OutputReport(
        "otlp",
        problem=None if export.ok else export_failure_message(export),
        events_delivered=export.logs_ok,
        detail=export,
    )
