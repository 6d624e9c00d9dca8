"""Secret references: ``${ENV}``, ``secretsmanager:<name or ARN>``, ``ssm:<name>``, or a literal.

AWS reads are made once per process and cached, so warm Lambda invocations do not pay for them again;
they end by the ``Deadline`` given (a run's polling deadline: ``resolver``). Error messages name the
reference, never the value.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from . import aws
from .deadline import Deadline
from .errors import SecretUnavailable
from .text import control_character

log = logging.getLogger(__name__)

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_cache: dict[str, str] = {}
_lock = threading.Lock()


def describe(ref: str) -> str:
    """How a reference may be shown in logs: the reference itself, or 'a literal' for literals."""
    if _ENV_REF.match(ref) or ref.startswith(("secretsmanager:", "ssm:")):
        return ref
    return "a literal value"


def environment_variable(ref: str) -> str | None:
    """``'${EXALATE_JWT_SECRET}'`` -> ``'EXALATE_JWT_SECRET'``; None for any other kind of reference."""
    match = _ENV_REF.match(ref)
    return match.group(1) if match else None


def is_literal(ref: str) -> bool:
    return describe(ref) == "a literal value"


def resolve(ref: str, env: Mapping[str, str] | None = None, *, deadline: Deadline = Deadline.NONE) -> str:
    """The secret value behind ``ref``, one trailing newline stripped (as ``echo`` and many secret stores
    leave one). Raises SecretUnavailable naming the reference: unreadable, empty, or holding any other
    control character (it would break the header it goes into, or smuggle one). A read from AWS ends by
    ``deadline`` (``Deadline.NONE``: the AWS client's own bounds, as when the CLI loads its configuration)."""
    env = os.environ if env is None else env
    var = environment_variable(ref)
    if var is not None:
        value = env.get(var)
        if not value:
            raise SecretUnavailable(f"environment variable {var} is not set or empty")
        return checked(value, f"environment variable {var}")
    if ref.startswith("secretsmanager:"):
        return checked(_cached(ref, lambda: _read_secretsmanager(ref[len("secretsmanager:") :], deadline)), ref)
    if ref.startswith("ssm:"):
        return checked(_cached(ref, lambda: read_ssm_parameter(ref[len("ssm:") :], deadline)), ref)
    return checked(ref, "a literal value")


def resolver(deadline: Deadline) -> Callable[[str], str]:
    """``resolve`` with its AWS reads ending by ``deadline``: what a run's secrets are read with."""
    return partial(resolve, deadline=deadline)


def checked(value: str, where: str) -> str:
    """``value`` without one trailing newline; SecretUnavailable if another control character remains."""
    value = value.removesuffix("\n").removesuffix("\r")
    bad = control_character(value)
    if bad is not None:
        raise SecretUnavailable(f"{where} holds a control character ({bad}); a credential is one line of text")
    if not value:
        raise SecretUnavailable(f"{where} is empty")
    return value


def _cached(ref: str, read: Any) -> str:
    with _lock:
        if ref in _cache:
            return _cache[ref]
    try:
        value = read()
    except SecretUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - botocore raises many types; all mean "not available"
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        raise SecretUnavailable(f"{ref}: cannot be read ({code})") from None
    if not value:
        raise SecretUnavailable(f"{ref}: is empty")
    with _lock:
        _cache[ref] = value
    return value


def forget(ref: str | None) -> None:
    """Drop one cached secret, so that the next run reads it again (after a 401: it may have rotated)."""
    if ref:
        with _lock:
            _cache.pop(ref, None)


def clear_cache() -> None:
    """Forget cached secrets (tests; or after a rotation, a cold start does it too)."""
    with _lock:
        _cache.clear()
    aws.forget_clients()


def _client(service: str, deadline: Deadline) -> Any:
    return aws.client(service, deadline)  # boto3 is imported only when a secret or parameter lives in AWS


def _read_secretsmanager(secret_id: str, deadline: Deadline) -> str:
    answer = _client("secretsmanager", deadline).get_secret_value(SecretId=secret_id)
    value = answer.get("SecretString")
    if value is None:
        raise SecretUnavailable(f"secretsmanager:{secret_id}: is binary; store the secret as a string")
    return str(value)


def read_ssm_parameter(name: str, deadline: Deadline = Deadline.NONE) -> str:
    """One SSM parameter, decrypted (SecureString) when needed, read by ``deadline``."""
    answer = _client("ssm", deadline).get_parameter(Name=name, WithDecryption=True)
    return str(answer["Parameter"]["Value"])
