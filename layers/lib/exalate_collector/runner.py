"""One collection run: resolve credentials, poll everything, map to telemetry, publish.

Shared by the Lambda handler and the CLI. Nothing in a run raises because of a node, a relation or an
endpoint: those failures are data (metric, event, log line). Only an invalid configuration (before
any request) and a refused export (after everything else) end a run with an error, the latter raised
by the caller once all else is done.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from . import secret_refs
from .archive.sinks import ArchiveSink
from .auth import scheme, short_key_warning
from .auth_schemes import authenticator_for
from .budget import AnswerBudget, RunBudget, memory_budget_bytes
from .config import Config, NodeConfig
from .deadline import Deadline
from .discovery import discover
from .endpoints import CONNECTIONS, plan
from .errors import (
    LoginFailed,
    SecretUnavailable,
    StateCorrupt,
    StateFailure,
    StateReadFailed,
    StateWriteFailed,
    Unauthorized,
)
from .model import Discovery, Exchange
from .outputs import Output, OutputReport, SendContext, configured
from .pipeline import AnswerPipeline, ArchiveOutcome, Background
from .poll import Listener, NodeTarget, poll_nodes
from .state.model import Advance, StateReport, advance, observations, withheld
from .state.store import Draft, StateStore, commit, draft
from .telemetry.contract import load_contract
from .telemetry.otel import ExportReport, export_failure_message
from .telemetry.points import QUEUE_OLDEST_AGE, QUEUE_STUCK, RunTelemetry, run_telemetry, stamped, state_events
from .telemetry.series import (
    SeriesState,
    final_zeros,
    from_document,
    gauge_series,
    pending_of,
    pending_points,
    to_document,
)

if TYPE_CHECKING:
    from .zabbix.sender import ZabbixOutput, ZabbixReport

log = logging.getLogger(__name__)


class Publisher(Protocol):
    #: The deployment's service.instance.id: the series state is kept per instance.
    instance_id: str

    def publish(
        self, telemetry: RunTelemetry, series: SeriesState | None = None, timeout_s: float = ...
    ) -> ExportReport:
        """Export within ``timeout_s`` seconds, retries included."""
        ...


@dataclass
class RunResult:
    run_id: str
    started_at: datetime
    exchanges: list[Exchange]
    duration_s: float
    telemetry: RunTelemetry = field(default_factory=lambda: RunTelemetry((), ()))
    export: ExportReport | None = None
    archive: ArchiveOutcome | None = None
    state_report: StateReport | None = None
    #: node -> its relations of this run, for the ``relations: auto`` nodes
    discoveries: dict[str, Discovery] = field(default_factory=dict)
    #: answers that did not fit the run's memory budget and were kept in temporary files
    spilled: int = 0

    #: What each output did, in the order they sent (OTLP last)
    outputs: list[OutputReport] = field(default_factory=list)
    #: The exchanges of the polling proper (not the connection lists), in job order per node
    polled: list[Exchange] = field(default_factory=list, repr=False)

    def relations_of(self, node: NodeConfig) -> tuple[str, ...]:
        """The relations polled for the node in this run: configured, or discovered."""
        found = self.discoveries.get(node.name)
        return node.relations if found is None else found.relations

    def output(self, name: str) -> OutputReport | None:
        return next((r for r in self.outputs if r.name == name), None)

    def undelivered(self) -> list[str]:
        """One line per output (the archive included) that did not take all of the run: the one rule of the
        CLI's exit 1 and the Lambda's RunFailed."""
        problems = []
        if self.archive is not None and self.archive.failures:
            nodes = ", ".join(f"{node} ({failure.error_type})" for node, failure in self.archive.failures)
            problems.append(f"some answers could not be archived (see the log): {nodes} could not be archived")
        problems.extend(r.problem for r in self.outputs if r.problem is not None)
        return problems

    @property
    def zabbix(self) -> ZabbixReport | None:
        """The Zabbix output's own report (kept for callers of 0.1; ``output("zabbix")`` is the interface)."""
        report = self.output("zabbix")
        return None if report is None else report.detail

    @property
    def failures(self) -> int:
        return sum(1 for ex in self.exchanges if ex.failure is not None)

    @property
    def nothing_polled(self) -> bool:
        """No poll of the run gave a usable answer (every node down, refused, or every relation gone)."""
        return not any(ex.ok for ex in self.exchanges)

    @property
    def export_failed(self) -> bool:
        return self.export is not None and not self.export.ok

    @property
    def zabbix_failed(self) -> bool:
        report = self.output("zabbix")
        return report is not None and not report.ok

    @property
    def archive_failed(self) -> bool:
        return self.archive is not None and bool(self.archive.failures)


