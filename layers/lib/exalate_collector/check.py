"""``exalate-collector check``: can each node be polled, and are its credentials right? Before deploying.

Per node, each step only once the steps before it passed: its secrets resolve; the host name resolves
(the proxy's, for a node reached through one) with the resolver a run uses; a connection is made; TLS is
agreed (https); the login (``auth: {type: login}``); the connection list (``relations: auto``); then one
GET of each endpoint the node collects, for one relation. Connect and TLS are what the node's first
request tells: ``client.failure_of`` classifies its failure (``connection_failed``, ``timeout``: no
connection; ``tls_error``). Every request goes through ``client.NodeClient``, as in a run; nothing is
exported, archived or stored, and no state is read or written.

``rows`` is pure (one node's ``Probe`` in, table rows out, each failure with its one fix hint from
``HINTS``); ``check`` is the I/O edge. ``HINTS`` is the "what to do" column of docs/troubleshooting.md,
which a test keeps equal to it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import errors, secret_refs
from .auth import Authenticator
from .client import RESOLVER_THREADS, NodeClient
from .config import Config, NodeConfig
from .console import table
from .deadline import Deadline
from .discovery import discovered
from .endpoints import CONNECTIONS, plan
from .login import LoginAuthenticator
from .model import Discovery, Exchange
from .poll import NodeTarget, fetch
from .runner import prepare_targets
from .strict_http import DaemonResolver
from .text import printable

log = logging.getLogger(__name__)

#: One fix hint per ``error.type``: the "what to do" column of docs/troubleshooting.md, without its
#: markup (a test compares the two).
HINTS: dict[str, str] = {
    "connection_not_found": "remove the relation from relations, or use relations: auto",
    "unauthorized": "the secret is wrong (the JWT secret, the token or the password): check its value;"
    " for jwt also try send_as: x-exalate-jwt and exp_unit: ms",
    "forbidden": "check auth.type and send_as (which auth); a proxy may strip the header",
    "secret_unavailable": "set the variable, or grant the function the secret's ARN"
    " (JwtSecretArns, SecretParameterArns)",
    "login_failed": 'check username ("" with a personal access token) and password;'
    " the node must be 4.x with the 4.0 API",
    "redirect": "fix base_url (context path, https://); the message names the target's host",
    "server_error": "look at the node's logs; it is not the collector's request",
    "http_error": "the status and an excerpt are in the detail (in a run: the event and the log line)",
    "timeout": "raise timeout_s, or lower concurrency on a slow node",
    "deadline_exceeded": "raise --deadline (Lambda: CollectorTimeout), or concurrency / limits.max_in_flight",
    "connection_failed": "check the host name and port from where the collector runs (DNS, VPC, firewall),"
    " and proxy: or HTTPS_PROXY when the node is reached through a proxy (running.md)",
    "tls_error": "verify_tls: /path/to/ca-bundle.pem for a private CA",
    "invalid_response": "something between the collector and Jira rewrites answers badly: a proxy, a load"
    " balancer; the detail names what was wrong",
    "too_large": "raise max_body_bytes; a queue that large is worth a look on the node",
    "unexpected_content_type": "base_url points to a page, not the API: check the context path",
    "invalid_json": "the archive keeps the answer byte for byte (archive.md); the API document's own"
    " bloberrorresponses example is such a body",
    "unexpected_shape": "please report it with the archived answer (the 4.0 shapes are guesses)",
    "internal_error": "a bug: please report it with the log line",
    "discovery_failed": "see the failed poll of 4.0/connections beside it; with more connections than"
    " discover.max, raise it or narrow discover.name",
    "handoff_failed": "check the queue and the function's permission to send",
    "staging_failed": "check the bucket and the function's permission to put",
    "archive_write_failed": "check the directory (--archive-dir) or the bucket",
    "archive_read_failed": "look at the dead-letter queue; the staging lifecycle may have removed it",
    "checksum_mismatch": "look at the dead-letter queue; something else wrote under staging/",
    "archive_conflict": "two deployments share a bucket and prefix: give each its own ARCHIVE_PREFIX",
    "state_read_failed": "check STATE_BUCKET / --state-dir and permissions",
    "state_corrupt": "nothing: the next run starts anew (ages restart, standing errors count as new)",
    "state_write_failed": "check permissions; do runs overlap (two crontab lines, one state)?",
    "zabbix_send_failed": "a host just created is taken once the server has loaded it (CacheUpdateFrequency:"
    " 60 s on 6.0, 10 s on 7.0): run again; else check the host exists with the template linked, named like"
    " the node or zabbix_host (zabbix.md)",
    "export_redirected": "set the endpoint variable to the URL the message names",
    "export_refused": "read the backend's message: 401/403 an API key (OTEL_EXPORTER_OTLP_HEADERS), 400 the request"
    " (e.g. flate: corrupt input: a proxy re-encoding the body), 413 EXALATE_OTLP_MAX_REQUEST_KB",
    "export_rejected": "the backend's message says which (too old, a label limit, ...)",
    "export_unreachable": "check the endpoint, the network path and the run's deadline",
    "export_too_large": "raise the bound",
}


def hint(failure: errors.ReportedFailure) -> str:
    return HINTS.get(failure.error_type, "see docs/troubleshooting.md")


def transport_step(failure: errors.PollFailure | None) -> str | None:
    """Which step a node's first request failed at when it got no answer at all: "connect" (refused,
    reset, unresolvable, a proxy refusing, nothing within timeout_s), "tls"; None when it was answered."""
    if isinstance(failure, errors.TlsError):
        return "tls"
    transport = errors.ConnectionFailed | errors.Timeout | errors.DeadlineExceeded
    if isinstance(failure, transport) and failure.status_code is None:
        return "connect"
    return None


@dataclass
class Probe:
    """What was tried of one node, and what came of it (filled by ``check``, read by ``rows``)."""

    node: NodeConfig
    #: The node's secrets could not be read (nothing was sent).
    secret: errors.PollFailure | None = None
    #: The host looked up (the proxy's when the node has one) and its addresses, or why it did not resolve.
    host: str = ""
    addresses: tuple[str, ...] = ()
    dns: errors.PollFailure | None = None
    #: Whether requests go through a proxy (its URL, without credentials).
    proxy: str | None = None
    #: The node's first request got no answer (connect or TLS failed): nothing else was tried.
    unreached: errors.PollFailure | None = None
    login: errors.LoginFailed | None = None
    listing: Exchange | None = None
    discovery: Discovery | None = None
    #: The relation whose endpoints were tried (None: the node had none).
    relation: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    node: str
    step: str
    result: str
    #: The error.type of a failed step; None when it passed, was skipped or does not apply.
    error_type: str | None = None
    hint: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.error_type is not None


def _failed(node: str, step: str, failure: errors.ReportedFailure) -> Row:
    code = getattr(failure, "status_code", None)
    result = failure.error_type + (f" (HTTP {code})" if code is not None else "")
    return Row(node, step, result, failure.error_type, hint(failure), printable(failure.detail))


def _get_step(ex: Exchange) -> str:
    return f"GET {ex.endpoint}" + (f" of {ex.relation}" if ex.relation else "")


def _secret_note(node: NodeConfig) -> str:
    refs = list(node.auth.secret_keys.values())  # the scheme's own credentials (auth_schemes)
    return "ok: " + ", ".join(secret_refs.describe(ref) for ref in refs) if refs else "ok"


def rows(probe: Probe) -> list[Row]:
    """The table rows of one node: every step, in order; a step after a failed one is skipped."""
    node = probe.node
    name = node.name
    out: list[Row] = []
    blocked: str | None = None  # why the steps left were not tried

    def skip(step: str) -> None:
        out.append(Row(name, step, f"skipped ({blocked})"))

    if probe.secret is not None:
        out.append(_failed(name, "secret", probe.secret))
        blocked = "no secret"
    else:
        out.append(Row(name, "secret", _secret_note(node)))

    if blocked:
        skip("dns")
    elif probe.dns is not None:
        out.append(_failed(name, "dns", probe.dns))
        blocked = "no address"
    else:
        whose = " (the proxy's host)" if probe.proxy else ""
        resolved = ", ".join(probe.addresses)
        said = resolved if resolved == probe.host else f"{probe.host} is {resolved}"
        out.append(Row(name, "dns", f"ok: {said}{whose}"))

    first = transport_step(probe.unreached)
    if blocked:
        skip("connect")
    elif first == "connect" and probe.unreached is not None:
        out.append(_failed(name, "connect", probe.unreached))
        blocked = "no connection"
    else:
        out.append(Row(name, "connect", f"ok: through the proxy {probe.proxy}" if probe.proxy else "ok"))

    if urlsplit(node.base_url).scheme != "https":
        out.append(Row(name, "tls", "n/a (http)"))
    elif blocked:
        skip("tls")
    elif first == "tls" and probe.unreached is not None:
        out.append(_failed(name, "tls", probe.unreached))
        blocked = "no TLS"
    else:
        verified = "not verified (verify_tls: false)" if node.verify_tls is False else "verified"
        out.append(Row(name, "tls", f"ok: certificate {verified}"))

    if node.auth.type != "login":
        out.append(Row(name, "login", f"n/a (auth type {node.auth.type})"))
    elif blocked:
        skip("login")
    elif probe.login is not None:
        out.append(_failed(name, "login", probe.login))
        blocked = "no login"
    else:
        out.append(Row(name, "login", "ok: a token obtained"))

    no_relation = "no relation"
    if node.discover is None:
        out.append(Row(name, "discovery", "n/a (relations listed)"))
    elif blocked:
        skip("discovery")
    elif probe.listing is None or probe.listing.failure is not None:
        failure = probe.listing.failure if probe.listing is not None else None
        out.append(_failed(name, "discovery", failure or errors.InternalError("the connection list was not read")))
        no_relation = "the connection list could not be read"
    else:
        listed = probe.listing.reading.items if probe.listing.reading else 0
        found = probe.discovery.relations if probe.discovery else ()
        if probe.discovery is not None and probe.discovery.failure is not None:
            out.append(_failed(name, "discovery", probe.discovery.failure))
        else:
            passed = f"ok: {listed} connections listed, {len(found)} pass the discover filters"
            out.append(Row(name, "discovery", passed))
        if not found:
            no_relation = "no connection passes the discover filters"

    if blocked:
        out.append(Row(name, "GET endpoints", f"skipped ({blocked})"))
        return out
    for ex in probe.exchanges:
        if ex.failure is not None:
            out.append(_failed(name, _get_step(ex), ex.failure))
        else:
            items = ex.reading.items if ex.reading else 0
            out.append(Row(name, _get_step(ex), f"ok: {items} item{'' if items == 1 else 's'}"))
    if probe.relation is None and "relations" in node.collect:
        out.append(Row(name, "GET relation endpoints", f"skipped ({no_relation})"))
    return out


@dataclass
class Report:
    probes: list[Probe]
    #: Rows of what is not a node (the Zabbix PSK).
    others: list[Row] = field(default_factory=list)

    def rows(self) -> list[Row]:
        return [row for probe in self.probes for row in rows(probe)] + self.others

    @property
    def ok(self) -> bool:
        return not any(row.failed for row in self.rows())


def render(report: Report) -> str:
    """The table (one row per step, each failure with its fix), the failures' details, a verdict line."""
    found = report.rows()
    shown: set[tuple[str, str | None]] = set()
    cells = []
    for r in found:  # a fix once per node and error.type: six 401s need one fix
        fix = "(as above)" if r.failed and (r.node, r.error_type) in shown else r.hint
        shown.add((r.node, r.error_type))
        cells.append([r.node, r.step, r.result, fix])
    lines = [table(cells, ["node", "step", "result", "fix"])]
    details: dict[tuple[str, str | None, str], list[str]] = {}
    for r in found:
        if r.failed:
            details.setdefault((r.node, r.error_type, r.detail), []).append(r.step)
    if details:
        lines.append("\ndetails:")
        for (node, kind, detail), steps in details.items():
            more = f" (and {len(steps) - 1} more)" if len(steps) > 1 else ""
            lines.append(f"  {node} {steps[0]}{more}: {kind}: {detail}")
    lines.append("\n" + verdict(report))
    return "\n".join(lines)


def verdict(report: Report) -> str:
    """``check: 2 nodes, every step passed`` or ``check: 1 of 2 nodes failed (jira-a: unauthorized x6)``."""
    names = [p.node.name for p in report.probes]
    found = report.rows()
    by_node: dict[str, Counter[str]] = {}
    for row in found:
        if row.error_type is not None:
            by_node.setdefault(row.node, Counter())[row.error_type] += 1
    if not by_node:
        return f"check: {len(names)} node{'' if len(names) == 1 else 's'}, every step passed"
    parts = [
        f"{node}: " + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
        for node, kinds in by_node.items()
    ]
    failing = sum(1 for name in names if name in by_node)
    return f"check: {failing} of {len(names)} node{'' if len(names) == 1 else 's'} failed ({'; '.join(parts)})"


def exit_code(report: Report) -> int:
    return 0 if report.ok else 1


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
        return [_failed("zabbix", "secret tls.psk", failure)]
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
