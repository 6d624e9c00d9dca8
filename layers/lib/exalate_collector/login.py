"""``auth: {type: login}``: the one request the collector sends that is not a GET.

``POST /rest/issuehub/4.0/authenticate`` with ``{"authProtocol":"basic","user":…,"password":…}`` (user ''
with a personal access token), as the vendor's staff scripts do; the JWT comes back in the
``X-Exalate-Jwt`` response header or in the body, and goes out as ``X-exalate-jwt`` on every GET.
It is sent only for a node configured so, through ``transport.post_login``, the one way to send
anything but a GET, which only goes to that path. The token is kept per process (a warm Lambda
reuses it) until its ``exp`` (seconds or milliseconds, detected) less a margin, and obtained again
once after a 401. Neither the password nor the token is ever logged, exported or archived.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from email.message import Message

import jwt

from . import errors, redact
from .auth import Signed
from .config import NodeConfig
from .poll import USER_AGENT, _transport_failure
from .transport import LOGIN_PATH, Answer, Expired, NodePool, Watchdog, post_login

#: A login answer is small; more than this is not read.
MAX_ANSWER_BYTES = 1 << 20

#: A token is replaced this long before its exp (at most half its remaining life).
MARGIN_S = 60.0
#: Tried only where a base64url run starts: at every eyJ of a long run the scan would be quadratic.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

#: (base URL, user) -> (token, renew at): one login per node and process while the token lasts.
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached login token (tests; a process never needs it)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def token_in(headers: Mapping[str, str] | Message, body: bytes) -> str | None:
    """The JWT of a login answer: the JWT-shaped string in the ``X-Exalate-Jwt`` header, else the first one
    in the body."""
    in_header = _JWT.search(headers.get("X-Exalate-Jwt") or "")
    if in_header:
        return in_header.group(0)
    found = _JWT.search(body[:65536].decode("utf-8", "replace"))
    return found.group(0) if found else None


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
        deadline: float = math.inf,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._node = node
        self._key = (node.base_url, username)
        self._username = username
        self._password = password
        redact.remember(password)  # before it can be sent anywhere (redact.py: by knowledge)
        self._deadline = deadline  # a monotonic instant: the run's
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._renewed = False
        self._refused: tuple[str, int | None] | None = None
        #: The token this run obtained itself: used for the rest of the run even once its exp has passed
        #: by our clock (a node whose clock is behind ours); only a 401 (renew) replaces it.
        self._obtained: str | None = None

    def __repr__(self) -> str:  # never the password or the token
        return f"LoginAuthenticator(node={self._node.name!r})"

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        return Signed(headers={"X-exalate-jwt": self.token()})

    def renew(self) -> bool:
        """After a 401: forget the token, once per run; every GET that saw the 401 is retried once.
        So a run logs in at most twice, whatever the tokens' exp says."""
        with self._lock:
            if not self._renewed:
                self._renewed = True
                with _TOKENS_LOCK:
                    _TOKENS.pop(self._key, None)
            return self._refused is None

    def token(self) -> str:
        with self._lock:
            if self._refused is not None:  # one failed login per run is enough: no POST storm
                raise errors.LoginFailed(*self._refused)
            now = self._clock()
            with _TOKENS_LOCK:
                cached = _TOKENS.get(self._key)
            if cached is not None and (now < cached[1] or cached[0] == self._obtained):
                return cached[0]
            try:
                token = self._login()
            except errors.PollFailure as failure:
                self._refused = (failure.detail, failure.status_code)
                raise errors.LoginFailed(*self._refused) from None
            redact.remember_token(token)
            self._obtained = token
            exp = expires_at(token)
            with _TOKENS_LOCK:
                _TOKENS[self._key] = (token, exp - min(MARGIN_S, max(0.0, exp - now) / 2))
            return token

    def _login(self) -> str:
        node = self._node
        budget = min(node.timeout_s, self._deadline - self._monotonic())
        if budget <= 0:
            raise errors.DeadlineExceeded("the run's deadline came before the login could be sent")
        body = json.dumps({"authProtocol": "basic", "user": self._username, "password": self._password})
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        pool, watchdog = NodePool(node.base_url, node.verify_tls, 1), Watchdog(self._monotonic)
        watchdog.start()
        try:
            answer, content = post_login(
                pool,
                node.context_path + LOGIN_PATH,
                body.encode("utf-8"),
                headers,
                budget,
                watchdog,
                _read_answer,
                self._monotonic,
            )
        except (Expired, TimeoutError):
            raise errors.LoginFailed(f"the login got no complete answer within {budget:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise errors.LoginFailed(f"the login request failed: {_transport_failure(exc, node).detail}") from None
        finally:
            watchdog.stop()
            pool.close()
        if answer.status != 200:
            raise errors.LoginFailed(f"the node refused the login (HTTP {answer.status})", answer.status)
        token = token_in(answer.headers, content)
        if token is None:
            raise errors.LoginFailed("the login answer carried no JWT (header X-Exalate-Jwt or body)", answer.status)
        return token


def _read_answer(answer: Answer) -> bytes:
    return answer.response.read(MAX_ANSWER_BYTES)