def new_run_id(now: datetime) -> str:
    """Sortable and unique: ``20261127T184500Z-1a2b3c4d``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def prepare_targets(config: Config, resolve: Callable[[str], str]) -> list[NodeTarget]:
    """Each node with its authenticator, or the failure that keeps it from being polled."""
    targets = []
    for node in config.nodes:
        try:
            authenticator = authenticator_for(node, resolve)
        except SecretUnavailable as failure:
            targets.append(NodeTarget(node, None, failure))
        else:
            targets.append(NodeTarget(node, authenticator))
            log.debug(
                "auth node=%s %s; read from %s",
                node.name,
                scheme(node.auth),
                _sources(node),
                extra={"exalate.node": node.name, "exalate.auth.type": node.auth.type},
            )
            warning = short_key_warning(node.name, authenticator)
            if warning:
                log.warning("configuration: %s", warning, extra={"exalate.node": node.name})
        _warn_literal(node)
    return targets


def _sources(node: NodeConfig) -> str:
    """``auth.secret ${EXALATE_JWT_SECRET}``: where each credential was read from (never its value)."""
    keys = node.auth.reference_keys  # declared by the scheme (auth_schemes), username included
    return ", ".join(f"auth.{key} {secret_refs.describe(ref)}" for key, ref in keys.items()) or "-"


def _warn_literal(node: NodeConfig) -> None:
    """A credential of the scheme's (its ``secret`` keys: a user name is not one) written as a literal."""
    if any(secret_refs.is_literal(ref) for ref in node.auth.secret_keys.values()):
        log.warning(
            "node %s has a literal credential in its configuration; use ${ENV}, secretsmanager: or ssm:",
            node.name,
            extra={"exalate.node": node.name},
        )


def log_failures(exchanges: list[Exchange]) -> None:
    """One log line per failed poll; a node-wide failure (no request sent) once for its node."""
    reported: set[tuple[str, str]] = set()
    for ex in exchanges:
        failure = ex.failure
        if failure is None:
            continue
        level = logging.ERROR if failure.authentication else logging.WARNING
        fields: dict[str, object] = {"exalate.node": ex.node}
        args: tuple[object, ...]
        if failure.node_wide:
            if (ex.node, failure.error_type) in reported:
                continue
            reported.add((ex.node, failure.error_type))
            message, args = "node %s not polled: error.type=%s: %s", (ex.node, failure.error_type, failure.detail)
        else:
            fields |= {"exalate.relation": ex.relation, "exalate.endpoint": ex.endpoint}
            message = "poll failed: node=%s relation=%s endpoint=%s error.type=%s: %s"
            args = (ex.node, ex.relation, ex.endpoint, failure.error_type, failure.detail)
        fields["error.type"] = failure.error_type
        if failure.status_code is not None:
            fields["http.response.status_code"] = failure.status_code
        log.log(level, message, *args, extra=fields)


def _forget_rejected_secrets(config: Config, exchanges: list[Exchange]) -> None:
    """A node that answered 401 may have a rotated secret: the next run reads it again (warm Lambda)."""
    rejected = {ex.node for ex in exchanges if isinstance(ex.failure, Unauthorized | LoginFailed)}
    for node in config.nodes:
        if node.name in rejected:
            for ref in node.auth.references:  # every reference of the scheme, the user name's too
                secret_refs.forget(ref)


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
    _forget_rejected_secrets(config, result.exchanges)
    return result


