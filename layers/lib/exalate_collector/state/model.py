"""Pure: the previous state + this run's observations -> the next state, what appeared, what resolved.

State of one node (schema 1), kept small: only what is present now (and, for ``relations: auto``,
the last discovered relation list: ``"discovered": {"relations": [...], "at": 1795805100.0}``).

    {"schema": 1, "node": "jira-prod", "updated_at": 1795805100.0,
     "relations": {"AllContent": {"syncevents/syncrequests": {"4": {"t": 1795804800.0}},
                                  "syncrequests/errorresponses": {"49|NO_ISSUE_TO_CONNECT_TO":
                                      {"t": 1795790000.0, "reason": "NO_ISSUE_TO_CONNECT_TO", "key": "AC-113", ...}}}}}

An endpoint that was not understood in this run keeps its previous entry untouched, so a failed poll
never "resolves" anything and ages go on where they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..endpoints import ERROR_ENDPOINTS, REMEMBERED
from ..errors import StateCorrupt
from ..model import Exchange
from ..parse import ErrorItem, is_connection_name

SCHEMA = 1
Key = tuple[str, str]  # (relation, endpoint)

#: ErrorItem field -> the short name it has in the state.
_ERROR_INFO = {
    "reason": "reason",
    "sync_event_id": "sync_event_id",
    "issue_key": "key",
    "issue_id": "issue_id",
    "blob_id": "blob_id",
    "blob_event_id": "blob_event_id",
}


@dataclass(frozen=True, slots=True)
class Resolved:
    relation: str
    endpoint: str
    identity: str
    info: Mapping[str, Any]
    stood_s: float


@dataclass(frozen=True, slots=True)
class Age:  # one per relation and remembered endpoint
    oldest_s: float
    stuck: int


@dataclass
class Advance:
    """The outcome of one node's state update."""

    state: dict[str, Any]
    appeared: set[tuple[str, str, str]] = field(default_factory=set)  # (relation, endpoint, identity)
    resolved: list[Resolved] = field(default_factory=list)
    ages: dict[Key, Age] = field(default_factory=dict)


def empty_state(node: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "node": node, "updated_at": None, "relations": {}}


def validate(raw: object, node: str) -> dict[str, Any]:
    """The state as stored, checked; raises StateCorrupt naming what is wrong.

    The schema fixes the depth (root, relations, relation, endpoint, item, plain values); anything
    deeper, or not a finite number where a time belongs, is corrupt."""
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise StateCorrupt(f"state of node {node}: not a schema {SCHEMA} object")
    relations = raw.get("relations")
    if not isinstance(relations, dict):
        raise StateCorrupt(f"state of node {node}: 'relations' is not an object")
    kept = raw.get("discovered")
    if kept is not None and not (
        isinstance(kept, dict)
        and isinstance(kept.get("at"), int | float)
        and isinstance(kept.get("relations"), list)
        and all(is_connection_name(r) for r in kept["relations"])
    ):
        # the list is polled when discovery fails: a name the connection list would refuse ('..') is corrupt
        raise StateCorrupt(f"state of node {node}: 'discovered' is not a list of relation names with a time")
    for relation, endpoints in relations.items():
        if not isinstance(endpoints, dict):
            raise StateCorrupt(f"state of node {node}: relation {relation!r:.80} is not an object")
        for endpoint, items in endpoints.items():
            if endpoint not in REMEMBERED or not isinstance(items, dict):
                raise StateCorrupt(f"state of node {node}: bad endpoint entry {endpoint!r:.80}")
            for seen in items.values():
                if not isinstance(seen, dict) or not _is_time(seen.get("t")):
                    raise StateCorrupt(f"state of node {node}: an item of {endpoint} has no first-seen time")
                if not all(_is_scalar(v) for v in seen.values()):
                    raise StateCorrupt(f"state of node {node}: an item of {endpoint} holds more than plain values")
    return raw


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str) or _is_time(value)


def error_info(item: ErrorItem) -> dict[str, Any]:
    return {short: getattr(item, name) for name, short in _ERROR_INFO.items() if getattr(item, name) is not None}


