"""Credentials for one node: JWT (HS256 via PyJWT), a static token, or basic auth (login: login.py).

Each scheme here is its settings (its keys, declared once with their specs) and a builder; the
registry, ``auth_schemes.py``, pairs them.

``prepare(client, until)`` obtains what signing needs (only the login sends a request for it);
``sign(path, query)`` returns the headers and query parameters to add to one GET. ``path`` is the
request path *below the Jira context path*, which is what Atlassian Connect's ``qsh`` hashes.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import quote

import jwt

from . import redact
from .auth_base import AuthSettings
from .fields import Spec, is_number, setting
from .hs256 import Hs256Signer
from .node_config import DEFAULT_LIFETIME_S, SEND_AS, NodeConfig, SendAs

if TYPE_CHECKING:
    from .client import NodeClient

#: A cached token is replaced this long (at most) before it expires.
REFRESH_MARGIN_S = 30.0
#: RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
MIN_HMAC_KEY_BYTES = 32

# A short key is reported once per node as a configuration warning in our words (see
# short_key_warning); PyJWT's own warning would otherwise reach stderr for every token minted.
_insecure = getattr(getattr(jwt, "warnings", None), "InsecureKeyLengthWarning", None)
if _insecure is not None:
    warnings.filterwarnings("ignore", category=_insecure)


_SEND_AS = Spec("enum", "where the token goes: Authorization Bearer or JWT, X-exalate-jwt, ?jwt=", choices=SEND_AS)
_RESERVED_CLAIMS = ("exp", "iat", "qsh")


@dataclass(frozen=True, repr=False)
class JwtAuth(AuthSettings):
    """``auth: {type: jwt}``: HS256 tokens minted with a shared secret."""

    type: ClassVar[str] = "jwt"
    secret: str | None = setting(Spec("secret", "the shared secret (a reference)", required=True), None)
    issuer: str = setting(Spec("string", "iss claim", nullable=True), "exalate-collector")
    subject: str | None = setting(Spec("string", "sub claim, optional", nullable=True))
    audience: str | None = setting(Spec("string", "aud claim, optional", nullable=True))
    claims: Mapping[str, Any] = setting(
        Spec("rule", "extra claims; iat, exp and qsh are the collector's"), factory=dict
    )
    lifetime_s: int = setting(Spec("int", "exp - iat", lo=10, hi=86400), DEFAULT_LIFETIME_S)
    exp_unit: str = setting(
        Spec("enum", "unit of iat and exp (Exalate's own tokens carry ms)", choices=("s", "ms")), "s"
    )
    qsh: bool = setting(Spec("bool", "Atlassian Connect query-string hash, one token per request"), False)
    send_as: SendAs = setting(_SEND_AS, "bearer")

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        claims = raw.get("claims")
        if claims is None:
            return []
        if not isinstance(claims, Mapping):
            return [("claims", "must be a mapping of extra claims")]
        found = [] if _all_finite(claims) else [("claims", "numbers must be finite (no .nan or .inf)")]
        return found + [
            (f"claims.{key}", "is set by the collector; remove it") for key in _RESERVED_CLAIMS if key in claims
        ]


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return is_number(value)
    if isinstance(value, Mapping):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(v) for v in value)
    return True


@dataclass(frozen=True, repr=False)
class TokenAuth(AuthSettings):
    """``auth: {type: token}``: a static token, placed as ``send_as`` says."""

    type: ClassVar[str] = "token"
    token: str | None = setting(Spec("secret", "the token (a reference)", required=True), None)
    send_as: SendAs = setting(_SEND_AS, "bearer")


@dataclass(frozen=True, repr=False)
class BasicAuth(AuthSettings):
    """``auth: {type: basic}``: HTTP basic auth."""

    type: ClassVar[str] = "basic"
    username: str | None = setting(Spec("reference", "the user (a reference or as it is)", required=True), None)
    password: str | None = setting(Spec("secret", "the password (a reference)", required=True), None)


@dataclass(frozen=True)
class Signed:
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


class Authenticator(Protocol):
    async def prepare(self, client: NodeClient, until: float) -> None:
        """Before ``sign``: obtain what signing needs over the node's client (the login), by ``until``."""
        ...

    def sign(self, path: str, query: Mapping[str, str]) -> Signed: ...

    def renew(self) -> bool:
        """After a 401: True when a fresh credential may help and the GET should be retried once."""
        ...


class Fixed:
    """Credentials that a retry cannot change: a 401 is final; nothing to obtain before signing."""

    async def prepare(self, client: NodeClient, until: float) -> None:
        return None

    def renew(self) -> bool:
        return False


