"""The exception tree. The class name of every ``PollFailure`` subclass *is* its ``error.type``.

``error.type`` is the class name in snake case (``ConnectionNotFound`` -> ``connection_not_found``),
so the names users see on dashboards and the names in the code cannot drift apart.

::

    CollectorError
    ├── ConfigError              invalid configuration; raised at start, before any request
    ├── RunFailed                a run's archive hand-off or export failed (raised after the run)
    │   └── ExportFailed         the OTLP backend refused the export or could not be reached
    └── ReportedFailure          a failure reported as telemetry (error.type), never raised past a run
        ├── ExportFailure        an OTLP request was not delivered whole (the run fails after reporting it)
        │   ├── ExportRedirected 3xx: redirects are not followed (a POST would lose its body)
        │   ├── ExportRefused    4xx/5xx, with the backend's own message
        │   ├── ExportRejected   2xx whose partial_success rejected points or records
        │   ├── ExportUnreachable  no answer: connection, TLS, timeout, or no time left
        │   └── ExportTooLarge   one item alone larger than a request may be: never sent
        ├── OutputFailure        an output other than OTLP did not take the run's values
        │   └── ZabbixSendFailed the Zabbix server or proxy was unreachable, answered an error, or refused values
        ├── StateFailure         what the collector remembers between runs could not be used; it starts fresh
        │   ├── StateReadFailed  the state could not be read (S3 or the local file refused)
        │   ├── StateCorrupt     the state is not valid JSON of a known schema
        │   └── StateWriteFailed the state could not be written (refused, or conflicts did not settle)
        ├── ArchiveFailure       the raw answers of a run could not be handed to the archive
        │   ├── HandoffFailed    the SQS message could not be sent (after retries)
        │   ├── StagingFailed    the claim-check object could not be written to the staging prefix
        │   ├── ArchiveWriteFailed  the archive object could not be written (local directory or S3)
        │   ├── ArchiveReadFailed  the claim-checked staging object could not be read (archiver)
        │   ├── ChecksumMismatch the claim-checked object is not what the message says (archiver)
        │   └── ArchiveConflict  an archive object with other content already exists under that key
        ├── DiscoveryFailed      relations: auto could not read the connection list; the state's list was used
        └── PollFailure          one GET of one endpoint did not give a usable answer
        ├── ConnectionNotFound   400 "Connection `X` not found": the relation is gone, not the node
        ├── AuthenticationFailure
        │   ├── Unauthorized     401: the node rejected the credentials
        │   ├── Forbidden        403: the node saw no (valid) authentication
        │   ├── SecretUnavailable  the credential could not be read (env, Secrets Manager, SSM)
        │   └── LoginFailed      auth type login: the authenticate POST gave no token
        ├── Redirect             3xx, e.g. to a login page
        ├── ServerError          5xx
        ├── HttpError            any other status that is not 200
        ├── Timeout              no complete answer within timeout_s
        ├── DeadlineExceeded     still unanswered when the run's deadline came
        ├── ConnectionFailed     DNS, refused, reset, or closed before the answer was complete
        ├── TlsError             certificate or handshake failure
        ├── InvalidResponse      not valid HTTP/1.1: framing, a folded or malformed header, bytes outside an answer
        ├── TooLarge             body over max_body_bytes
        ├── UnexpectedContentType  200 but not JSON (often an HTML page)
        ├── InvalidJson          200 JSON that does not parse (the seed's own bloberrorresponses example)
        ├── UnexpectedShape      JSON not of the expected shape (the message names the first mismatching path)
        └── InternalError        the collector itself failed on this endpoint (a bug: please report it)
"""

from __future__ import annotations

import re

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(name: str) -> str:
    """``ConnectionNotFound`` -> ``connection_not_found``."""
    return _CAMEL.sub("_", name).lower()


class CollectorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(CollectorError):
    """The configuration is invalid. The message names the node and the key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class RunFailed(CollectorError):
    """The run finished but could not deliver all its output (archive hand-off or telemetry export).

    Raised by the Lambda handler after everything else was done and reported, so that the function's
    Errors metric and alarms see it.
    """


class ExportFailed(RunFailed):
    """The telemetry backend refused the export or could not be reached."""


class ReportedFailure(CollectorError):
    """A failure that a run reports (metric, event, log line) instead of raising.

    ``error_type`` is the snake-case class name. ``detail`` is a one-line explanation that never
    contains a token, a secret or payload content.
    """

    error_type: str = "reported_failure"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.error_type = snake_case(cls.__name__)

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PollFailure(ReportedFailure):
    """One poll of one endpoint failed."""

    #: True when the failure is about credentials: such events are logged at ERROR, not WARN.
    authentication: bool = False
    #: True when the failure prevents polling the whole node (no request is sent): it is reported in
    #: one event and one log line for the node, while every endpoint still counts it in its metrics.
    node_wide: bool = False

    def __init__(self, detail: str, status_code: int | None = None, excerpt: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.excerpt = excerpt


class ConnectionNotFound(PollFailure):
    """The node answered 400 "Connection `X` not found": the relation was removed, the node is fine."""


class AuthenticationFailure(PollFailure):
    """The node did not accept our credentials, or we could not produce them."""

    authentication = True


class Unauthorized(AuthenticationFailure):
    """401. Exalate documents it as *incorrect* credentials (wrong secret, expired or malformed token)."""


class Forbidden(AuthenticationFailure):
    """403. Exalate documents it as *not authenticated* (the token was not seen at all)."""


class SecretUnavailable(AuthenticationFailure):
    """The node's secret could not be read from the environment, Secrets Manager or SSM; nothing is sent."""

    node_wide = True


class LoginFailed(AuthenticationFailure):
    """The login (POST /rest/issuehub/4.0/authenticate) gave no token: refused, or an answer without a JWT."""


class Redirect(PollFailure):
    """3xx. Usually a login page or a proxy in front of Jira; never followed."""


class ServerError(PollFailure):
    """5xx. Exalate documents 500 as a bug on the node."""


class HttpError(PollFailure):
    """Any other status than 200 that has no more specific type."""


class Timeout(PollFailure):
    """No complete answer within the node's ``timeout_s`` (connect plus the whole body)."""


class DeadlineExceeded(PollFailure):
    """The request was still unanswered (or not yet sent) when the run's deadline came."""


class ConnectionFailed(PollFailure):
    """The connection could not be made or broke: DNS, refused, reset, closed mid-body."""


class TlsError(PollFailure):
    """TLS handshake or certificate verification failed."""


class InvalidResponse(PollFailure):
    """The answer is not valid HTTP/1.1: bad framing (chunk sizes, duplicate or conflicting Content-Length),
    a folded or malformed header, or bytes sent outside an answer (before the request, a second answer, on
    an idle connection). Nothing of it is used."""


class TooLarge(PollFailure):
    """The body exceeded ``max_body_bytes``; reading stopped there."""


class UnexpectedContentType(PollFailure):
    """A 200 answer that is not JSON, typically an HTML login or error page."""


class InvalidJson(PollFailure):
    """A 200 JSON answer that does not parse."""


class UnexpectedShape(PollFailure):
    """Valid JSON that is not of the endpoint's shape; the detail names the first mismatching path."""


class InternalError(PollFailure):
    """The collector failed while handling this endpoint. A bug; the rest of the run goes on."""


class DiscoveryFailed(ReportedFailure):
    """``relations: auto``: the node's connection list could not be read or understood; the run polled
    the relations of the last list kept in the state (none when there is no such list)."""


class ArchiveFailure(ReportedFailure):
    """The raw answers of a run could not be archived. The run's handler fails after reporting it."""


class HandoffFailed(ArchiveFailure):
    """The message for the archiver could not be sent to the queue, after retries."""


