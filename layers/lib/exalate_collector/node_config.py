"""The configuration's values: every key declared once, as a field with its spec, default and doc.

``config.parse_config`` builds these from a mapping (``fields.read`` for the declared kinds, explicit
functions for the rules between keys); every other module reads them. Auth settings are the scheme's
own (``auth_schemes.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from .auth_base import AuthSettings
from .endpoints import Group
from .fields import Spec, setting

SendAs = Literal["bearer", "jwt", "x-exalate-jwt", "query"]
SEND_AS: tuple[SendAs, ...] = ("bearer", "jwt", "x-exalate-jwt", "query")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONCURRENCY = 8
DEFAULT_STUCK_AFTER_S = 1800.0
DEFAULT_LIFETIME_S = 180
#: Requests in flight at once in a whole run, all nodes together (one worker thread each).
DEFAULT_MAX_IN_FLIGHT = 64
#: ``relations: auto``: at most this many connections of a node are polled (``discover.max``).
DEFAULT_DISCOVER_MAX = 500


def _rule(doc: str) -> Spec:
    return Spec("rule", doc)


@dataclass(frozen=True)
class Discover:
    """``relations: auto``: poll every connection of the node's 4.0 list that passes these filters."""

    #: Connection statuses to poll (upper case); empty: any status.
    status: tuple[str, ...] = setting(_rule("statuses to poll ([] for any)"), ("ACTIVE",))
    #: A regular expression found in the connection name (anchor it with ^ and $); None: any name.
    name: str | None = setting(_rule("a regular expression searched in the name (^...$ to anchor)"))
    #: At most this many connections are polled: the first by name; the rest are reported left out.
    max: int = setting(
        Spec("int", "at most this many connections polled (the first by name)", lo=1, hi=100_000),
        DEFAULT_DISCOVER_MAX,
    )

    def accepts(self, name: str, status: str) -> bool:
        if self.status and status.upper() not in self.status:
            return False
        return self.name is None or re.search(self.name, name) is not None


@dataclass(frozen=True)
class NodeConfig:
    name: str = setting(Spec("rule", "the exalate.node attribute", required=True))
    base_url: str = setting(Spec("rule", "Jira base URL including its context path", required=True))
    relations: tuple[str, ...] = setting(
        Spec(
            "rule", "relation (connection) names, or auto; required unless collect leaves relations out", required=True
        )
    )
    auth: AuthSettings = setting(Spec("rule", "the credentials: `type` and its keys (below)", required=True))
    timeout_s: float = setting(
        Spec(
            "number",
            "per request, wall clock: connect, headers and the whole body",
            lo=0,
            hi=900,
            lo_open=True,
            unit="seconds",
        ),
        DEFAULT_TIMEOUT_S,
    )
    concurrency: int = setting(
        Spec("int", "requests in flight to this node at most", lo=1, hi=256), DEFAULT_CONCURRENCY
    )
    verify_tls: bool | str = setting(_rule("true, false, or the path of a CA bundle"), True)
    max_body_bytes: int = setting(
        Spec("int", "a larger answer is a too_large failure", lo=1024), DEFAULT_MAX_BODY_BYTES
    )
    stuck_after_s: float = setting(
        Spec("number", "items older than this count in exalate.queue.stuck", lo=0, lo_open=True, unit="seconds"),
        DEFAULT_STUCK_AFTER_S,
    )
    allow_insecure_http: bool = setting(
        Spec("bool", "plain http:// is refused (credentials in clear) unless true; loopback is exempt"), False
    )
    #: What to poll: ``relations`` (the 2.4 endpoints of each relation), ``queues``, ``errors`` and
    #: ``connections`` (the node's 4.0 totals, error count and connection list).
    collect: tuple[Group, ...] = setting(
        _rule("relations, and any of queues, errors, connections (the node-wide 4.0 figures)"), ("relations",)
    )
    #: Set for ``relations: auto`` (then ``relations`` is empty: the connection list decides each run).
    discover: Discover | None = setting(_rule("filters of relations: auto (status, name, max)"))
    #: The Zabbix host that receives this node's values (default: the node name).
    zabbix_host: str | None = setting(_rule("the Zabbix host of this node (null: the node name)"))
    #: The forward proxy for this node's requests (``http(s)://[user:password@]host:port``); ``"none"``:
    #: direct, whatever HTTPS_PROXY says; None: HTTPS_PROXY / HTTP_PROXY / NO_PROXY decide. Not in the
    #: repr: it may carry the proxy's password.
    proxy: str | None = setting(
        _rule("http(s)://[user:password@]host:port, or none; null: HTTPS_PROXY etc."), shown=False
    )

    @property
    def zabbix_host_name(self) -> str:
        return self.zabbix_host or self.name

    @property
    def context_path(self) -> str:
        """The Jira context path, e.g. ``/jira``; '' at the root."""
        return urlsplit(self.base_url).path.rstrip("/")


@dataclass(frozen=True)
class Limits:
    """Run-wide bounds (``limits:`` in the configuration), on top of each node's own."""

    #: Requests in flight at once over all nodes (one event loop: no thread per request).
    max_in_flight: int = setting(
        Spec("int", "requests in flight at once over all nodes", lo=1, hi=1024),
        DEFAULT_MAX_IN_FLIGHT,
    )
    #: Answers held in memory at once, all requests together; beyond, answers go to temporary files.
    #: None: a quarter of the Lambda's memory, or DEFAULT_MEMORY_BUDGET_MB outside Lambda.
    memory_budget_mb: int | None = setting(
        Spec(
            "int",
            "answers held in memory at once; null: a quarter of the Lambda's memory, else 256",
            lo=1,
            hi=65536,
            nullable=True,
        )
    )


@dataclass(frozen=True)
class ZabbixTls:
    """Certificates (ca_file, cert_file, key_file) or a pre-shared key (psk_identity, psk)."""

    ca_file: str | None = setting(_rule("CA certificate file"))
    cert_file: str | None = setting(_rule("client certificate file"))
    key_file: str | None = setting(_rule("client key file"))
    psk_identity: str | None = setting(_rule("PSK identity"))
    #: A secret *reference* to the PSK in hex, as Zabbix writes it (``${ENV}``, ``secretsmanager:``, ``ssm:``).
    psk: str | None = setting(_rule("a secret reference to the PSK in hex"))

    def __repr__(self) -> str:
        return f"ZabbixTls(ca_file={self.ca_file!r}, cert_file={self.cert_file!r}, psk={self.psk is not None})"


@dataclass(frozen=True)
class ZabbixConfig:
    """The Zabbix output: trapper values sent to a Zabbix server or proxy."""

    server: str = setting(Spec("rule", "a Zabbix server or proxy (host name or address)", required=True))
    port: int = setting(
        Spec("int", "its trapper port", lo=1, hi=65535, message="must be a TCP port (1-65535), got {value!r}"), 10051
    )
    timeout_s: float = setting(
        Spec("number", "connect + answer, per batch", lo=0, hi=300, lo_open=True, unit="seconds"), 10.0
    )
    tls: ZabbixTls | None = setting(_rule("certificates (ca_file, cert_file, key_file) or a PSK (psk_identity, psk)"))


@dataclass(frozen=True)
class Config:
    nodes: tuple[NodeConfig, ...]
    #: events.repeat: emit sync/blob error events in every run, not only when an error first appears.
    repeat_events: bool = False
    limits: Limits = field(default_factory=Limits)
    zabbix: ZabbixConfig | None = None