def _percent(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_request(method: str, path: str, query: Mapping[str, str | list[str]]) -> str:
    """Atlassian Connect's canonical request: ``METHOD&path&sorted-query`` (``jwt`` excluded)."""
    canonical_path = path or "/"
    if len(canonical_path) > 1:
        canonical_path = canonical_path.rstrip("/")
    if not canonical_path.startswith("/"):
        canonical_path = "/" + canonical_path
    canonical_path = canonical_path.replace("&", "%26")
    params = []
    for key in sorted(k for k in query if k != "jwt"):
        values = query[key]
        values = [values] if isinstance(values, str) else list(values)
        params.append(f"{_percent(key)}={','.join(_percent(v) for v in sorted(values))}")
    return f"{method.upper()}&{canonical_path}&{'&'.join(params)}"


def query_string_hash(method: str, path: str, query: Mapping[str, str | list[str]]) -> str:
    """The ``qsh`` claim: SHA-256 hex of the canonical request."""
    return hashlib.sha256(canonical_request(method, path, query).encode("utf-8")).hexdigest()


def place_token(token: str, send_as: SendAs) -> Signed:
    if send_as == "bearer":
        return Signed(headers={"Authorization": f"Bearer {token}"})
    if send_as == "jwt":
        return Signed(headers={"Authorization": f"JWT {token}"})
    if send_as == "x-exalate-jwt":
        return Signed(headers={"X-exalate-jwt": token})
    return Signed(query={"jwt": token})


class JwtAuthenticator(Fixed):
    """Mints HS256 tokens; reuses one until shortly before expiry (a fresh one per request with qsh)."""

    def __init__(self, auth: JwtAuth, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._secret = secret
        self._signer = Hs256Signer(secret)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    @property
    def key_bytes(self) -> int:
        return len(self._secret.encode("utf-8"))

    def claims(self, now: float, path: str, query: Mapping[str, str]) -> dict[str, object]:
        scale = 1000 if self._auth.exp_unit == "ms" else 1
        claims: dict[str, object] = dict(self._auth.claims)
        claims["iss"] = self._auth.issuer
        if self._auth.subject:
            claims["sub"] = self._auth.subject
        if self._auth.audience:
            claims["aud"] = self._auth.audience
        claims["iat"] = int(now) * scale
        claims["exp"] = (int(now) + self._auth.lifetime_s) * scale
        if self._auth.qsh:
            claims["qsh"] = query_string_hash("GET", path, query)
        return claims

    def token(self, path: str, query: Mapping[str, str]) -> str:
        now = self._clock()
        if self._auth.qsh:
            token = self._signer.encode(self.claims(now, path, query))
            redact.remember_token(token)
            return token
        with self._lock:
            if self._token is None or now >= self._renew_at:
                self._token = self._signer.encode(self.claims(now, path, query))
                redact.remember_token(self._token)
                margin = min(REFRESH_MARGIN_S, self._auth.lifetime_s / 2)
                self._renew_at = now + self._auth.lifetime_s - margin
            return self._token

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        return place_token(self.token(path, query), self._auth.send_as)


class TokenAuthenticator(Fixed):
    def __init__(self, token: str, send_as: SendAs) -> None:
        self._signed = place_token(token, send_as)

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        return self._signed


class BasicAuthenticator(Fixed):
    def __init__(self, username: str, password: str) -> None:
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._signed = Signed(headers={"Authorization": f"Basic {pair}"})

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        return self._signed


def build_jwt(node: NodeConfig, secrets: Mapping[str, str]) -> JwtAuthenticator:
    """Every credential is registered for redaction before it can be sent anywhere."""
    assert isinstance(node.auth, JwtAuth)
    redact.remember(secrets["secret"])
    return JwtAuthenticator(node.auth, secrets["secret"])


def build_token(node: NodeConfig, secrets: Mapping[str, str]) -> TokenAuthenticator:
    assert isinstance(node.auth, TokenAuth)
    redact.remember(secrets["token"])
    return TokenAuthenticator(secrets["token"], node.auth.send_as)


def build_basic(node: NodeConfig, secrets: Mapping[str, str]) -> BasicAuthenticator:
    redact.remember_basic(secrets["username"], secrets["password"])
    return BasicAuthenticator(secrets["username"], secrets["password"])


_CARRIED_IN: dict[str, str] = {
    "bearer": "header Authorization (Bearer)",
    "jwt": "header Authorization (JWT)",
    "x-exalate-jwt": "header X-exalate-jwt",
    "query": "query parameter jwt",
}


def scheme(auth: AuthSettings) -> str:
    """How a node's requests carry their credentials, for the debug log: the type, where the credential
    goes and, for a JWT, its claim names (never a value, never a secret)."""
    if isinstance(auth, JwtAuth):
        names = ",".join(JwtAuthenticator(auth, "").claims(0.0, "/", {}))  # the names of what is minted
        minted = "one per request (qsh)" if auth.qsh else f"reused until {REFRESH_MARGIN_S:g} s before its exp"
        return (
            f"type=jwt HS256, {_CARRIED_IN[auth.send_as]}, claims {names}, exp in {auth.exp_unit},"
            f" lifetime {auth.lifetime_s} s, a token {minted}"
        )
    if auth.type == "token":
        return f"type=token, a static token in {_CARRIED_IN[getattr(auth, 'send_as', 'bearer')]}"
    if auth.type == "basic":
        return "type=basic, header Authorization (Basic)"
    if auth.type == "login":
        return "type=login, POST /rest/issuehub/4.0/authenticate (user, password), then its JWT in header X-exalate-jwt"
    return f"type={auth.type}"  # a scheme added since: its type is what is known here


def short_key_warning(node: str, authenticator: Authenticator) -> str | None:
    """The configuration warning for an HS256 secret under 32 bytes; None when the key is long enough."""
    if not isinstance(authenticator, JwtAuthenticator) or authenticator.key_bytes >= MIN_HMAC_KEY_BYTES:
        return None
    return (
        f"node {node}: auth.secret is {authenticator.key_bytes} bytes, shorter than the {MIN_HMAC_KEY_BYTES} bytes"
        " HS256 needs (RFC 7518 section 3.2); the node may reject the tokens (401): use the full shared secret"
    )
