"""The configuration's rules that are more than one key's kind and bounds: URLs, proxies, relations.

Each returns why a value cannot be used, or None; none ever quotes a URL (it may hold a password).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from .text import is_name_text

#: Zabbix host (technical) names: alphanumerics, spaces, dots, dashes and underscores.
ZABBIX_HOST = re.compile(r"^[0-9A-Za-z_. -]{1,128}$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _split(url: str, example: str) -> tuple[SplitResult | None, str | None]:
    """The parts of an http(s) URL with a host, or why it is not one (None for a scheme or host missing)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:  # its words may quote the URL: a password, read as the port
        return None, f"not a valid URL (its port or address does not parse); expected {example}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, None
    return parts, None


def _controls(url: str) -> bool:
    return any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)


def url_problem(base_url: object, allow_insecure_http: bool) -> str | None:
    """Why ``base_url`` cannot be used, or None."""
    example = "an http(s) URL such as https://jira.example.com/jira"
    if not isinstance(base_url, str) or not base_url:
        return f"required: {example}"
    parts, invalid = _split(base_url, example)
    if parts is None or parts.hostname is None:
        return invalid or f"required: {example}"
    if parts.username is not None or parts.password is not None:
        return (
            "must not carry credentials (user:password@host); they would show in every URL the collector "
            "reports. Use auth: {type: basic, username: ..., password: ...} with a secret reference"
        )
    if parts.query or parts.fragment:
        return "must not carry a query string or fragment"
    if _controls(base_url):
        return "must not contain whitespace or control characters"
    if parts.scheme == "http" and not allow_insecure_http and parts.hostname.lower() not in _LOOPBACK:
        return (
            "plain http sends the node's credentials unencrypted; use https, or set allow_insecure_http: true "
            "on this node if the network path is trusted"
        )
    return None


def proxy_problem(proxy: object) -> str | None:
    """Why ``proxy`` cannot be used, or None."""
    if proxy is None or proxy == "none":
        return None
    example = "an http(s) URL such as http://proxy.example.com:3128, or none"
    if not isinstance(proxy, str):
        return f"must be {example}"
    parts, invalid = _split(proxy, example)
    if parts is None:
        return invalid or f"must be {example}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be a scheme, host and port only (and credentials if the proxy needs them)"
    if _controls(proxy):
        return "must not contain whitespace or control characters"
    return None


def relations_problem(relations: object) -> str | None:
    """Why a list of relation names cannot be polled, or None (``relations: auto`` is the caller's)."""
    if not isinstance(relations, list):
        return None
    if not all(isinstance(r, str) and r.strip() for r in relations):
        return "every relation must be a non-empty string"
    if not all(is_name_text(r) for r in relations):
        return "a relation name holds a control or format character (or is not UTF-8)"
    if any(r.strip() in (".", "..") for r in relations):
        return "'.' and '..' are not relation names (they would leave /relations/)"
    if "auto" in relations:
        return (
            "auto stands alone: relations: auto polls every connection the node lists (discover: filters them); "
            "a list names the connections to poll"
        )
    if len(set(relations)) != len(relations):
        return "duplicate relation names"
    return None
