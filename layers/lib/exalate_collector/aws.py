"""The one factory of AWS clients (archive, state, secrets, configuration): every call bounded in time.

botocore's defaults (60 s connect, 60 s read, up to 5 attempts with backoff) let one hanging S3 or SQS
endpoint cost minutes. Here every client has explicit connect and read timeouts and a bounded number
of attempts, cut from what is left of the ``Deadline`` (deadline.py) each client is asked for with, so
the calls of a run's phase, retries and backoff included, end by the phase's deadline; once it has
passed, asking for a client fails at once with ``BudgetSpent`` (a ``BotoCoreError``, so every caller's
handling applies). Under ``Deadline.NONE`` a client has the fixed bounds below.

What holds a client across calls (an archive sink, a state store) holds a ``LazyClient`` and asks it for
a client per operation, with that operation's deadline: the deadline is an argument all the way down,
so a call made in another thread is bounded like one made in the caller's.

boto3 is imported on first use (cold start stays cheap). Clients are cached per process, keyed by
the environment they were built from and by their timeouts (rounded down to a short ladder of values,
so a warm process holds a handful of clients, not one per run). Clients follow ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

from .deadline import Deadline

#: Bounds of one attempt, and attempts per call, when no deadline is nearer.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 3
#: botocore's standard retry mode waits up to 2**attempt seconds (random) between attempts.
_BACKOFF_S = {1: 0.0, 2: 2.0, 3: 6.0}
_LADDER = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")

#: What an archive sink or a state store holds: a client per operation, bounded by that operation's
#: deadline (a ``LazyClient``; in a test, any callable).
ClientSource = Callable[[Deadline], Any]

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


def bounds(left: float) -> tuple[float, float, int]:
    """(connect timeout, read timeout, attempts) such that a call, retries included, fits in ``left``
    seconds; +inf (``Deadline.NONE.left()``): the fixed bounds."""
    if left == math.inf:
        return CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_ATTEMPTS
    connect = min(CONNECT_TIMEOUT_S, _floor(left / 3))
    read = min(READ_TIMEOUT_S, _floor(left / 2))
    attempts = 1
    for n in (MAX_ATTEMPTS, 2):
        if n * (connect + read) + _BACKOFF_S[n] <= left:
            attempts = n
            break
    return connect, read, attempts


def client(service: str, deadline: Deadline) -> Any:
    """A boto3 client for ``service`` whose calls, retries included, end by ``deadline``; raises
    ``BudgetSpent`` once it has passed."""
    left = deadline.left()
    if left <= 0:
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
    """A client source for one service: ``s3(deadline).put_object(...)``. Nothing is built before the
    first operation, and each operation gets ``client(service, deadline)`` at the moment it starts, so
    it is bounded by what is left of ``deadline`` then (and fails with ``BudgetSpent`` once it passed)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, deadline: Deadline) -> Any:
        return _Bound(self.service, deadline)


class _Bound:
    """``LazyClient(service)(deadline)``: stands for ``client(service, deadline)``, one per operation."""

    def __init__(self, service: str, deadline: Deadline) -> None:
        self.service, self.deadline = service, deadline

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self.service, self.deadline), name)