def recall(result: RunResult, config: Config, store: StateStore, now: float, deadline: Deadline) -> dict[str, Draft]:
    """Load each node's state and compute the next one from this run; nothing is written yet.

    ``result.state_report`` gets what the drafts report (ages, new and resolved errors, read failures).
    """
    report = StateReport(repeat=config.repeat_events)
    drafts: dict[str, Draft] = {}
    for node in config.nodes:
        observed = observations(ex for ex in result.exchanges if ex.node == node.name)

        found = result.discoveries.get(node.name)
        relations = result.relations_of(node)
        listed = relations if found is not None and not found.from_state else None

        def compute(
            previous: dict | None,
            node: NodeConfig = node,
            observed: dict = observed,
            relations: tuple[str, ...] = relations,
            listed: tuple[str, ...] | None = listed,
        ) -> object:
            return advance(previous, node.name, relations, observed, now, node.stuck_after_s, discovered=listed)

        drafts[node.name] = pending = draft(store, node.name, compute, deadline)
        if isinstance(pending.loaded.failure, StateReadFailed):
            report.unreadable.add(node.name)  # what is new, and since when, cannot be told this run
        else:
            report.advances[node.name] = pending.outcome
        for failure in pending.failures:
            report.failures.append((node.name, failure))
            _log_state_failure(result.run_id, node.name, failure)
    result.state_report = report
    return drafts


def commit_state(
    result: RunResult, drafts: dict[str, Draft], store: StateStore, deadline: Deadline
) -> list[tuple[str, StateFailure]]:
    """Write the drafts. Events that did not reach the backend are left out of the state, so the next
    run reports them again: an event is committed only once the export that carried it succeeded (and
    the Zabbix send, which carries new errors in its log item)."""
    delivered = all(report.events_delivered for report in result.outputs)
    finish: Callable[[Advance], dict] = (lambda adv: adv.state) if delivered else withheld
    failures = []
    unreadable = result.state_report.unreadable if result.state_report is not None else set()
    for node, pending in drafts.items():
        if node in unreadable:
            continue  # written from a fresh start, it would erase what the next run must compare with
        for failure in commit(store, pending, finish, deadline):
            failures.append((node, failure))
            _log_state_failure(result.run_id, node, failure)
    return failures


def _log_state_failure(run_id: str, node: str, failure: StateFailure) -> None:
    log.warning(
        "state failed: node=%s error.type=%s: %s",
        node,
        failure.error_type,
        failure.detail,
        extra={"run_id": run_id, "exalate.node": node, "error.type": failure.error_type},
    )


def _log_export(result: RunResult) -> None:
    report = result.export
    if report is not None and not report.ok:
        extra = {"run_id": result.run_id, "metrics_ok": report.metrics_ok, "logs_ok": report.logs_ok}
        log.error("%s", export_failure_message(report), extra=extra)


def _left(until: float) -> float:
    return max(0.0, until - time.monotonic())


