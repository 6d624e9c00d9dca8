"""One collection run: resolve credentials, poll everything, map to telemetry, publish.

Shared by the Lambda handler and the CLI. Nothing in a run raises because of a node, a relation or an
endpoint: those failures are data (metric, event, log line). Only an invalid configuration (before
any request) and a refused export (after everything else) end a run with an error, the latter raised
by the caller once all else is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import heap, secret_refs
from .archive.sinks import ArchiveSink
from .budget import AnswerBudget, RunBudget, memory_budget_bytes
from .config import Config
from .deadline import Deadline
from .discovery import discover
from .endpoints import CONNECTIONS, plan
from .model import Exchange
from .outputs import Output, OutputReport, SendContext, configured
from .pipeline import AnswerPipeline, ArchiveOutcome, Background
from .poll import Listener, poll_nodes
from .run_export import Publisher, load_series, log_export, otlp_report, publish, report_late, seconds_left
from .run_result import RunResult, new_run_id
from .run_state import commit_state, recall
from .run_targets import forget_rejected_secrets, log_failures, prepare_targets
from .state.store import Draft, StateStore
from .telemetry.points import run_telemetry
from .telemetry.series import (
    SeriesState,
)

if TYPE_CHECKING:
    from .zabbix.sender import ZabbixOutput

#: Imported from here by the CLI, the Lambda handler, the bench and the tests: the run's interface.
__all__ = [
    "ArchiveOutcome",
    "Polling",
    "Publisher",
    "RunResult",
    "collect",
    "commit_state",
    "log_failures",
    "new_run_id",
    "prepare_targets",
    "publish",
    "recall",
    "run",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Polling:
    """How a run polls once the connection lists are read: until when, and who hears of each answer."""

    until: float
    listener: Listener | None = None


def collect(
    config: Config,
    deadline_s: float,
    *,
    resolve: Callable[[str], str] | None = None,
    state: StateStore | None = None,
    start: Callable[[RunResult, int, Sequence[Exchange]], Polling] | None = None,
) -> RunResult:
    """Poll what each node's ``collect`` asks for within ``deadline_s`` seconds: for ``relations: auto``
    the connection list first, then everything else at once. ``state`` only serves a failed discovery.
    ``start``: given the run, the number of GETs planned and the connection lists' exchanges, how to
    poll (runner.run: a deadline sized from the work, and the pipeline). ``resolve`` defaults to
    ``secret_refs.resolve`` by polling's deadline."""
    begin = time.monotonic()
    started_at = datetime.now(UTC)
    run_id = new_run_id(started_at)
    deadline = begin + deadline_s
    by = Deadline(deadline)  # secrets and kept relation lists from AWS count against polling's time
    targets = prepare_targets(config, resolve or secret_refs.resolver(by))
    listed, discoveries = discover(targets, by, state, config.limits.max_in_flight)
    result = RunResult(run_id=run_id, started_at=started_at, exchanges=[], duration_s=0.0, discoveries=discoveries)
    planned = [
        replace(t, jobs=plan(result.relations_of(t.node), t.node.collect, (CONNECTIONS,) if t.node.discover else ()))
        for t in targets
    ]
    polling = Polling(deadline) if start is None else start(result, sum(len(t.jobs) for t in planned), listed)
    answers = AnswerBudget(memory_budget_bytes(config.limits.memory_budget_mb))
    log.debug("answers held in memory: at most %d MB, beyond in temporary files", answers.limit >> 20)
    polled = poll_nodes(
        planned,
        min(deadline, polling.until),
        max_in_flight=config.limits.max_in_flight,
        memory=answers,
        listener=polling.listener,
    )
    result.spilled = answers.spilled
    if answers.spilled:
        log.info(
            "%d answers over the memory budget (%d MB) went to temporary files",
            answers.spilled,
            answers.limit >> 20,
            extra={"run_id": run_id, "answers.spilled": answers.spilled},
        )
    order = {node.name: index for index, node in enumerate(config.nodes)}
    result.exchanges = sorted(listed + polled, key=lambda ex: order[ex.node])  # stable: the list first
    result.polled = polled
    result.duration_s = time.monotonic() - begin
    log_failures(result.exchanges)
    forget_rejected_secrets(config, result.exchanges)
    return result


def _send(output: Output, context: SendContext) -> OutputReport:
    """One output's send; an exception of it is its failure, reported like any other, never the run's end."""
    try:
        return output.send(context)
    except Exception as exc:
        log.exception("output %s failed", output.name, extra={"run_id": context.run_id, "exalate.output": output.name})
        return OutputReport(
            output.name, problem=f"{output.name}: failed ({type(exc).__name__}, a bug)", events_delivered=False
        )


