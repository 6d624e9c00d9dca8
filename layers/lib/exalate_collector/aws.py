"""The one factory of AWS clients (archive, state, secrets, configuration): every call bounded in time.

botocore's defaults (60 s connect, 60 s read, up to 5 attempts with backoff) let one hanging S3 or SQS
endpoint cost minutes. Here every client has explicit connect and read timeouts and a bounded number
of attempts. Inside ``budget.within(until)`` (the run's phases) they are cut from the time that remains,
so the calls of a phase, retries and backoff included, end by ``until``; once it has passed a call
fails at once with ``BudgetSpent`` (a ``BotoCoreError``, so every caller's handling applies).

boto3 is imported on first use (cold start stays cheap). Clients are cached per process, keyed by
the environment they were built from and by their timeouts (rounded down to a short ladder of values,
so a warm process holds a handful of clients, not one per run). Clients follow ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .budget import remaining

#: Bounds of one attempt, and attempts per call, when no deadline is nearer.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 3
#: botocore's standard retry mode waits up to 2**attempt seconds (random) between attempts.
_BACKOFF_S = {1: 0.0, 2: 2.0, 3: 6.0}
_LADDER = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")

_lock = threading.Lock()
_sessions: dict[tuple[str | None, ...], Any] = {}
_clients: dict[tuple[object, ...], Any] = {}


_error_classes: dict[str, type[Exception]] = {}


def _budget_spent() -> Exception:
    """A ``BudgetSpent`` error: a BotoCoreError subclass, defined once botocore is imported."""
    if "BudgetSpent" not in _error_classes:
        from botocore.exceptions import BotoCoreError

        class BudgetSpent(BotoCoreError):
            fmt = "no time left in the run's budget for this AWS call"

        _error_classes["BudgetSpent"] = BudgetSpent
    return _error_classes["BudgetSpent"]()


def _floor(seconds: float) -> float:
    fitting = [step for step in _LADDER if step <= seconds]
    return fitting[-1] if fitting else _LADDER[0]


def bounds(left: float | None) -> tuple[float, float, int]:
    """(connect timeout, read timeout, attempts) such that a call, retries included, fits in ``left``."""
    if left is None:
        return CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_ATTEMPTS
    connect = min(CONNECT_TIMEOUT_S, _floor(left / 3))
    read = min(READ_TIMEOUT_S, _floor(left / 2))
    attempts = 1
    for n in (MAX_ATTEMPTS, 2):
        if n * (connect + read) + _BACKOFF_S[n] <= left:
            attempts = n
            break
    return connect, read, attempts


def client(service: str) -> Any:
    """A boto3 client for ``service`` whose timeouts fit the current deadline (see ``within``)."""
    left = remaining()
    if left is not None and left <= 0:
        raise _budget_spent()
    connect, read, attempts = bounds(left)
    env = tuple(os.environ.get(key) for key in _ENV_KEYS)
    key = (service, env, connect, read, attempts)
    with _lock:
        found = _clients.get(key)
        if found is None:
            from botocore.config import Config

            session = _sessions.get(env)
            if session is None:
                import boto3

                from .logs import pin_library_loggers

                pin_library_loggers()  # botocore at DEBUG prints SecretString values: never, whoever set it up
                session = _sessions[env] = boto3.session.Session()
            config = Config(
                connect_timeout=connect,
                read_timeout=read,
                retries={"total_max_attempts": attempts, "mode": "standard"},
            )
            found = _clients[key] = session.client(service, config=config)
        return found


def error_code(exc: Exception) -> str:
    """An AWS error's code (``NoSuchKey``, ``AccessDenied``), else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def forget_clients() -> None:
    """Drop cached sessions and clients (tests that change the AWS environment)."""
    with _lock:
        _clients.clear()
        _sessions.clear()


class LazyClient:
    """Stands for ``client(service)``: nothing is built before the first call, and each call gets a
    client bounded by the deadline in force at that moment."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self.service), name)