def _report_late(
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
        followup = publisher.publish(extra, timeout_s=_left(until))
        events = result.export.events + followup.events
        outcomes = result.export.outcomes + followup.outcomes
        logs_ok = result.export.logs_ok and followup.logs_ok
        result.export = replace(result.export, logs_ok=logs_ok, events=events, outcomes=outcomes)
        _log_export(result)


#: Without a state store, the series state lives as long as the publisher (a warm Lambda, the demo).
_PROCESS_SERIES: weakref.WeakKeyDictionary[Publisher, dict] = weakref.WeakKeyDictionary()


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
        loaded = _load_series(state, publisher, result.run_id, plan.deadline("state_read"))
    previous, token = loaded
    gauges = [m for m in load_contract().metrics.values() if m.instrument == "gauge"]
    # the ages of a node whose state could not be read are unknown, not gone: no final 0, kept for later
    unknown = {
        k for k in previous.gauges if k[0] in _AGE_GAUGES and dict(k[1]).get("exalate.node") in _unreadable(result)
    }
    zeros = final_zeros(previous.gauges - unknown, result.telemetry.points, [m.name for m in gauges if m.final_zero])
    present = gauge_series(result.telemetry.points, [m.name for m in gauges]) | unknown
    carried = pending_points(previous)  # what became of the previous export's requests
    result.telemetry = RunTelemetry(result.telemetry.points + tuple(zeros + carried), result.telemetry.events)
    previous = replace(previous, pending={})
    report = publisher.publish(result.telemetry, previous, timeout_s=_left(plan.until("export")))
    result.telemetry = result.telemetry.extended((), report.reported.events)
    kept = report.series or previous
    kept.gauges = present if report.metrics_ok else present | previous.gauges
    kept.pending = pending_of(report.reported.points)
    document = to_document(kept, instance)
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


def _load_series(
    state: StateStore | None, publisher: Publisher, run_id: str, deadline: Deadline
) -> tuple[SeriesState, str | None]:
    instance = publisher.instance_id
    if state is None:
        raw = _PROCESS_SERIES.get(publisher)
        return (from_document(raw, instance) if raw else SeriesState()), None
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


def _send(output: Output, context: SendContext) -> OutputReport:
    """One output's send; an exception of it is its failure, reported like any other, never the run's end."""
    try:
        return output.send(context)
    except Exception as exc:
        log.exception("output %s failed", output.name, extra={"run_id": context.run_id, "exalate.output": output.name})
        return OutputReport(
            output.name, problem=f"{output.name}: failed ({type(exc).__name__}, a bug)", events_delivered=False
        )


def otlp_report(export: ExportReport) -> OutputReport:
    """The OTLP export as an output's report (OTLP is built from the environment: telemetry/otel.py)."""
    return OutputReport(
        "otlp",
        problem=None if export.ok else export_failure_message(export),
        events_delivered=export.logs_ok,
        detail=export,
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
    them said of itself."""
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
    background = Background()
    series: Future[tuple[SeriesState, str | None]] | None = None
    pipelines: list[AnswerPipeline] = []

    def start(result: RunResult, gets: int, listed: Sequence[Exchange]) -> Polling:
        nonlocal series
        budgets.append(RunBudget.plan(begin, deadline_s, phases, weights, gets=gets))  # sized from the work
        if publisher is not None:  # read while polling: it is needed only at the export
            reading = budgets[-1].deadline("state_read")
            series = background.submit(lambda: _load_series(state, publisher, result.run_id, reading))
        pipeline = AnswerPipeline(
            result.run_id, result.started_at, background, archive, budgets[-1].deadline("archive"), listed
        )
        pipelines.append(pipeline)
        return Polling(budgets[-1].until("poll"), pipeline)

    try:
        poll_s = _left(budgets[0].until("poll"))  # the connection lists' deadline; the reserve only grows
        result = collect(config, poll_s, state=state, start=start, **kwargs)  # type: ignore[arg-type]
        plan = budgets[-1]
        pipeline = pipelines[0] if pipelines else AnswerPipeline(result.run_id, result.started_at, background, archive)
        result.archive = pipeline.finish(result.polled, [node.name for node in config.nodes])
    finally:
        background.close()
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
        until = plan.deadline(output.name)
        context = SendContext(config, result.telemetry, result.run_id, result.started_at, until, plan, result)
        report = _send(output, context)
        result.outputs.append(report)
        result.telemetry = result.telemetry.extended(report.points, report.events)
    if publisher is not None:
        result.export = publish(result, publisher, state, plan, None if series is None else series.result())
        _log_export(result)
        result.outputs.append(otlp_report(result.export))
    if state is not None:
        late = commit_state(result, drafts, state, plan.deadline("state_write"))
        if late:
            _report_late(result, late, publisher, plan.end)
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
