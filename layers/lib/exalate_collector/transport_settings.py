"""How a node's connections are made, before any is: the TLS context of its ``verify_tls`` (one
``SSLContext`` per value per process: certifi's bundle, a CA bundle of the operator's, reloaded when the
file changes, or no verification) and the proxy its requests go through (``proxy:``, else HTTPS_PROXY /
HTTP_PROXY unless NO_PROXY names its host, read once per poll), as a ``Proxy`` whose URL carries no
credentials: they become its Proxy-Authorization header, registered for redaction. ``client.NodeClient``
uses both.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from . import errors, redact
from .node_config import NodeConfig

_tls_contexts: dict[object, ssl.SSLContext] = {}
_tls_lock = threading.Lock()


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One SSLContext per ``verify_tls`` value per process (loading a CA bundle is slow). ``True``:
    certifi's bundle; a path: that bundle (reloaded when the file changes); ``False``: no verification."""
    key: object = verify
    if isinstance(verify, str):
        try:
            key = (verify, os.stat(verify).st_mtime_ns)
        except OSError:
            key = (verify, None)
    with _tls_lock:
        context = _tls_contexts.get(key)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else _certifi())
            _tls_contexts[key] = context
        return context


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return str(certifi.where())


@dataclass(frozen=True)
class Proxy:
    """Where a node's requests go through: the proxy URL without credentials, and its header."""

    url: str
    headers: Mapping[str, str]

    def __repr__(self) -> str:  # the header holds the proxy password
        return f"Proxy({self.url!r})"


#: (the poll's event loop, its environment proxies): one entry, replaced by the next poll.
_proxies_of_loop: list[tuple[asyncio.AbstractEventLoop, dict[str, str]]] = []


def _environment_proxies() -> dict[str, str]:
    """urllib's reading of HTTPS_PROXY / HTTP_PROXY / NO_PROXY, once per poll (its event loop): reading
    the environment costs ~0.3 ms, 3 s of CPU for 10,000 nodes read one by one (bench section 8)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return urllib.request.getproxies_environment()
    if not _proxies_of_loop or _proxies_of_loop[0][0] is not loop:
        _proxies_of_loop[:] = [(loop, urllib.request.getproxies_environment())]
    return _proxies_of_loop[0][1]


def proxy_for(node: NodeConfig, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The node's ``proxy:`` (``none``: direct), else HTTPS_PROXY / HTTP_PROXY for its scheme unless
    NO_PROXY names its host."""
    url = node.proxy
    if url == "none":
        return None
    if url is None:
        proxies = (
            _environment_proxies()
            if env is None
            else {k.lower()[: -len("_proxy")]: v for k, v in env.items() if k.lower().endswith("_proxy") and v}
        )
        parts = urlsplit(node.base_url)
        bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in typeshed
        if "no" in proxies and bypass(parts.hostname or "", proxies):
            return None
        url = proxies.get(parts.scheme)
    if not url:
        return None
    where = "proxy:" if node.proxy else "HTTPS_PROXY / HTTP_PROXY"
    try:  # never the URL in the message: it may hold the proxy password
        parts = urlsplit(url if "://" in url else "http://" + url)
        port = parts.port
    except ValueError:
        raise errors.ConnectionFailed(f"the proxy setting ({where}) is not a URL such as http://host:3128") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ConnectionFailed(f"the proxy setting ({where}) is not a URL such as http://host:3128")
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        redact.remember_basic(user, password)
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    netloc = host + (f":{port}" if port else "")
    return Proxy(f"{parts.scheme}://{netloc}", headers)
