"""What a hostile node can send, refused at the protocol: aiohttp's answer handler made strict.

aiohttp's llhttp parser already refuses malformed, negative or huge chunk sizes, duplicate or conflicting
Content-Length, Content-Length beside Transfer-Encoding and bad status lines. For answers it is lenient
(aiohttp sets llhttp's lenient-headers flag outside dev mode); ``StrictResponseHandler`` refuses what
that lets through, obs-fold, header names that are not tokens and control characters in values, and
bytes that arrived before the request went out (``FramingError``, reported as ``invalid_response``). Bytes
outside an answer (a second answer, bytes on an idle keep-alive connection) close the connection: they
are never taken for the next request's answer. ``allowed`` is the one check of what may be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import socket
import threading
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler

from .endpoints import LOGIN_PATH

log = logging.getLogger(__name__)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FOLD = re.compile(rb"\n[ \t]")


class FramingError(aiohttp.ClientError):
    """The node's bytes are not one valid HTTP/1.1 answer to our request (``InvalidResponse``)."""


def allowed(method: str, path: str, query: Mapping[str, str]) -> None:
    """GET anywhere; POST only to the login path, without a query. Anything else is a bug: refused."""
    if not (method == "GET" or (method == "POST" and path.endswith(LOGIN_PATH) and not query)):
        raise ValueError(f"exalate-collector sends only GET and the configured login POST, refused {method}")


class StrictResponseHandler(ResponseHandler):
    """aiohttp's protocol, refusing what its lenient answer parser lets through (see the module text).

    It relies on ``ResponseHandler``'s hooks (``set_response_params``, ``data_received``, ``feed_data``,
    ``read``), which the pinned aiohttp range keeps; tests/integration/test_framing.py proves each case."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._expecting = False  # a request is out and its answer is not complete
        self._answers = 0
        self._in_head = False
        self._carry = b""
        self.refused: FramingError | None = None
        self._surplus = False
        self.reused = False

    def set_response_params(self, **kwargs: Any) -> None:
        if self._answers:
            self.reused = True
        if self._tail or self._buffer:
            self._tail = b""  # never parsed as this request's answer
            self._refuse("the node sent bytes before the request went out")
        self._expecting, self._answers, self._in_head, self._carry = True, 0, True, b""
        super().set_response_params(**kwargs)

    def data_received(self, data: bytes) -> None:
        if not data or self.refused is not None or self._surplus:
            return  # nothing more of this connection is parsed
        if not self._expecting and self._parser is not None:
            self._drop("bytes after the answer was complete")  # never taken for the next request's answer
            return
        if self._in_head:
            self._scan_head(data)
            if self.refused is not None:
                return
        super().data_received(data)

    def feed_data(self, data: Any, size: int = 0) -> None:  # one parsed answer: (message, payload)
        self._answers += 1
        if self._answers > 1 or not self._expecting:
            self._drop("a second answer to one request")  # the first, complete, stands
            return
        message, payload = data
        if not _valid_headers(message.raw_headers):
            self._refuse("a header name is not a token or a header value holds a control character")
            return
        if payload.is_eof():
            self._expecting = False
        else:
            payload.on_eof(self._answer_complete)
        super().feed_data(data, size)

    async def read(self) -> Any:
        if self.refused is not None:
            raise self.refused
        return await super().read()

    def _answer_complete(self) -> None:
        self._expecting = False

    def _scan_head(self, data: bytes) -> None:
        chunk = self._carry + data
        ends = [i + n for i, n in ((chunk.find(b"\r\n\r\n"), 4), (chunk.find(b"\n\n"), 2)) if i >= 0]
        head = chunk[: min(ends)] if ends else chunk
        if _FOLD.search(head):
            self._refuse("a header is folded over lines (obs-fold)")
        if ends:
            self._in_head = False
        else:
            self._carry = chunk[-3:]

    def _refuse(self, why: str) -> None:
        """This request's answer is not valid: it fails as ``InvalidResponse``; the connection goes."""
        self.refused = FramingError(why)
        self._should_close = True
        self.set_exception(self.refused)

    def _drop(self, why: str) -> None:
        """Bytes outside any answer: the connection is never used again; an answer already complete stands."""
        self._surplus = True
        self._should_close = True
        log.debug("a node connection dropped: %s", why)
        if not self._expecting and self.transport is not None:
            self.transport.close()  # idle (or done): the pool must not hand it out again


def _valid_headers(raw: tuple[tuple[bytes, bytes], ...]) -> bool:
    return all(_TOKEN.match(name) and not _CONTROL.search(value) for name, value in raw)


class StrictConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` whose connections speak through ``StrictResponseHandler``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = functools.partial(StrictResponseHandler, loop=self._loop)  # type: ignore[assignment]


class DaemonResolver(AbstractResolver):
    """``getaddrinfo`` on a daemon thread per lookup, at most ``RESOLVER_THREADS`` at once per run.

    A lookup cannot be interrupted: one still running when its request's time is up is left behind,
    and ends with the process, never holding it (no executor to join)."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with self._slots:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[list[Any]] = loop.create_future()

            def settle(outcome: list[Any] | BaseException) -> None:
                if not future.done():
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)

            def lookup() -> None:
                outcome: list[Any] | BaseException
                try:
                    outcome = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
                except OSError as exc:
                    outcome = exc
                with contextlib.suppress(RuntimeError):  # the run is over (its loop closed): nobody waits
                    loop.call_soon_threadsafe(settle, outcome)

            threading.Thread(target=lookup, name="exalate-dns", daemon=True).start()
            infos = await future
        return [
            ResolveResult(
                hostname=host,
                host=address[0],
                port=address[1],
                family=fam,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for fam, _, proto, _, address in infos
            if fam in (socket.AF_INET, socket.AF_INET6)
        ]

    async def close(self) -> None:
        return None
