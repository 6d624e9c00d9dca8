"""The configuration: parsed and validated once, before any request.

``parse_config`` is pure (a mapping in, a ``Config`` out, or a ``ConfigError`` listing every problem,
each naming the node and the key). ``load_config`` is the I/O edge: a file path, or ``ssm:<name>``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .endpoints import GROUPS, Group
from .errors import ConfigError
from .text import control_character

AuthType = Literal["jwt", "token", "basic", "login"]
SendAs = Literal["bearer", "jwt", "x-exalate-jwt", "query"]

SEND_AS: tuple[SendAs, ...] = ("bearer", "jwt", "x-exalate-jwt", "query")
AUTH_TYPES: tuple[AuthType, ...] = ("jwt", "token", "basic", "login")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# Each default is written here once; the dataclasses and the parser take it from here.
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONCURRENCY = 8
DEFAULT_STUCK_AFTER_S = 1800.0
DEFAULT_LIFETIME_S = 180
#: Requests in flight at once in a whole run, all nodes together (one worker thread each).
DEFAULT_MAX_IN_FLIGHT = 64
#: ``relations: auto``: at most this many connections of a node are polled (``discover.max``).
DEFAULT_DISCOVER_MAX = 500

_NODE_KEYS = {
    "name",
    "base_url",
    "relations",
    "timeout_s",
    "concurrency",
    "verify_tls",
    "auth",
    "max_body_bytes",
    "stuck_after_s",
    "allow_insecure_http",
    "collect",
    "discover",
    "zabbix_host",
    "proxy",
}
_AUTH_KEYS: dict[str, set[str]] = {
    "jwt": {"type", "secret", "issuer", "subject", "audience", "claims", "lifetime_s", "exp_unit", "qsh", "send_as"},
    "token": {"type", "token", "send_as"},
    "basic": {"type", "username", "password"},
    "login": {"type", "username", "password"},
}
_TOP_KEYS = {"nodes", "events", "limits", "zabbix"}
_LIMIT_KEYS = {"max_in_flight", "memory_budget_mb"}
_ZABBIX_KEYS = {"server", "port", "timeout_s", "tls"}
_ZABBIX_TLS_KEYS = {"ca_file", "cert_file", "key_file", "psk_identity", "psk"}
_RESERVED_CLAIMS = {"iat", "exp", "qsh"}
#: Zabbix host (technical) names: alphanumerics, spaces, dots, dashes and underscores.
_ZABBIX_HOST = re.compile(r"^[0-9A-Za-z_. -]{1,128}$")


@dataclass(frozen=True)
class AuthConfig:
    type: AuthType = "jwt"
    #: A secret *reference* (``${ENV}``, ``secretsmanager:...``, ``ssm:...``) or a literal; never logged.
    secret: str | None = None
    issuer: str = "exalate-collector"
    subject: str | None = None
    audience: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    lifetime_s: int = DEFAULT_LIFETIME_S
    exp_unit: Literal["s", "ms"] = "s"
    qsh: bool = False
    send_as: SendAs = "bearer"
    token: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never show secrets, even by accident in a traceback
        return f"AuthConfig(type={self.type!r}, send_as={self.send_as!r})"

    @property
    def references(self) -> tuple[str, ...]:
        """Every secret reference of this configuration (to warn about literals, to forget after a 401)."""
        return tuple(ref for ref in (self.secret, self.token, self.username, self.password) if ref)


@dataclass(frozen=True)
class Discover:
    """``relations: auto``: poll every connection of the node's 4.0 list that passes these filters."""

    #: Connection statuses to poll (upper case); empty: any status.
    status: tuple[str, ...] = ("ACTIVE",)
    #: A regular expression found in the connection name (anchor it with ^ and $); None: any name.
    name: str | None = None
    #: At most this many connections are polled: the first by name; the rest are reported left out.
    max: int = DEFAULT_DISCOVER_MAX

    def accepts(self, name: str, status: str) -> bool:
        if self.status and status.upper() not in self.status:
            return False
        return self.name is None or re.search(self.name, name) is not None


