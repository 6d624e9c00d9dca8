"""The HS256 signer with a key prepared once mints the very tokens ``jwt.encode`` does."""

from __future__ import annotations

import jwt
import pytest
from exalate_collector.hs256 import Hs256Signer

SECRET = "a-shared-secret-of-at-least-32-bytes!"

CLAIMS = [
    {"iss": "collector", "iat": 1_700_000_000, "exp": 1_700_000_180},
    {"iss": "collector", "iat": 1_700_000_000_000, "exp": 1_700_000_180_000, "qsh": "0" * 64},
    {"iss": "c", "sub": "admin", "aud": ["exalate", "jira"], "iat": 1, "exp": 2, "user": "ü-ñ"},
    {},
]


@pytest.mark.parametrize("claims", CLAIMS)
def test_the_token_is_the_one_pyjwt_mints(claims: dict[str, object]) -> None:
    token = Hs256Signer(SECRET).encode(claims)
    assert token == jwt.encode(claims, SECRET, algorithm="HS256")
    assert (
        jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_aud": False, "verify_iat": False}
        )
        == claims
    )


def test_another_secret_signs_differently_and_does_not_verify() -> None:
    claims = CLAIMS[0]
    token = Hs256Signer("another-secret-of-at-least-32-bytes-long").encode(claims)
    assert token != Hs256Signer(SECRET).encode(claims)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})


def test_an_empty_secret_is_refused_when_signing_as_pyjwt_refuses_it() -> None:
    signer = Hs256Signer("")  # constructing it is harmless (the collector names the claims with one)
    with pytest.raises(jwt.InvalidKeyError):
        signer.encode(CLAIMS[0])
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode(CLAIMS[0], "", algorithm="HS256")
