"""The configuration: parsed and validated once, before any request.

``parse_config`` is pure (a mapping in, a ``Config`` out, or a ``ConfigError`` listing every problem,
each naming the node and the key). ``load_config`` is the I/O edge: a file path, or ``ssm:<name>``.
Each key is declared once, in ``node_config.py`` (the auth keys in their scheme's settings, registered
in ``auth_schemes.py``); ``fields.read`` checks the declared kinds, and the rules between keys are the
explicit functions here and in ``config_rules.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import fields
from .auth_base import AuthSettings
from .auth_schemes import SCHEMES, settings_for
from .config_rules import ZABBIX_HOST, proxy_problem, relations_problem, url_problem
from .config_zabbix import parse_zabbix
from .endpoints import GROUPS
from .errors import ConfigError
from .fields import Problems
from .node_config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DISCOVER_MAX,
    DEFAULT_LIFETIME_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_STUCK_AFTER_S,
    DEFAULT_TIMEOUT_S,
    SEND_AS,
    Config,
    Discover,
    Limits,
    NodeConfig,
    SendAs,
    ZabbixConfig,
    ZabbixTls,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DISCOVER_MAX",
    "DEFAULT_LIFETIME_S",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_STUCK_AFTER_S",
    "DEFAULT_TIMEOUT_S",
    "SEND_AS",
    "AuthConfig",
    "AuthSettings",
    "Config",
    "Discover",
    "Limits",
    "NodeConfig",
    "SendAs",
    "ZabbixConfig",
    "ZabbixTls",
    "load_config",
    "parse_config",
    "parse_text",
    "unset_environment_secrets",
]

_TOP_KEYS = ("nodes", "events", "limits", "zabbix")


def AuthConfig(type: str = "jwt", **values: Any) -> AuthSettings:  # noqa: N802, A002 - the former class's name
    """A scheme's settings (``auth_schemes.settings_for``), as ``AuthConfig(type="token", token=...)``."""
    return settings_for(type, **values)


def parse_config(raw: object) -> Config:
    """Validate a configuration mapping. Raises ConfigError naming every bad node and key."""
    problems = Problems()
    if not isinstance(raw, Mapping):
        raise ConfigError([f"configuration: expected a mapping with a 'nodes' list, got {type(raw).__name__}"])
    for key in sorted(set(map(str, raw)) - set(_TOP_KEYS)):
        problems.add("configuration", key, "unknown key")
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
        for key in sorted(set(map(str, events)) - {"repeat"}):
            problems.add("configuration", f"events.{key}", "unknown key")
        repeat = events.get("repeat", False)
        if not isinstance(repeat, bool):
            problems.add("configuration", "events.repeat", "must be true or false")
    limits = _parse_limits(raw.get("limits", {}), problems)
    zabbix = parse_zabbix(raw.get("zabbix"), problems)
    if zabbix is not None:
        for index, node in enumerate(nodes):
            if node.zabbix_host is None and not ZABBIX_HOST.match(node.name):
                problems.add(
                    f"nodes[{index}] ({node.name})",
                    "zabbix_host",
                    "the node name is not a valid Zabbix host name: set zabbix_host (letters, digits, ' .-_')",
                )
    if problems.items:
        raise ConfigError(problems.items)
    return Config(nodes=tuple(nodes), repeat_events=bool(repeat), limits=limits, zabbix=zabbix)


def _parse_limits(raw: object, problems: Problems) -> Limits:
    limits = fields.section(
        Limits, raw, "configuration", "limits", problems, "must be a mapping such as {max_in_flight: 64}"
    )
    if limits is None:
        return Limits()
    return Limits(**fields.read(Limits, limits, "configuration", "limits.", problems))


def _parse_node(index: int, raw: object, problems: Problems) -> NodeConfig | None:
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
    fields.unknown(NodeConfig, raw, where, "", problems)
    values = fields.read(NodeConfig, raw, where, "", problems)  # the declared kinds; the rules follow

    base_url = raw.get("base_url")
    url = url_problem(base_url, values["allow_insecure_http"])
    if url:
        problems.add(where, "base_url", url)

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
    elif (relations_wrong := relations_problem(relations)) is not None:
        problems.add(where, "relations", relations_wrong)

    verify_tls = raw.get("verify_tls", True)
    if not isinstance(verify_tls, bool | str) or verify_tls == "":
        problems.add(where, "verify_tls", "must be true, false or the path of a CA bundle")
        verify_tls = True
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
    if zabbix_host is not None and (not isinstance(zabbix_host, str) or not ZABBIX_HOST.match(zabbix_host)):
        problems.add(where, "zabbix_host", "must be a Zabbix host name: letters, digits, spaces, '.', '-', '_'")
        zabbix_host = None
    proxy = raw.get("proxy")
    proxy_wrong = proxy_problem(proxy)
    if proxy_wrong:
        problems.add(where, "proxy", proxy_wrong)
        proxy = None

    auth = _parse_auth(where, raw.get("auth"), problems)
    if auth is None:
        return None
    return NodeConfig(
        name=str(name),
        base_url=str(base_url).rstrip("/") if isinstance(base_url, str) else "",
        relations=tuple(str(r) for r in relations),
        auth=auth,
        verify_tls=verify_tls,
        collect=tuple(g for g in GROUPS if g in collect),
        discover=discover,
        zabbix_host=zabbix_host,
        proxy=proxy,
        **values,
    )


def _parse_discover(where: str, raw: Mapping[str, Any], problems: Problems) -> Discover | None:
    """The discovery filters when ``relations: auto``, else None."""
    if raw.get("relations") != "auto":
        return None
    message = "must be a mapping such as {status: [ACTIVE], name: '^Prod'}"
    spec = fields.section(Discover, raw.get("discover", {}), where, "discover", problems, message)
    if spec is None:
        return Discover()
    values = fields.read(Discover, spec, where, "discover.", problems)
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
    return Discover(status=tuple(s.strip().upper() for s in status), name=name, **values)


def _parse_auth(where: str, raw: object, problems: Problems) -> AuthSettings | None:
    """``auth:`` by its scheme's settings: the keys it declares, their specs, then the scheme's rules."""
    if not isinstance(raw, Mapping):
        problems.add(where, "auth", "required: a mapping with at least 'type' and its credential")
        return None
    kind = raw.get("type", "jwt")
    scheme = SCHEMES.get(kind) if isinstance(kind, str) else None
    if scheme is None:
        problems.add(where, "auth.type", f"{kind!r} is not one of {', '.join(SCHEMES)}")
        return None
    settings = scheme.settings
    fields.unknown(
        settings, raw, where, "auth.", problems, extra=("type",), message=f"unknown key for auth type {kind}"
    )
    values = fields.read(settings, raw, where, "auth.", problems)
    wrong = settings.problems(raw)
    for key, message in wrong:
        problems.add(where, f"auth.{key}", message)
    for key, (spec, default) in fields.specs(settings).items():
        if spec.kind == "rule":  # as given unless the scheme's rules found it wrong
            given = raw.get(key)
            values[key] = default if given is None or any(k == key for k, _ in wrong) else given
    return settings(**values)


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
        for key, ref in node.auth.reference_keys.items():
            var = environment_variable(ref)
            if var is not None and not env.get(var):
                problems.append(
                    f"nodes[{index}] ({node.name}): auth.{key}: environment variable {var} is not set or empty;"
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