class StagingFailed(ArchiveFailure):
    """The claim-check object could not be written under the staging prefix, after retries."""


class ArchiveWriteFailed(ArchiveFailure):
    """The archive object could not be written (local directory, or S3 in direct mode)."""


class ArchiveReadFailed(ArchiveFailure):
    """The claim-checked staging object could not be read (archiver only): refused, or gone while no
    archive object was written from it."""


class ChecksumMismatch(ArchiveFailure):
    """A claim-checked object's size or SHA-256 differs from what the message says (archiver only)."""


class ArchiveConflict(ArchiveFailure):
    """An object with different content already exists under the archive key; it is never replaced."""


class StateFailure(ReportedFailure):
    """What the collector remembers between runs could not be used. The run goes on from a fresh state:
    ages restart at zero and every standing error counts as new."""


class StateReadFailed(StateFailure):
    """The state could not be read (S3 refused or failed, or the local file could not be opened)."""


class StateCorrupt(StateFailure):
    """The state is not valid JSON of a schema this version knows; it is replaced."""


class StateWriteFailed(StateFailure):
    """The state could not be written: refused, or concurrent runs kept conflicting."""


class ExportFailure(ReportedFailure):
    """An OTLP request of the run's export was not delivered whole: counted in exalate.export.dropped and
    exalate.export.requests, logged with what the backend said, and the run fails (CLI exit 1, Lambda
    RunFailed); events not delivered are reported again by the next run."""


class ExportRedirected(ExportFailure):
    """The backend answered 3xx. Redirects are not followed (a redirected POST loses its body, or sends the
    data and its API key where the configuration did not say): set the endpoint to the final URL."""


class ExportRefused(ExportFailure):
    """The backend answered 4xx or 5xx (after retries for 429, 502, 503, 504); the message quotes its answer."""


class ExportRejected(ExportFailure):
    """The backend answered 2xx but its partial_success rejected data points or log records."""


class ExportUnreachable(ExportFailure):
    """No answer: the connection or TLS failed, no answer came in time, or no time was left in the run."""


class ExportTooLarge(ExportFailure):
    """One data point or log record alone is larger than a request may be (EXALATE_OTLP_MAX_REQUEST_KB)."""


class OutputFailure(ReportedFailure):
    """An output other than OTLP did not take the run's values. The run fails after reporting it, as for a
    refused OTLP export (Lambda error, CLI exit 1)."""


class ZabbixSendFailed(OutputFailure):
    """The Zabbix server or proxy could not be reached, answered with an error, or refused values of
    items that exist (a host or a template item is missing)."""


_ABSTRACT = {"PollFailure", "AuthenticationFailure", "ArchiveFailure", "StateFailure", "OutputFailure", "ExportFailure"}


def _concrete(root: type[ReportedFailure]) -> list[type[ReportedFailure]]:
    found: list[type[ReportedFailure]] = []

    def walk(cls: type[ReportedFailure]) -> None:
        for sub in cls.__subclasses__():
            if sub.__name__ not in _ABSTRACT:
                found.append(sub)
            walk(sub)

    walk(root)
    return found


def poll_failure_types() -> list[type[ReportedFailure]]:
    """Every concrete poll failure class, in declaration order."""
    return _concrete(PollFailure)


def archive_failure_types() -> list[type[ReportedFailure]]:
    return _concrete(ArchiveFailure)


def state_failure_types() -> list[type[ReportedFailure]]:
    return _concrete(StateFailure)


def output_failure_types() -> list[type[ReportedFailure]]:
    return _concrete(OutputFailure)


def export_failure_types() -> list[type[ReportedFailure]]:
    return _concrete(ExportFailure)


def error_types() -> list[str]:
    """The documented set of ``error.type`` values: poll, discovery, archive, state, output, then export failures."""
    classes = poll_failure_types() + [DiscoveryFailed] + archive_failure_types() + state_failure_types()
    return [cls.error_type for cls in classes + output_failure_types() + export_failure_types()]
