"""What became of one export: ``ExportReport`` (per signal delivered or not, every request's outcome, the
items too large to send, the series kept and the export's own counts for the next one) and
``export_failure_message``, the one line that says which signal was not delivered, where it was sent, what
the backend said and which variable or header to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .delivery import RequestOutcome
from .otlp_settings import ExportTarget
from .points import RunTelemetry
from .series import SeriesState


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