@dataclass(frozen=True)
class NodeConfig:
    name: str
    base_url: str
    relations: tuple[str, ...]
    auth: AuthConfig
    timeout_s: float = DEFAULT_TIMEOUT_S
    concurrency: int = DEFAULT_CONCURRENCY
    verify_tls: bool | str = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    stuck_after_s: float = DEFAULT_STUCK_AFTER_S
    allow_insecure_http: bool = False
    #: What to poll: ``relations`` (the 2.4 endpoints of each relation), ``queues``, ``errors`` and
    #: ``connections`` (the node's 4.0 totals, error count and connection list).
    collect: tuple[Group, ...] = ("relations",)
    #: Set for ``relations: auto`` (then ``relations`` is empty: the connection list decides each run).
    discover: Discover | None = None
    #: The Zabbix host that receives this node's values (default: the node name).
    zabbix_host: str | None = None
    #: The forward proxy for this node's requests (``http(s)://[user:password@]host:port``); ``"none"``:
    #: direct, whatever HTTPS_PROXY says; None: HTTPS_PROXY / HTTP_PROXY / NO_PROXY decide.
    proxy: str | None = None

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

    #: Requests in flight at once over all nodes; the number of polling threads never exceeds it.
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    #: Answers held in memory at once, all requests together; beyond, answers go to temporary files.
    #: None: a quarter of the Lambda's memory, or DEFAULT_MEMORY_BUDGET_MB outside Lambda.
    memory_budget_mb: int | None = None


