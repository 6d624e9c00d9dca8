"""The one map from what a request to a node raised to the ``error.type`` users see (``failure_of``),
and the safe words used to say where and why: never ``str(exc)``, which can hold a URL or node bytes."""

from __future__ import annotations

import errno
import os
import re
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from . import errors
from .node_config import NodeConfig
from .strict_http import FramingError
from .text import printable


def failure_of(exc: BaseException, node: NodeConfig, *, deadline_binds: bool, status: int | None) -> errors.PollFailure:
    """What a request raised, as the failure users see. ``str(exc)`` is never used: it could hold a URL
    or bytes the node wrote; only aiohttp's own first line of a parser error is kept."""
    if isinstance(exc, errors.PollFailure):
        return exc
    if isinstance(exc, TimeoutError):
        what = "body not complete" if status is not None else "no status line and headers"
        if deadline_binds:
            return errors.DeadlineExceeded(f"{what} before the run's deadline", status)
        return errors.Timeout(f"{what} within timeout_s {node.timeout_s:g}", status)
    where = address(node.base_url)
    if isinstance(exc, FramingError):
        return errors.InvalidResponse(f"{exc.args[0]} ({where})", status)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return errors.ConnectionFailed(f"the proxy refused the connection to {where} (HTTP {exc.status})")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return errors.ConnectionFailed(f"the proxy for {where} could not be reached: {_root_cause(exc)}")
    if isinstance(exc, aiohttp.ClientResponseError):  # never raise_for_status: the answer's head did not parse
        return errors.InvalidResponse(f"the answer is not valid HTTP/1.1: {_parser_words(exc.message)}", status)
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, HttpProcessingError) and "not enough data" not in str(cause.message).lower():
            return errors.InvalidResponse(
                f"the body is not valid HTTP/1.1 framing: {_parser_words(cause.message)}", status
            )
        return errors.ConnectionFailed(f"the connection to {where} broke before the answer was complete", status)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return errors.TlsError(f"TLS with {where} failed: {_root_cause(exc)}; check verify_tls")
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return errors.ConnectionFailed(f"connection to {where} failed: the host name could not be resolved")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return errors.ConnectionFailed(f"{where} closed the connection before the answer was complete", status)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.ConnectionFailed(
            f"connection to {where} failed: {_root_cause(exc)}; is the node up, and is base_url right?"
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return errors.ConnectionFailed(f"the connection to {where} broke: {_root_cause(exc)}", status)
    return errors.InternalError(f"the request failed with {type(exc).__name__} (a bug)")


def _parser_words(message: object) -> str:
    """aiohttp's own words for a parser error: its first line, never the node's bytes it quotes after."""
    first = str(message).splitlines()[0] if str(message) else ""
    # aiohttp's stem comes before the first ':' or '('; what follows may quote the node's bytes
    stem = re.split(r"[:(]", first, maxsplit=1)[0].strip()
    return printable(stem[:80]) or "unparsable"


def address(url: str) -> str:
    """``https://jira.example.com/jira`` -> ``jira.example.com:443``: where a connection goes."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _root_cause(exc: BaseException) -> str:
    """A safe description of the innermost cause: an errno text or a class name, never a URL."""
    seen: set[int] = set()
    current: BaseException | None = exc
    best = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "errno", None)
        if isinstance(code, int) and code in errno.errorcode:
            return os.strerror(code).lower()
        name = type(current).__name__
        if name in ("NameResolutionError", "gaierror", "ClientConnectorDNSError"):
            return "the host name could not be resolved"
        if name in ("SSLCertVerificationError", "ClientConnectorCertificateError"):
            return "certificate verification failed"
        best = name
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        inner = getattr(current, "os_error", None) or getattr(current, "certificate_error", None)
        current = current.__cause__ or current.__context__ or (inner if isinstance(inner, BaseException) else None)
        current = current or (nested[0] if nested else None)
    return best
