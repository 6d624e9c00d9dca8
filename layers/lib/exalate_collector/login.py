"""``auth: {type: login}``: the one request the collector sends that is not a GET.

``POST /rest/issuehub/4.0/authenticate`` with ``{"authProtocol":"basic","user":…,"password":…}`` (user ''
with a personal access token), as the vendor's staff scripts do; the JWT comes back in the
``X-Exalate-Jwt`` response header or in the body, and goes out as ``X-exalate-jwt`` on every GET.
It is sent only for a node configured so, through the node's ``client.NodeClient``, which refuses any
other POST (``client.allowed``). The token is kept per process (a warm Lambda
reuses it) until its ``exp`` (seconds or milliseconds, detected) less a margin, and obtained again
once after a 401. Neither the password nor the token is ever logged, exported or archived.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import aiohttp
import jwt

from . import errors, redact
from .auth import Signed
from .auth_base import AuthSettings
from .client import USER_AGENT, NodeClient
from .endpoints import LOGIN_PATH
from .fields import Spec, setting
from .node_config import NodeConfig
from .request_failures import failure_of

log = logging.getLogger(__name__)

#: A login answer is small; more than this is not read.
MAX_ANSWER_BYTES = 1 << 20

#: A token is replaced this long before its exp (at most half its remaining life).
MARGIN_S = 60.0
#: Tried only where a base64url run starts: at every eyJ of a long run the scan would be quadratic.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

#: (base URL, user) -> (token, renew at): one login per node and process while the token lasts.
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()


@dataclass(frozen=True, repr=False)
class LoginAuth(AuthSettings):
    """``auth: {type: login}``: the node's 4.0 login, then its JWT on every GET."""

    type: ClassVar[str] = "login"
    username: str = setting(
        Spec(
            "reference",
            "the user (a reference or as it is); '' with a personal access token",
            allow_empty=True,
            message="must be a string ('' with a personal access token)",
        ),
        "",
    )
    password: str | None = setting(
        Spec("secret", "the password or personal access token (a reference)", required=True), None
    )


def build_login(node: NodeConfig, secrets: Mapping[str, str]) -> LoginAuthenticator:
    return LoginAuthenticator(node, secrets.get("username", ""), secrets["password"])


def forget_tokens() -> None:
    """Drop every cached login token (tests; a process never needs it)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def token_in(headers: Mapping[str, str], body: bytes) -> str | None:
    """The JWT of a login answer: the JWT-shaped string in the ``X-Exalate-Jwt`` header, else the first one
    in the body."""
    in_header = _JWT.search(headers.get("X-Exalate-Jwt") or "")
    if in_header:
        return in_header.group(0)
    found = _JWT.search(body[:65536].decode("utf-8", "replace"))
    return found.group(0) if found else None


def claim_names(token: str) -> list[str]:
    """The names of a token's claims (for the debug log; never their values)."""
    try:
        return list(jwt.decode(token, options={"verify_signature": False}))
    except jwt.InvalidTokenError:
        return []


def expires_at(token: str) -> float:
    """The token's ``exp`` in epoch seconds (a value above 1e11 is taken as milliseconds); inf without one."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return math.inf
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return math.inf
    return exp / 1000 if exp > 10**11 else float(exp)


class LoginAuthenticator:
    """One node's login for one run; the token itself is shared by the runs of the process."""

    def __init__(
        self,
        node: NodeConfig,
        username: str,
        password: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._node = node
        self._key = (node.base_url, username)
        self._username = username
        self._password = password
        redact.remember(password)  # before it can be sent anywhere (redact.py: by knowledge)
        self._clock = clock
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._renewed = False
        self._refused: tuple[str, int | None] | None = None
        #: The login failure of this run, if any; its ``__cause__`` is the transport failure (connection_failed,
        #: tls_error, timeout) when the POST got no answer, None when the node answered and refused.
        self.refusal: errors.LoginFailed | None = None
        #: The token this run obtained itself: used for the rest of the run even once its exp has passed
        #: by our clock (a node whose clock is behind ours); only a 401 (renew) replaces it.
        self._obtained: str | None = None
        self._current: str | None = None

    def __repr__(self) -> str:  # never the password or the token
        return f"LoginAuthenticator(node={self._node.name!r})"

    @property
    def _fields(self) -> dict[str, str]:
        return {"exalate.node": self._node.name}

    async def prepare(self, client: NodeClient, until: float) -> None:
        """A token for ``sign``: the process's while it lasts, else a login over ``client`` (one at a time
        per node: the GETs waiting for it then share it)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:  # each poll has its own event loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if self._refused is not None:  # one failed login per run is enough: no POST storm
                return
            now = self._clock()
            with _TOKENS_LOCK:
                cached = _TOKENS.get(self._key)
            if cached is not None and (now < cached[1] or cached[0] == self._obtained):
                if self._current != cached[0]:
                    log.debug("login node=%s: the process's token is reused", self._node.name, extra=self._fields)
                self._current = cached[0]
                return
            try:
                token = await self._login(client, until)
            except errors.PollFailure as failure:
                self._refused = (failure.detail, failure.status_code)
                refused = failure if isinstance(failure, errors.LoginFailed) else errors.LoginFailed(*self._refused)
                self.refusal = refused
                return
            redact.remember_token(token)
            self._obtained = self._current = token
            exp = expires_at(token)
            with _TOKENS_LOCK:
                _TOKENS[self._key] = (token, exp - min(MARGIN_S, max(0.0, exp - now) / 2))
            log.debug(
                "login node=%s: a token obtained, claims %s, valid %s",
                self._node.name,
                ",".join(claim_names(token)) or "-",
                "without exp" if math.isinf(exp) else f"for {exp - now:.0f} s",
                extra=self._fields,
            )

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        if self._refused is not None:
            raise errors.LoginFailed(*self._refused)
        if self._current is None:
            raise errors.InternalError("a GET was signed before the login (a bug)")
        return Signed(headers={"X-exalate-jwt": self._current})

    def renew(self) -> bool:
        """After a 401: forget the token, once per run; every GET that saw the 401 is retried once.
        So a run logs in at most twice, whatever the tokens' exp says."""
        if not self._renewed:
            self._renewed = True
            self._current = None
            with _TOKENS_LOCK:
                _TOKENS.pop(self._key, None)
        return self._refused is None

    async def _login(self, client: NodeClient, until: float) -> str:
        body = json.dumps({"authProtocol": "basic", "user": self._username, "password": self._password})
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        budget = until - time.monotonic()
        try:
            answer = await client.send(
                "POST",
                self._node.context_path + LOGIN_PATH,
                {},
                headers,
                until,
                body=body.encode(),
                max_bytes=MAX_ANSWER_BYTES,
            )
        except TimeoutError:
            late = errors.Timeout(f"the login got no complete answer within {max(budget, 0):g} s")
            raise errors.LoginFailed(late.detail) from late
        except (errors.PollFailure, OSError, aiohttp.ClientError) as exc:
            failure = failure_of(exc, self._node, deadline_binds=False, status=None)
            raise errors.LoginFailed(f"the login request failed: {failure.error_type}: {failure.detail}") from failure
        if answer.status != 200:
            raise errors.LoginFailed(f"the node refused the login (HTTP {answer.status})", answer.status)
        content = answer.body
        if answer.body_file is not None:  # the run's answer memory was full
            with answer.body_file as spilled:
                spilled.seek(0)
                content = spilled.read(MAX_ANSWER_BYTES)
        token = token_in(answer.headers, content)
        if token is None:
            raise errors.LoginFailed("the login answer carried no JWT (header X-Exalate-Jwt or body)", answer.status)
        return token
