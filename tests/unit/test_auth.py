"""JWT minting (claims, units, reuse, qsh), token placement, static token and basic auth."""

from __future__ import annotations

import base64
import hashlib

import jwt
import pytest
from exalate_collector.auth import (
    BasicAuthenticator,
    JwtAuthenticator,
    TokenAuthenticator,
    canonical_request,
    place_token,
    query_string_hash,
)
from exalate_collector.auth_schemes import authenticator_for
from exalate_collector.config import AuthConfig
from exalate_collector.errors import SecretUnavailable
from exalate_collector.secret_refs import resolve

SECRET = "a-shared-secret-that-is-32-bytes-long"
PATH = "/rest/issuehub/2.4/relations/AllContent/syncevents/syncrequests"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decode(token: str) -> dict:
    return jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_aud": False, "verify_iat": False}
    )


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        (PATH, {}, f"GET&{PATH}&"),
        ("", {}, "GET&/&"),
        ("/a/b/", {}, "GET&/a/b&"),
        ("/a&b", {}, "GET&/a%26b&"),
        ("/p", {"b": "2", "a": "1", "jwt": "ignored"}, "GET&/p&a=1&b=2"),
        ("/p", {"k": ["z", "a"]}, "GET&/p&k=a,z"),
        ("/p", {"q": "a b/c"}, "GET&/p&q=a%20b%2Fc"),
    ],
)
def test_canonical_request(path, query, expected):
    assert canonical_request("get", path, query) == expected


def test_qsh_is_sha256_hex_of_the_canonical_request():
    expected = hashlib.sha256(f"GET&{PATH}&".encode()).hexdigest()
    assert query_string_hash("GET", PATH, {}) == expected


def test_claims_in_seconds():
    clock = Clock()
    auth = JwtAuthenticator(
        AuthConfig(secret="${S}", subject="mon", audience="exalate", claims={"user": "bot"}), SECRET, clock
    )
    claims = decode(auth.token(PATH, {}))
    assert claims == {
        "iss": "exalate-collector",
        "sub": "mon",
        "aud": "exalate",
        "user": "bot",
        "iat": 1_800_000_000,
        "exp": 1_800_000_180,
    }


def test_claims_in_milliseconds_as_exalate_tokens_carry_them():
    auth = JwtAuthenticator(AuthConfig(secret="${S}", exp_unit="ms", lifetime_s=60), SECRET, Clock())
    claims = decode(auth.token(PATH, {}))
    assert claims["exp"] == 1_800_000_060_000 and claims["iat"] == 1_800_000_000_000


def test_header_is_hs256():
    token = JwtAuthenticator(AuthConfig(secret="${S}"), SECRET, Clock()).token(PATH, {})
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_token_is_reused_until_shortly_before_expiry():
    clock = Clock()
    auth = JwtAuthenticator(AuthConfig(secret="${S}", lifetime_s=180), SECRET, clock)
    first = auth.token(PATH, {})
    clock.now += 149
    assert auth.token("/other", {}) == first
    clock.now += 1  # 150 s: 30 s before expiry
    renewed = auth.token(PATH, {})
    assert renewed != first and decode(renewed)["iat"] == 1_800_000_150


def test_qsh_means_one_token_per_request_bound_to_its_path():
    auth = JwtAuthenticator(AuthConfig(secret="${S}", qsh=True), SECRET, Clock())
    a, b = auth.token(PATH, {}), auth.token("/rest/other", {})
    assert decode(a)["qsh"] == query_string_hash("GET", PATH, {})
    assert decode(b)["qsh"] == query_string_hash("GET", "/rest/other", {})


@pytest.mark.parametrize(
    ("send_as", "headers", "query"),
    [
        ("bearer", {"Authorization": "Bearer T"}, {}),
        ("jwt", {"Authorization": "JWT T"}, {}),
        ("x-exalate-jwt", {"X-exalate-jwt": "T"}, {}),
        ("query", {}, {"jwt": "T"}),
    ],
)
def test_token_placement(send_as, headers, query):
    signed = place_token("T", send_as)
    assert (dict(signed.headers), dict(signed.query)) == (headers, query)


def test_static_token_and_basic():
    assert TokenAuthenticator("T", "x-exalate-jwt").sign(PATH, {}).headers == {"X-exalate-jwt": "T"}
    header = BasicAuthenticator("u", "p:w").sign(PATH, {}).headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"u:p:w"


def test_authenticator_resolves_secret_references():
    env = {"S": SECRET}
    auth = authenticator_for(AuthConfig(secret="${S}"), lambda ref: resolve(ref, env))
    assert decode(auth.sign(PATH, {}).headers["Authorization"].removeprefix("Bearer "))["iss"] == "exalate-collector"


def test_missing_environment_secret_is_secret_unavailable_naming_the_variable_only():
    with pytest.raises(SecretUnavailable, match="environment variable S is not set"):
        authenticator_for(AuthConfig(secret="${S}"), lambda ref: resolve(ref, {}))


def test_literal_is_its_own_value():
    assert resolve("plain-literal", {}) == "plain-literal"
