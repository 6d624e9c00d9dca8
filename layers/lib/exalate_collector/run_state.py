"""The run's node states: read and advanced once polling is over (``recall``), written once the export
that carried their events succeeded (``commit_state``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .config import Config, NodeConfig
from .deadline import Deadline
from .errors import StateFailure, StateReadFailed
from .run_result import RunResult
from .state.model import Advance, StateReport, advance, observations, withheld
from .state.store import Draft, StateStore, commit, draft

log = logging.getLogger(__name__)


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
