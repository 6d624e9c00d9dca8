"""HS256 tokens signed with PyJWT's own algorithm, its key prepared once.

``jwt.encode`` prepares the key again for every token (with ``cryptography`` installed it even tries to
read the secret as a PEM or DER key: 20 us a token). With ``qsh`` a token is minted per request, so the
key is prepared once here and every token is the same bytes ``jwt.encode(claims, secret, "HS256")``
gives (its header with sorted keys, compact JSON; a test compares the two).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode

_HEADER = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


class Hs256Signer:
    """Signs claims with one secret; the key is prepared once, for the first token (an unusable secret,
    an empty one, is refused then, by PyJWT, as ``jwt.encode`` would refuse it)."""

    __slots__ = ("_algorithm", "_key", "_secret")

    def __init__(self, secret: str) -> None:
        self._algorithm = HMACAlgorithm(HMACAlgorithm.SHA256)
        self._secret = secret
        self._key: bytes | None = None

    def encode(self, claims: Mapping[str, object]) -> str:
        """The compact JWS of ``claims`` (JSON numbers, strings and lists only, as the collector's are)."""
        if self._key is None:
            self._key = self._algorithm.prepare_key(self._secret)
        payload = base64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        signing_input = _HEADER + b"." + payload
        signature = base64url_encode(self._algorithm.sign(signing_input, self._key))
        return (signing_input + b"." + signature).decode("ascii")