def run(
    config: Config,
    deadline_s: float,
    publisher: Publisher | None,
    archive: ArchiveSink | None = None,
    state: StateStore | None = None,
    clock: Callable[[], float] = time.time,
    zabbix: ZabbixOutput | None = None,
    outputs: Sequence[Output] = (),
    **kwargs: object,
) -> RunResult:
    """Collect, archive, publish, all within ``deadline_s`` (budget.py says how it is divided).
    Export and archive failures are logged and reported here and left for the caller to raise (the
    Lambda handler) or to turn into an exit code (the CLI).

    The readings go to every output (outputs.py: those configured, e.g. ``zabbix:``, and ``outputs``
    given; ``zabbix`` is kept for callers of 0.1), in order, then to OTLP, which carries what each of
    them said of itself. The collector of cyclic garbage sees none of what the run keeps (heap.py)."""
    with heap.run_scope():
        return _run(config, deadline_s, publisher, archive, state, clock, zabbix, outputs, **kwargs)


def _run(
    config: Config,
    deadline_s: float,
    publisher: Publisher | None,
    archive: ArchiveSink | None,
    state: StateStore | None,
    clock: Callable[[], float],
    zabbix: ZabbixOutput | None,
    outputs: Sequence[Output],
    **kwargs: object,
) -> RunResult:
    given = list(outputs)
    if zabbix is not None:
        from .zabbix import ZabbixTrapper

        given.append(ZabbixTrapper(zabbix))
    sending = configured(config, given)
    phases = {"archive"} if archive is not None else set()
    phases |= {"state_read", "state_write", "late_export"} if state is not None else set()
    weights = [(o.name, o.weight) for o in sending]
    begin = time.monotonic()
    budgets = [RunBudget.plan(begin, deadline_s, phases, weights)]  # for the connection lists; then:
    background = Background()  # the archive's hand-offs
    reader = Background()  # the series state, read beside them: neither waits for the other
    series: Future[tuple[SeriesState, str | None]] | None = None
    pipelines: list[AnswerPipeline] = []

    def start(result: RunResult, gets: int, listed: Sequence[Exchange]) -> Polling:
        nonlocal series
        budgets.append(RunBudget.plan(begin, deadline_s, phases, weights, gets=gets))  # sized from the work
        if publisher is not None:  # read while polling: it is needed only at the export
            reading = budgets[-1].deadline("state_read")
            series = reader.submit(lambda: _settled(load_series(state, publisher, result.run_id, reading)))
        pipeline = AnswerPipeline(
            result.run_id, result.started_at, background, archive, budgets[-1].deadline("archive"), listed
        )
        pipelines.append(pipeline)
        return Polling(budgets[-1].until("poll"), pipeline)

    try:
        poll_s = seconds_left(budgets[0].until("poll"))  # the connection lists' deadline; the reserve only grows
        result = collect(config, poll_s, state=state, start=start, **kwargs)  # type: ignore[arg-type]
        plan, (pipeline,) = budgets[-1], pipelines  # collect calls start once, before polling
        result.archive = pipeline.finish(result.polled, [node.name for node in config.nodes])
    finally:
        background.close()
        reader.close()
    heap.settle()  # what polling left is what the run keeps
    with heap.paused():
        return _after_polling(config, result, pipeline, plan, publisher, state, clock, sending, series)


def _settled(loaded: tuple[SeriesState, str | None]) -> tuple[SeriesState, str | None]:
    heap.settle()  # the series state read back lives as long as the run
    return loaded


def _after_polling(
    config: Config,
    result: RunResult,
    pipeline: AnswerPipeline,
    plan: RunBudget,
    publisher: Publisher | None,
    state: StateStore | None,
    clock: Callable[[], float],
    sending: Sequence[Output],
    series: Future[tuple[SeriesState, str | None]] | None,
) -> RunResult:
    """Everything after polling: the state, the run's telemetry, every output, then OTLP, the state kept."""
    drafts: dict[str, Draft] = {}
    if state is not None:
        drafts = recall(result, config, state, clock(), plan.deadline("state_read"))
    archive_failures = result.archive.failures if result.archive else []
    result.telemetry = run_telemetry(
        result.exchanges,
        result.duration_s,
        archive_failures,
        result.state_report,
        list(result.discoveries.values()),
        observed_at=clock(),
        points_of=pipeline.points_of,
    )
    for output in sending:
        by = plan.deadline(output.name)
        context = SendContext(config, result.telemetry, result.run_id, result.started_at, by, plan, result)
        report = _send(output, context)
        result.outputs.append(report)
        result.telemetry = result.telemetry.extended(report.points, report.events)
    if publisher is not None:
        result.export = publish(result, publisher, state, plan, None if series is None else series.result())
        log_export(result)
        result.outputs.append(otlp_report(result.export))
    if state is not None:
        late = commit_state(result, drafts, state, plan.deadline("state_write"))
        if late:
            report_late(result, late, publisher, plan.end)
            if result.export is not None:
                result.outputs[-1] = otlp_report(result.export)
    for ex in result.exchanges:
        if ex.body_file is not None:
            ex.release_body()  # no temporary file outlives its run
    log.info(
        "run %s: %d polls, %d failed, %d points, %d events",
        result.run_id,
        len(result.exchanges),
        result.failures,
        len(result.telemetry.points),
        len(result.telemetry.events),
        extra={"run_id": result.run_id},
    )
    return result
