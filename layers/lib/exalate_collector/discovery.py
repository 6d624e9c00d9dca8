"""``relations: auto``: which relations a node has in this run, from its 4.0 connection list.

The list is read first (one GET per node, before the other requests); the connections that pass the
node's ``discover`` filters are its relations for the run. When the list cannot be read or understood,
the run polls the relations of the last list kept in the node's state, and reports a
``discovery_failed`` (metric, event, log line) saying so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from .config import NodeConfig
from .deadline import Deadline
from .endpoints import CONNECTIONS
from .errors import DiscoveryFailed
from .model import Discovery, Exchange
from .parse import is_connection_name
from .poll import NodeTarget, poll_nodes
from .state.store import StateStore

log = logging.getLogger(__name__)


def discover(
    targets: list[NodeTarget],
    deadline: Deadline,
    state: StateStore | None,
    max_in_flight: int,
) -> tuple[list[Exchange], dict[str, Discovery]]:
    """For the ``relations: auto`` nodes: GET the connection list first; each node's relations of this run.
    The lists, and the kept ones read from ``state`` for a list that failed, end by ``deadline``."""
    auto = [t for t in targets if t.node.discover is not None]
    if not auto:
        return [], {}
    listing = [replace(t, jobs=(("", CONNECTIONS),)) for t in auto]
    exchanges = poll_nodes(listing, deadline.at, max_in_flight=max_in_flight)
    found = {t.node.name: discovered(t.node, ex, state, deadline) for t, ex in zip(auto, exchanges, strict=True)}
    return exchanges, found


def discovered(node: NodeConfig, listing: Exchange, state: StateStore | None, deadline: Deadline) -> Discovery:
    """The relations the connection list gives (filtered by ``discover``), or, when it could not be
    read, those of the last list kept in the state (a ``discovery_failed``)."""
    assert node.discover is not None
    if listing.ok and listing.reading is not None:
        names = list(  # in the node's order, each once
            dict.fromkeys(
                c.name
                for c in listing.reading.connections
                if is_connection_name(c.name) and node.discover.accepts(c.name, c.status)
            )
        )
        most = node.discover.max
        log.debug(
            "discovery: node=%s lists %d connections, %d pass the filters (status %s, name %s), at most %d polled",
            node.name,
            len(listing.reading.connections),
            len(names),
            ",".join(node.discover.status) or "any",
            "any" if node.discover.name is None else "a pattern",
            most,
            extra={"exalate.node": node.name},
        )
        if len(names) <= most:
            log.debug(
                "discovery: node=%s polls %s",
                node.name,
                ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "") or "no relation",
                extra={"exalate.node": node.name},
            )
            return Discovery(node.name, tuple(names))
        failure = DiscoveryFailed(
            f"node {node.name} lists {len(names)} connections that pass the discover filters, more than"
            f" discover.max {most}: the first {most} by name were polled, {len(names) - most} left out"
        )
        _warn(node, failure)
        first = set(sorted(names)[:most])
        return Discovery(node.name, tuple(n for n in names if n in first), failure)
    cause = f"{listing.failure.error_type}: {listing.failure.detail}" if listing.failure else "no answer"
    kept = kept_relations(state, node.name, deadline)
    if kept is None:
        fallback = "no list is kept in the state, so no relation was polled"
    else:
        relations, at = kept
        fallback = f"polled the {len(relations)} relation(s) of the list kept in the state from {at}"
    failure = DiscoveryFailed(f"the connection list of node {node.name} could not be read ({cause}); {fallback}")
    _warn(node, failure)
    return Discovery(node.name, kept[0] if kept else (), failure, from_state=True)


def _warn(node: NodeConfig, failure: DiscoveryFailed) -> None:
    log.warning(
        "discovery failed: node=%s error.type=%s: %s",
        node.name,
        failure.error_type,
        failure.detail,
        extra={"exalate.node": node.name, "error.type": failure.error_type},
    )


def kept_relations(state: StateStore | None, node: str, deadline: Deadline) -> tuple[tuple[str, ...], str] | None:
    """The last discovered relation list in the node's state (read by ``deadline``), and when it was made
    (ISO 8601)."""
    loaded = state.load(node, deadline) if state is not None else None
    kept = loaded.state.get("discovered") if loaded is not None and loaded.state else None
    if not kept:
        return None
    return tuple(kept["relations"]), datetime.fromtimestamp(kept["at"], UTC).isoformat(timespec="seconds")
