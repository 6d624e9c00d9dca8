"""The step table of ``exalate-collector check``, pure: what was tried of one node (``Probe``, filled by the
probes of check.py) becomes its rows (``rows``), one ``Row`` per step in order: secret, dns, connect, tls,
login, discovery, then one GET per endpoint; a step after a failed one is skipped, each failure carries its
``error.type`` and its fix hint (check_hints). ``transport_step`` says whether a first request that got no
answer failed at connect or at TLS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import errors, secret_refs
from .check_hints import hint
from .config import NodeConfig
from .model import Discovery, Exchange
from .text import printable


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


def failed_row(node: str, step: str, failure: errors.ReportedFailure) -> Row:
    """A failed step's row: its error.type (and HTTP status), its fix hint, its detail made printable."""
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
        out.append(failed_row(name, "secret", probe.secret))
        blocked = "no secret"
    else:
        out.append(Row(name, "secret", _secret_note(node)))

    if blocked:
        skip("dns")
    elif probe.dns is not None:
        out.append(failed_row(name, "dns", probe.dns))
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
        out.append(failed_row(name, "connect", probe.unreached))
        blocked = "no connection"
    else:
        out.append(Row(name, "connect", f"ok: through the proxy {probe.proxy}" if probe.proxy else "ok"))

    if urlsplit(node.base_url).scheme != "https":
        out.append(Row(name, "tls", "n/a (http)"))
    elif blocked:
        skip("tls")
    elif first == "tls" and probe.unreached is not None:
        out.append(failed_row(name, "tls", probe.unreached))
        blocked = "no TLS"
    else:
        verified = "not verified (verify_tls: false)" if node.verify_tls is False else "verified"
        out.append(Row(name, "tls", f"ok: certificate {verified}"))

    if node.auth.type != "login":
        out.append(Row(name, "login", f"n/a (auth type {node.auth.type})"))
    elif blocked:
        skip("login")
    elif probe.login is not None:
        out.append(failed_row(name, "login", probe.login))
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
        out.append(failed_row(name, "discovery", failure or errors.InternalError("the connection list was not read")))
        no_relation = "the connection list could not be read"
    else:
        listed = probe.listing.reading.items if probe.listing.reading else 0
        found = probe.discovery.relations if probe.discovery else ()
        if probe.discovery is not None and probe.discovery.failure is not None:
            out.append(failed_row(name, "discovery", probe.discovery.failure))
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
            out.append(failed_row(name, _get_step(ex), ex.failure))
        else:
            items = ex.reading.items if ex.reading else 0
            out.append(Row(name, _get_step(ex), f"ok: {items} item{'' if items == 1 else 's'}"))
    if probe.relation is None and "relations" in node.collect:
        out.append(Row(name, "GET relation endpoints", f"skipped ({no_relation})"))
    return out