@dataclass(frozen=True)
class ZabbixTls:
    """Certificates (ca_file, cert_file, key_file) or a pre-shared key (psk_identity, psk)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    psk_identity: str | None = None
    #: A secret *reference* to the PSK in hex, as Zabbix writes it (``${ENV}``, ``secretsmanager:``, ``ssm:``).
    psk: str | None = None

    def __repr__(self) -> str:
        return f"ZabbixTls(ca_file={self.ca_file!r}, cert_file={self.cert_file!r}, psk={self.psk is not None})"


@dataclass(frozen=True)
class ZabbixConfig:
    """The Zabbix output: trapper values sent to a Zabbix server or proxy."""

    server: str
    port: int = 10051
    timeout_s: float = 10.0
    tls: ZabbixTls | None = None


@dataclass(frozen=True)
class Config:
    nodes: tuple[NodeConfig, ...]
    #: events.repeat: emit sync/blob error events in every run, not only when an error first appears.
    repeat_events: bool = False
    limits: Limits = field(default_factory=Limits)
    zabbix: ZabbixConfig | None = None


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, key: str, message: str) -> None:
        self.items.append(f"{where}: {key}: {message}")


def parse_config(raw: object) -> Config:
    """Validate a configuration mapping. Raises ConfigError naming every bad node and key."""
    problems = _Problems()
    if not isinstance(raw, Mapping):
        raise ConfigError([f"configuration: expected a mapping with a 'nodes' list, got {type(raw).__name__}"])
    for key in sorted(set(raw) - _TOP_KEYS):
        problems.add("configuration", str(key), "unknown key")
    raw_nodes = raw.get("nodes")
    nodes: list[NodeConfig] = []
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.add("configuration", "nodes", "required: a non-empty list of nodes")
    else:
        seen: set[str] = set()
        for index, raw_node in enumerate(raw_nodes):
            node = _parse_node(index, raw_node, problems)
            if node is None:
                continue
            if node.name in seen:
                problems.add(f"nodes[{index}] ({node.name})", "name", "duplicate node name")
            seen.add(node.name)
            nodes.append(node)
    repeat = False
    events = raw.get("events", {})
    if not isinstance(events, Mapping):
        problems.add("configuration", "events", "must be a mapping such as {repeat: false}")
    else:
        for key in sorted(set(events) - {"repeat"}):
            problems.add("configuration", f"events.{key}", "unknown key")
        repeat = events.get("repeat", False)
        if not isinstance(repeat, bool):
            problems.add("configuration", "events.repeat", "must be true or false")
    limits = _parse_limits(raw.get("limits", {}), problems)
    zabbix = _parse_zabbix(raw.get("zabbix"), problems)
    if zabbix is not None:
        for index, node in enumerate(nodes):
            if node.zabbix_host is None and not _ZABBIX_HOST.match(node.name):
                problems.add(
                    f"nodes[{index}] ({node.name})",
                    "zabbix_host",
                    "the node name is not a valid Zabbix host name: set zabbix_host (letters, digits, ' .-_')",
                )
    if problems.items:
        raise ConfigError(problems.items)
    return Config(nodes=tuple(nodes), repeat_events=bool(repeat), limits=limits, zabbix=zabbix)


def _parse_limits(raw: object, problems: _Problems) -> Limits:
    if not isinstance(raw, Mapping):
        problems.add("configuration", "limits", "must be a mapping such as {max_in_flight: 64}")
        return Limits()
    for key in sorted(set(raw) - _LIMIT_KEYS):
        problems.add("configuration", f"limits.{key}", "unknown key")
    in_flight = raw.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    if not _is_int(in_flight) or not 1 <= in_flight <= 1024:
        problems.add("configuration", "limits.max_in_flight", f"must be an integer from 1 to 1024, got {in_flight!r}")
        in_flight = DEFAULT_MAX_IN_FLIGHT
    memory = raw.get("memory_budget_mb")
    if memory is not None and (not _is_int(memory) or not 1 <= memory <= 65536):
        problems.add("configuration", "limits.memory_budget_mb", f"must be an integer from 1 to 65536, got {memory!r}")
        memory = None
    return Limits(max_in_flight=int(in_flight), memory_budget_mb=memory)


def _parse_zabbix(raw: object, problems: _Problems) -> ZabbixConfig | None:
    if raw is None:
        return None
    where = "zabbix"
    if not isinstance(raw, Mapping):
        problems.add("configuration", where, "must be a mapping such as {server: zabbix.example.com}")
        return None
    for key in sorted(set(raw) - _ZABBIX_KEYS):
        problems.add("configuration", f"zabbix.{key}", "unknown key")
    server = raw.get("server")
    if not isinstance(server, str) or not server.strip() or "/" in server:
        problems.add("configuration", "zabbix.server", "required: the host name or address of a Zabbix server or proxy")
    port = raw.get("port", 10051)
    if not _is_int(port) or not 1 <= port <= 65535:
        problems.add("configuration", "zabbix.port", f"must be a TCP port (1-65535), got {port!r}")
    timeout_s = raw.get("timeout_s", 10)
    if not _is_number(timeout_s) or not 0 < timeout_s <= 300:
        problems.add("configuration", "zabbix.timeout_s", f"must be a number of seconds in (0, 300], got {timeout_s!r}")
    tls = _parse_zabbix_tls(raw.get("tls"), problems)
    if not isinstance(server, str) or not _is_int(port) or not _is_number(timeout_s):
        return None
    return ZabbixConfig(server=server.strip(), port=int(port), timeout_s=float(timeout_s), tls=tls)


def _parse_zabbix_tls(raw: object, problems: _Problems) -> ZabbixTls | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add("configuration", "zabbix.tls", "must be a mapping: {ca_file, cert_file, key_file} or a PSK")
        return None
    for key in sorted(set(raw) - _ZABBIX_TLS_KEYS):
        problems.add("configuration", f"zabbix.tls.{key}", "unknown key")
    values: dict[str, str] = {}
    for key in sorted(_ZABBIX_TLS_KEYS & set(raw)):
        value = raw[key]
        if not isinstance(value, str) or not value:
            problems.add("configuration", f"zabbix.tls.{key}", "must be a non-empty string")
        else:
            values[key] = value
    certificate = {"ca_file", "cert_file", "key_file"} & set(values)
    psk = {"psk_identity", "psk"} & set(values)
    if certificate and psk:
        problems.add("configuration", "zabbix.tls", "either certificates (ca_file, cert_file, key_file) or a PSK")
    elif certificate and certificate != {"ca_file", "cert_file", "key_file"}:
        missing = ", ".join(sorted({"ca_file", "cert_file", "key_file"} - certificate))
        problems.add("configuration", "zabbix.tls", f"certificates need all three files; missing {missing}")
    elif psk and psk != {"psk_identity", "psk"}:
        problems.add("configuration", "zabbix.tls", "PSK needs both psk_identity and psk")
    elif not certificate and not psk:
        problems.add("configuration", "zabbix.tls", "give ca_file, cert_file and key_file, or psk_identity and psk")
    return ZabbixTls(**values)


def _parse_node(index: int, raw: object, problems: _Problems) -> NodeConfig | None:
    where = f"nodes[{index}]"
    if not isinstance(raw, Mapping):
        problems.add(where, "(node)", f"expected a mapping, got {type(raw).__name__}")
        return None
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where} ({name})"
    else:
        problems.add(where, "name", "required: a non-empty string")
        name = f"#{index}"
    for key in sorted(set(raw) - _NODE_KEYS):
        problems.add(where, str(key), "unknown key")

    base_url = raw.get("base_url")
    allow_insecure = raw.get("allow_insecure_http", False)
    if not isinstance(allow_insecure, bool):
        problems.add(where, "allow_insecure_http", "must be true or false")
        allow_insecure = False
    url_problem = _url_problem(base_url, allow_insecure)
    if url_problem:
        problems.add(where, "base_url", url_problem)

    relations = raw.get("relations")
    discover = _parse_discover(where, raw, problems)
    raw_collect = raw.get("collect", ["relations"])
    polls_relations = not isinstance(raw_collect, list) or "relations" in raw_collect
    if relations == "auto":
        relations = []
    elif "discover" in raw:
        problems.add(where, "discover", "only with relations: auto")
    if relations is None and not polls_relations:
        relations = []  # a node polled only for its 4.0 figures names no relation
    elif not isinstance(relations, list) or (discover is None and not relations and polls_relations):
        problems.add(where, "relations", "required: a non-empty list of relation (connection) names, or auto")
        relations = []
    elif not all(isinstance(r, str) and r.strip() for r in relations):
        problems.add(where, "relations", "every relation must be a non-empty string")
    elif any(r.strip() in (".", "..") for r in relations):
        problems.add(where, "relations", "'.' and '..' are not relation names (they would leave /relations/)")
    elif "auto" in relations:
        problems.add(
            where,
            "relations",
            "auto stands alone: relations: auto polls every connection the node lists (discover: filters them); "
            "a list names the connections to poll",
        )
    elif len(set(relations)) != len(relations):
        problems.add(where, "relations", "duplicate relation names")

    timeout_s = raw.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not _is_number(timeout_s) or not 0 < timeout_s <= 900:
        problems.add(where, "timeout_s", f"must be a number of seconds in (0, 900], got {timeout_s!r}")
    concurrency = raw.get("concurrency", DEFAULT_CONCURRENCY)
    if not _is_int(concurrency) or not 1 <= concurrency <= 256:
        problems.add(where, "concurrency", f"must be an integer from 1 to 256, got {concurrency!r}")
    verify_tls = raw.get("verify_tls", True)
    if not isinstance(verify_tls, bool | str) or verify_tls == "":
        problems.add(where, "verify_tls", "must be true, false or the path of a CA bundle")
    stuck_after = raw.get("stuck_after_s", DEFAULT_STUCK_AFTER_S)
    if not _is_number(stuck_after) or stuck_after <= 0:
        problems.add(where, "stuck_after_s", f"must be a positive number of seconds, got {stuck_after!r}")
    max_body = raw.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if not _is_int(max_body) or max_body < 1024:
        problems.add(where, "max_body_bytes", f"must be an integer of at least 1024, got {max_body!r}")

    collect = raw.get("collect", ["relations"])
    if not isinstance(collect, list) or not collect or not all(c in GROUPS for c in collect):
        problems.add(where, "collect", f"must be a non-empty list of {', '.join(GROUPS)}, got {collect!r}")
        collect = ["relations"]
    elif "relations" not in collect and discover is not None:
        problems.add(where, "collect", "relations: auto needs relations in collect")
    elif "relations" not in collect and relations:
        problems.add(
            where,
            "collect",
            "relations are listed but collect has no relations, so they would never be polled: "
            "add relations to collect (or remove the list)",
        )
    zabbix_host = raw.get("zabbix_host")
    if zabbix_host is not None and (not isinstance(zabbix_host, str) or not _ZABBIX_HOST.match(zabbix_host)):
        problems.add(where, "zabbix_host", "must be a Zabbix host name: letters, digits, spaces, '.', '-', '_'")
        zabbix_host = None

    proxy = raw.get("proxy")
    proxy_problem = _proxy_problem(proxy)
    if proxy_problem:
        problems.add(where, "proxy", proxy_problem)
        proxy = None

    auth = _parse_auth(where, raw.get("auth"), problems)
    if auth is None:
        return None
    return NodeConfig(
        name=str(name),
        base_url=str(base_url).rstrip("/") if isinstance(base_url, str) else "",
        relations=tuple(str(r) for r in relations),
        auth=auth,
        timeout_s=float(timeout_s) if _is_number(timeout_s) else DEFAULT_TIMEOUT_S,
        concurrency=int(concurrency) if _is_int(concurrency) else DEFAULT_CONCURRENCY,
        verify_tls=verify_tls if isinstance(verify_tls, bool | str) else True,
        max_body_bytes=int(max_body) if _is_int(max_body) else DEFAULT_MAX_BODY_BYTES,
        stuck_after_s=float(stuck_after) if _is_number(stuck_after) else DEFAULT_STUCK_AFTER_S,
        allow_insecure_http=allow_insecure,
        collect=tuple(g for g in GROUPS if g in collect),
        discover=discover,
        zabbix_host=zabbix_host,
        proxy=proxy,
    )


def _proxy_problem(proxy: object) -> str | None:
    """Why ``proxy`` cannot be used, or None. Never quotes it: it may hold a password."""
    if proxy is None or proxy == "none":
        return None
    example = "an http(s) URL such as http://proxy.example.com:3128, or none"
    if not isinstance(proxy, str):
        return f"must be {example}"
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"not a valid URL ({exc}); expected {example}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be {example}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be a scheme, host and port only (and credentials if the proxy needs them)"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in proxy):
        return "must not contain whitespace or control characters"
    return None


def _parse_discover(where: str, raw: Mapping[str, Any], problems: _Problems) -> Discover | None:
    """The discovery filters when ``relations: auto``, else None."""
    if raw.get("relations") != "auto":
        return None
    spec = raw.get("discover", {})
    if not isinstance(spec, Mapping):
        problems.add(where, "discover", "must be a mapping such as {status: [ACTIVE], name: '^Prod'}")
        return Discover()
    for key in sorted(set(spec) - {"status", "name", "max"}):
        problems.add(where, f"discover.{key}", "unknown key")
    most = spec.get("max", DEFAULT_DISCOVER_MAX)
    if not _is_int(most) or not 1 <= most <= 100_000:
        problems.add(where, "discover.max", f"must be an integer from 1 to 100000, got {most!r}")
        most = DEFAULT_DISCOVER_MAX
    status = spec.get("status", ["ACTIVE"])
    if not isinstance(status, list) or not all(isinstance(s, str) and s.strip() for s in status):
        problems.add(where, "discover.status", "must be a list of statuses such as [ACTIVE] ([] for any)")
        status = ["ACTIVE"]
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        problems.add(where, "discover.name", "must be a regular expression (a string)")
        name = None
    if name is not None:
        try:
            re.compile(name)
        except re.error as exc:
            problems.add(where, "discover.name", f"not a regular expression: {exc}")
            name = None
    return Discover(status=tuple(s.strip().upper() for s in status), name=name, max=int(most))


def _parse_auth(where: str, raw: object, problems: _Problems) -> AuthConfig | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "auth", "required: a mapping with at least 'type' and its credential")
        return None
    kind = raw.get("type", "jwt")
    if kind not in AUTH_TYPES:
        problems.add(where, "auth.type", f"{kind!r} is not one of {', '.join(AUTH_TYPES)}")
        return None
    for key in sorted(set(raw) - _AUTH_KEYS[kind]):
        problems.add(where, f"auth.{key}", f"unknown key for auth type {kind}")

    def text(key: str, required: bool) -> str | None:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            problems.add(where, f"auth.{key}", "required: a non-empty string" if required else "must be a string")
            return None
        bad = control_character(value.removesuffix("\n").removesuffix("\r"))
        if bad is not None:  # the value itself is never shown
            problems.add(where, f"auth.{key}", f"holds a control character ({bad}); a credential is one line of text")
            return None
        return value

    send_as = raw.get("send_as", "bearer")
    if kind in ("jwt", "token") and send_as not in SEND_AS:
        problems.add(where, "auth.send_as", f"{send_as!r} is not one of {', '.join(SEND_AS)}")
        send_as = "bearer"
    if kind == "token":
        return AuthConfig(type="token", token=text("token", True), send_as=send_as)
    if kind == "basic":
        return AuthConfig(type="basic", username=text("username", True), password=text("password", True))
    if kind == "login":
        username = raw.get("username", "")
        if not isinstance(username, str):
            problems.add(where, "auth.username", "must be a string ('' with a personal access token)")
            username = ""
        return AuthConfig(type="login", username=username, password=text("password", True))

    claims = raw.get("claims")
    claims = {} if claims is None else claims
    if not isinstance(claims, Mapping):
        problems.add(where, "auth.claims", "must be a mapping of extra claims")
        claims = {}
    elif not _all_finite(claims):
        problems.add(where, "auth.claims", "numbers must be finite (no .nan or .inf)")
    for reserved in sorted(_RESERVED_CLAIMS & set(claims)):
        problems.add(where, f"auth.claims.{reserved}", "is set by the collector; remove it")
    lifetime = raw.get("lifetime_s", DEFAULT_LIFETIME_S)
    if not _is_int(lifetime) or not 10 <= lifetime <= 86400:
        problems.add(where, "auth.lifetime_s", f"must be an integer from 10 to 86400, got {lifetime!r}")
        lifetime = DEFAULT_LIFETIME_S
    exp_unit = raw.get("exp_unit", "s")
    if exp_unit not in ("s", "ms"):
        problems.add(where, "auth.exp_unit", f"{exp_unit!r} is not one of s, ms")
        exp_unit = "s"
    qsh = raw.get("qsh", False)
    if not isinstance(qsh, bool):
        problems.add(where, "auth.qsh", "must be true or false")
        qsh = False
    return AuthConfig(
        type="jwt",
        secret=text("secret", True),
        issuer=text("issuer", False) or "exalate-collector",
        subject=text("subject", False),
        audience=text("audience", False),
        claims=dict(claims),
        lifetime_s=int(lifetime),
        exp_unit=exp_unit,
        qsh=qsh,
        send_as=send_as,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """An int or a finite float: NaN and the infinities are not numbers a setting can take."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(v) for v in value)
    return True


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _url_problem(base_url: object, allow_insecure_http: bool) -> str | None:
    """Why ``base_url`` cannot be used, or None. Never quotes the URL: it might hold a password."""
    example = "an http(s) URL such as https://jira.example.com/jira"
    if not isinstance(base_url, str) or not base_url:
        return f"required: {example}"
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"not a valid URL ({exc}); expected {example}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"required: {example}"
    if parts.username is not None or parts.password is not None:
        return (
            "must not carry credentials (user:password@host); they would show in every URL the collector "
            "reports. Use auth: {type: basic, username: ..., password: ...} with a secret reference"
        )
    if parts.query or parts.fragment:
        return "must not carry a query string or fragment"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in base_url):
        return "must not contain whitespace or control characters"
    if parts.scheme == "http" and not allow_insecure_http and parts.hostname.lower() not in _LOOPBACK:
        return (
            "plain http sends the node's credentials unencrypted; use https, or set allow_insecure_http: true "
            "on this node if the network path is trusted"
        )
    return None


