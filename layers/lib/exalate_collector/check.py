"""``exalate-collector check``: can each node be polled, and are its credentials right? Before deploying.

Per node, each step only once the steps before it passed: its secrets resolve; the host name resolves
(the proxy's, for a node reached through one) with the resolver a run uses; a connection is made; TLS is
agreed (https); the login (``auth: {type: login}``); the connection list (``relations: auto``); then one
GET of each endpoint the node collects, for one relation. Connect and TLS are what the node's first
request tells: ``client.failure_of`` classifies its failure (``connection_failed``, ``timeout``: no
connection; ``tls_error``). Every request goes through ``client.NodeClient``, as in a run; nothing is
exported, archived or stored, and no state is read or written.

This module is the I/O edge: ``check`` probes every node and fills one ``Probe`` each. The rest is pure:
check_steps.py turns a probe into table rows (``rows``), each failure with its one fix hint from
check_hints.py (``HINTS``, the "what to do" column of docs/troubleshooting.md, which a test keeps equal
to it); check_verdict.py renders the ``Report`` and its verdict.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from . import errors, secret_refs
from .auth import Authenticator
from .check_hints import HINTS, hint
from .check_steps import Probe, Row, failed_row, rows, transport_step
from .check_verdict import Report, exit_code, render, verdict
from .client import RESOLVER_THREADS, NodeClient
from .config import Config
from .deadline import Deadline
from .discovery import discovered
from .endpoints import CONNECTIONS, plan
from .login import LoginAuthenticator
from .model import Exchange
from .poll import NodeTarget, fetch
from .runner import prepare_targets
from .strict_http import DaemonResolver

__all__ = [
    "HINTS",
    "Probe",
    "Report",
    "Row",
    "check",
    "exit_code",
    "hint",
    "render",
    "rows",
    "transport_step",
    "verdict",
]

log = logging.getLogger(__name__)


def check(config: Config, deadline_s: float, *, resolve: Callable[[str], str] | None = None) -> Report:
    """Try every node of ``config`` as a run would, within ``deadline_s`` seconds; nothing is kept.
    ``resolve`` defaults to ``secret_refs.resolve`` by the check's deadline (secrets in AWS count against it)."""
    deadline = Deadline.after(deadline_s)
    resolve = resolve or secret_refs.resolver(deadline)
    targets = prepare_targets(config, resolve)
    others = _zabbix_secret(config, resolve)
    return Report(asyncio.run(_probe_all(targets, deadline)), others)


def _zabbix_secret(config: Config, resolve: Callable[[str], str]) -> list[Row]:
    tls = config.zabbix.tls if config.zabbix is not None else None
    if tls is None or not tls.psk:
        return []
    try:
        resolve(tls.psk)
    except errors.SecretUnavailable as failure:
        return [failed_row("zabbix", "secret tls.psk", failure)]
    return [Row("zabbix", "secret tls.psk", f"ok: {secret_refs.describe(tls.psk)}")]


async def _probe_all(targets: Sequence[NodeTarget], deadline: Deadline) -> list[Probe]:
    slots = asyncio.Semaphore(RESOLVER_THREADS)
    return list(await asyncio.gather(*(_probe(t, deadline, slots) for t in targets)))


async def _probe(target: NodeTarget, deadline: Deadline, slots: asyncio.Semaphore) -> Probe:
    probe = Probe(target.node)
    if target.setup_failure is not None or target.authenticator is None:
        probe.secret = target.setup_failure or errors.InternalError("no authenticator for this node (a bug)")
        return probe
    client = NodeClient(target.node, slots)
    probe.proxy = client.proxy.url if client.proxy is not None else None
    try:
        await _lookup(probe, slots, deadline)
        if probe.dns is None:
            await _requests(probe, client, target.authenticator, deadline)
    finally:
        await client.close()
        for ex in [*probe.exchanges, *([probe.listing] if probe.listing else [])]:
            ex.release_body()
    return probe


async def _lookup(probe: Probe, slots: asyncio.Semaphore, deadline: Deadline) -> None:
    """The host name, through the resolver of every request (``client.DaemonResolver``)."""
    node = probe.node
    parts = urlsplit(probe.proxy or node.base_url)
    probe.host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    left = min(node.timeout_s, deadline.left())
    try:
        async with asyncio.timeout(max(0.0, left)):
            found = await DaemonResolver(slots).resolve(probe.host, port, socket.AF_UNSPEC)
    except TimeoutError:
        probe.dns = errors.Timeout(f"the host name {probe.host} was not resolved within {max(0.0, left):g} s")
        return
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        probe.dns = errors.ConnectionFailed(f"the host name {probe.host} could not be resolved: {reason}")
        return
    probe.addresses = tuple(dict.fromkeys(str(r["host"]) for r in found))
    if not probe.addresses:
        probe.dns = errors.ConnectionFailed(f"the host name {probe.host} has no IPv4 or IPv6 address")
    log.debug(
        "check: node=%s host %s resolves to %s",
        node.name,
        probe.host,
        ",".join(probe.addresses) or "-",
        extra={"exalate.node": node.name},
    )


def _answered(probe: Probe, ex: Exchange) -> bool:
    """Whether the node's first request was answered; if not, the node's check ends there."""
    if transport_step(ex.failure) is not None:
        probe.unreached = ex.failure
        return False
    return True


async def _requests(probe: Probe, client: NodeClient, auth: Authenticator, deadline: Deadline) -> None:
    node = probe.node
    reached = False
    if isinstance(auth, LoginAuthenticator):
        await auth.prepare(client, Deadline.after(node.timeout_s).sooner(deadline).at)
        refusal = auth.refusal
        cause = refusal.__cause__ if refusal is not None else None
        if isinstance(cause, errors.PollFailure) and transport_step(cause) is not None:
            probe.unreached = cause
            return
        if refusal is not None:
            probe.login = refusal
            return
        reached = True
    relations = node.relations
    if node.discover is not None:
        probe.listing = await fetch(client, auth, "", CONNECTIONS, deadline.at)
        if not reached and not _answered(probe, probe.listing):
            return
        reached = True
        probe.discovery = discovered(node, probe.listing, None, deadline) if probe.listing.ok else None
        relations = probe.discovery.relations if probe.discovery is not None else ()
    probe.relation = relations[0] if relations else None
    jobs = list(plan(relations[:1], node.collect, (CONNECTIONS,) if node.discover is not None else ()))
    if jobs and not reached:
        first = await fetch(client, auth, *jobs.pop(0), deadline.at)
        probe.exchanges.append(first)
        if not _answered(probe, first):
            return
    probe.exchanges += await asyncio.gather(*(fetch(client, auth, r, e, deadline.at) for r, e in jobs))