def observations(exchanges: Iterable[Exchange]) -> dict[Key, dict[str, dict[str, Any]]]:
    """For every endpoint understood in this run: identity -> what to remember about it."""
    observed: dict[Key, dict[str, dict[str, Any]]] = {}
    for ex in exchanges:
        if not ex.ok or ex.reading is None or ex.endpoint not in REMEMBERED:
            continue
        present: dict[str, dict[str, Any]] = {}
        if ex.endpoint in ERROR_ENDPOINTS:
            for item in ex.reading.errors:
                if item.identity is not None:
                    present[item.identity] = error_info(item)
        else:
            present = {ident: {} for ident in ex.reading.identities}
        observed[(ex.relation, ex.endpoint)] = present
    return observed


def advance(
    previous: Mapping[str, Any] | None,
    node: str,
    relations: Iterable[str],
    observed: Mapping[Key, Mapping[str, Mapping[str, Any]]],
    now: float,
    stuck_after_s: float,
    discovered: Iterable[str] | None = None,
) -> Advance:
    """The next state of a node. ``previous`` None means a fresh start (everything is new).

    ``discovered``: the relation list discovery made in this run (``relations: auto``), kept for a run
    whose discovery fails; None keeps the previous one.
    """
    before_all = (previous or empty_state(node))["relations"]
    result = Advance(state={"schema": SCHEMA, "node": node, "updated_at": now, "relations": {}})
    if discovered is not None:
        result.state["discovered"] = {"relations": list(discovered), "at": now}
    elif previous and "discovered" in previous:
        result.state["discovered"] = previous["discovered"]
    for relation in relations:
        for endpoint in REMEMBERED:
            before: Mapping[str, Any] = before_all.get(relation, {}).get(endpoint, {})
            present = observed.get((relation, endpoint))
            if present is None:
                entry = dict(before)  # not understood this run: untouched
            else:
                entry = {}
                for ident, info in present.items():
                    if ident in before:
                        entry[ident] = {**before[ident], **info, "t": before[ident]["t"]}
                    else:
                        entry[ident] = {**info, "t": now}
                        result.appeared.add((relation, endpoint, ident))
                if endpoint in ERROR_ENDPOINTS:
                    for ident, old in before.items():
                        if ident not in present:
                            result.resolved.append(Resolved(relation, endpoint, ident, old, max(0.0, now - old["t"])))
                times = [seen["t"] for seen in entry.values()]
                result.ages[(relation, endpoint)] = Age(
                    oldest_s=max(0.0, now - min(times)) if times else 0.0,
                    stuck=sum(1 for t in times if now - t > stuck_after_s),
                )
            if entry:
                result.state["relations"].setdefault(relation, {})[endpoint] = entry
    return result


def withheld(adv: Advance) -> dict[str, Any]:
    """The state to keep when the events of ``adv`` were not delivered (the export failed).

    Errors that appeared are left out and resolved ones put back, so the next run finds them new or
    resolved again and reports them: an event is committed only with the export that carried it.
    Queue items keep their first-seen time (they carry no event).
    """
    state = copy.deepcopy(adv.state)
    relations = state["relations"]
    for relation, endpoint, identity in adv.appeared:
        if endpoint in ERROR_ENDPOINTS:
            entries = relations.get(relation, {}).get(endpoint, {})
            entries.pop(identity, None)
            if not entries:
                relations.get(relation, {}).pop(endpoint, None)
    for r in adv.resolved:
        relations.setdefault(r.relation, {}).setdefault(r.endpoint, {})[r.identity] = dict(r.info)
    state["relations"] = {relation: endpoints for relation, endpoints in relations.items() if endpoints}
    return state


@dataclass
class StateReport:
    """What the state contributed to one run, for the telemetry."""

    repeat: bool = False
    advances: dict[str, Advance] = field(default_factory=dict)
    failures: list[tuple[str, Any]] = field(default_factory=list)  # (node, StateFailure)
    #: Nodes whose state could not be read this run: no age, no stuck count, no error reported as new
    #: (what is new cannot be told), and their state is not written.
    unreadable: set[str] = field(default_factory=set)

    def is_new(self, node: str, relation: str, endpoint: str, identity: str | None) -> bool:
        """Whether an error event is due: always with ``repeat``, or for an error that cannot be tracked;
        never for a node whose state could not be read."""
        if node in self.unreadable:
            return False
        if self.repeat or identity is None:
            return True
        adv = self.advances.get(node)
        return adv is None or (relation, endpoint, identity) in adv.appeared