def parse_text(text: str, source: str) -> object:
    """JSON or YAML text to a Python value; a syntax error names the source, the line and the column."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError([f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from None
    import yaml  # only configuration needs it; keeps it off the import path of everything else

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: {_yaml_problem(exc)}"]) from None


def _yaml_problem(exc: Exception) -> str:
    """``invalid YAML at line 3 column 5: expected ',' or ']' (while parsing a flow sequence)``: 1-based."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    return f"invalid YAML{where}: {problem}" + (f" ({context})" if context else "")


def unset_environment_secrets(config: Config, env: Mapping[str, str]) -> list[str]:
    """Every ``${VAR}`` credential whose variable is unset or empty, naming the node and the key.

    The CLI refuses to start with such a configuration (a typo in a variable name is a configuration
    error). In Lambda the node is reported as ``secret_unavailable`` instead, and the others still run.
    """
    from .secret_refs import environment_variable

    problems = []
    for index, node in enumerate(config.nodes):
        refs = {"auth.secret": node.auth.secret, "auth.token": node.auth.token}
        refs |= {"auth.username": node.auth.username, "auth.password": node.auth.password}
        for key, ref in refs.items():
            var = environment_variable(ref or "")
            if var is not None and not env.get(var):
                problems.append(
                    f"nodes[{index}] ({node.name}): {key}: environment variable {var} is not set or empty;"
                    f" export it, or correct the name in ${{{var}}}"
                )
    return problems


