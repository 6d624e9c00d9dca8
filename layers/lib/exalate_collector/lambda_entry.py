"""What the collector Lambda does per invocation; the handler in functions/collector/app.py calls it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .config import load_config
from .errors import ExportFailed
from .runner import Publisher, run

log = logging.getLogger(__name__)

#: Seconds kept back from the Lambda's remaining time for the export (the OTLP timeout is 10 s).
DEFAULT_EXPORT_MARGIN_S = 12.0
MIN_DEADLINE_S = 1.0


def deadline_s(context: Any, env: Mapping[str, str]) -> float:
    """Polling time: the invocation's remaining time minus the export margin."""
    margin = float(env.get("EXALATE_EXPORT_MARGIN_S") or DEFAULT_EXPORT_MARGIN_S)
    remaining = context.get_remaining_time_in_millis() / 1000.0
    return max(MIN_DEADLINE_S, remaining - margin)


def collect(event: Mapping[str, Any], context: Any, publisher: Publisher, env: Mapping[str, str]) -> dict[str, Any]:
    """One scheduled run. Raises ConfigError before any request, ExportFailed after everything else."""
    config = load_config(env=env)
    result = run(config, deadline_s(context, env), publisher)
    if result.export is not None and not result.export.ok:
        raise ExportFailed(f"run {result.run_id}: the telemetry backend refused the export or was unreachable")
    return {
        "run_id": result.run_id,
        "polls": len(result.exchanges),
        "failed": result.failures,
        "points": len(result.telemetry.points),
        "events": len(result.telemetry.events),
    }
