"""What the collector Lambda does per invocation; the handler in functions/collector/app.py calls it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from . import redact, secret_refs
from .archive.sinks import ArchiveSink
from .budget import lambda_deadline_s
from .config import load_config
from .errors import ConfigError, ExportFailed, RunFailed, SecretUnavailable
from .runner import Publisher, RunResult, run
from .settings import Settings
from .state.store import StateStore
from .telemetry.otel import HEADERS_VAR, canonical_headers, parse_headers

log = logging.getLogger(__name__)

HEADERS_SECRET_VAR = "OTEL_EXPORTER_OTLP_HEADERS_SECRET"


def load_otlp_headers(
    settings: Settings, env: MutableMapping[str, str], resolve: Callable[[str], str] | None = None
) -> None:
    """Set OTEL_EXPORTER_OTLP_HEADERS from the secret named by OTEL_EXPORTER_OTLP_HEADERS_SECRET.

    API keys for Datadog or Honeycomb then never sit in plain environment variables of the function.
    The secret holds ``name=value,...`` or a JSON object of names and values; it is stored in the
    variable in the ``name=value`` form and never echoed. Called once at cold start, before the
    exporters are built.
    """
    ref = settings.otlp_headers_secret
    if not ref:
        return
    resolve = resolve or secret_refs.resolve
    try:
        value = resolve(ref)
    except SecretUnavailable as failure:
        raise ConfigError([f"{HEADERS_SECRET_VAR}: {failure.detail}"]) from None
    redact.remember(value)
    env[HEADERS_VAR] = canonical_headers(parse_headers(value, f"{HEADERS_SECRET_VAR} ({ref})"))


def deadline_s(context: Any, settings: Settings) -> float:
    """The whole run's time: the invocation's remaining time less a margin (EXALATE_DEADLINE_MARGIN_S)."""
    return lambda_deadline_s(context.get_remaining_time_in_millis(), settings.deadline_margin_s)


def raise_if_incomplete(result: RunResult) -> None:
    """After everything was done and reported: fail the invocation if some output was not delivered."""
    problems = result.undelivered()  # the CLI's exit 1 follows the same rule
    if problems:
        error = ExportFailed if not result.archive_failed else RunFailed
        raise error(f"run {result.run_id}: " + "; ".join(problems))


def collect(
    event: Mapping[str, Any],
    context: Any,
    publisher: Publisher,
    settings: Settings,
    archive: ArchiveSink | None = None,
    state: StateStore | None = None,
) -> dict[str, Any]:
    """One scheduled run. Raises ConfigError before any request, RunFailed after everything else."""
    config = load_config(settings.config_ref)
    if event.get("execution_id"):
        log.info("scheduled execution %s", event["execution_id"], extra={"execution_id": event["execution_id"]})
    result = run(config, deadline_s(context, settings), publisher, archive, state)
    if result.nothing_polled:
        # Not raised: the run's output (every failure, as exalate.poll.errors and exalate.endpoint.up 0)
        # was delivered, and the Errors alarm stays "the collector failed", not "the nodes are down".
        log.error(
            "run %s: no poll succeeded (%d of %d failed); alert on exalate.endpoint.up, see the failures above",
            result.run_id,
            result.failures,
            len(result.exchanges),
            extra={"run_id": result.run_id, "exalate.polls.succeeded": 0, "exalate.polls.failed": result.failures},
        )
    raise_if_incomplete(result)
    return {
        "run_id": result.run_id,
        "polls": len(result.exchanges),
        "failed": result.failures,
        "succeeded": len(result.exchanges) - result.failures,
        "points": len(result.telemetry.points),
        "events": len(result.telemetry.events),
        "archived": result.archive.delivered if result.archive else {},
    }