def load_config(ref: str | None, *, read_parameter: Callable[[str], str] | None = None) -> Config:
    """Read and validate the configuration from ``ref`` (``--config``, else Settings.config_ref).

    ``ref`` is a file path, or ``ssm:<parameter name>`` (read through ``read_parameter``).
    """
    if not ref:
        raise ConfigError(["configuration: no --config given and EXALATE_COLLECTOR_CONFIG is not set"])
    if ref.startswith("ssm:"):
        if read_parameter is None:
            from .secret_refs import read_ssm_parameter

            read_parameter = read_ssm_parameter
        try:
            text = read_parameter(ref[4:])
        except Exception as exc:  # noqa: BLE001 - any AWS failure becomes a configuration error
            raise ConfigError([f"{ref}: cannot read the parameter: {type(exc).__name__}: {exc}"]) from None
    else:
        try:
            text = Path(ref).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{ref}: cannot read: {exc.strerror or exc}"]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError([f"{ref}: not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    raw = parse_text(text, ref)
    if raw is None:  # an empty file, or only comments
        raise ConfigError([f"{ref}: the configuration file is empty; it needs at least a 'nodes' list"])
    config = parse_config(raw)
    for index, node in enumerate(config.nodes):
        if isinstance(node.verify_tls, str) and not Path(node.verify_tls).is_file():
            raise ConfigError([f"nodes[{index}] ({node.name}): verify_tls: no CA bundle at {node.verify_tls}"])
    tls = config.zabbix.tls if config.zabbix else None
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(tls, key, None)
        if path and not Path(path).is_file():
            raise ConfigError([f"configuration: zabbix.tls.{key}: no file at {path}"])
    return config
