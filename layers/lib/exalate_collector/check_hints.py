"""The fix hints of ``exalate-collector check``: one hint per ``error.type`` (``HINTS``), the "what to do"
column of docs/troubleshooting.md without its markup, which a test keeps equal to it; ``hint`` gives a
failure's, or a pointer to that page for a type it does not know.
"""

from __future__ import annotations

from . import errors

#: One fix hint per ``error.type``: the "what to do" column of docs/troubleshooting.md, without its
#: markup (a test compares the two).
HINTS: dict[str, str] = {
    "connection_not_found": "remove the relation from relations, or use relations: auto",
    "unauthorized": "the secret is wrong (the JWT secret, the token or the password): check its value;"
    " for jwt also try send_as: x-exalate-jwt and exp_unit: ms",
    "forbidden": "check auth.type and send_as (which auth); a proxy may strip the header",
    "secret_unavailable": "set the variable, or grant the function the secret's ARN"
    " (JwtSecretArns, SecretParameterArns)",
    "login_failed": 'check username ("" with a personal access token) and password;'
    " the node must be 4.x with the 4.0 API",
    "redirect": "fix base_url (context path, https://); the message names the target's host",
    "server_error": "look at the node's logs; it is not the collector's request",
    "http_error": "the status and an excerpt are in the detail (in a run: the event and the log line)",
    "timeout": "raise timeout_s, or lower concurrency on a slow node",
    "deadline_exceeded": "raise --deadline (Lambda: CollectorTimeout), or concurrency / limits.max_in_flight",
    "connection_failed": "check the host name and port from where the collector runs (DNS, VPC, firewall),"
    " and proxy: or HTTPS_PROXY when the node is reached through a proxy (running.md)",
    "tls_error": "verify_tls: /path/to/ca-bundle.pem for a private CA",
    "invalid_response": "something between the collector and Jira rewrites answers badly: a proxy, a load"
    " balancer; the detail names what was wrong",
    "too_large": "raise max_body_bytes; a queue that large is worth a look on the node",
    "unexpected_content_type": "base_url points to a page, not the API: check the context path",
    "invalid_json": "the archive keeps the answer byte for byte (archive.md); the API document's own"
    " bloberrorresponses example is such a body",
    "unexpected_shape": "please report it with the archived answer (the 4.0 shapes are guesses)",
    "internal_error": "a bug: please report it with the log line",
    "discovery_failed": "see the failed poll of 4.0/connections beside it; with more connections than"
    " discover.max, raise it or narrow discover.name",
    "handoff_failed": "check the queue and the function's permission to send",
    "staging_failed": "check the bucket and the function's permission to put",
    "archive_write_failed": "check the directory (--archive-dir) or the bucket",
    "archive_read_failed": "look at the dead-letter queue; the staging lifecycle may have removed it",
    "checksum_mismatch": "look at the dead-letter queue; something else wrote under staging/",
    "archive_conflict": "two deployments share a bucket and prefix: give each its own ARCHIVE_PREFIX",
    "state_read_failed": "check STATE_BUCKET / --state-dir and permissions",
    "state_corrupt": "nothing: the next run starts anew (ages restart, standing errors count as new)",
    "state_write_failed": "check permissions; do runs overlap (two crontab lines, one state)?",
    "zabbix_send_failed": "a host just created is taken once the server has loaded it (CacheUpdateFrequency:"
    " 60 s on 6.0, 10 s on 7.0): run again; else check the host exists with the template linked, named like"
    " the node or zabbix_host (zabbix.md)",
    "export_redirected": "set the endpoint variable to the URL the message names",
    "export_refused": "read the backend's message: 401/403 an API key (OTEL_EXPORTER_OTLP_HEADERS), 400 the request"
    " (e.g. flate: corrupt input: a proxy re-encoding the body), 413 EXALATE_OTLP_MAX_REQUEST_KB",
    "export_rejected": "the backend's message says which (too old, a label limit, ...)",
    "export_unreachable": "check the endpoint, the network path and the run's deadline",
    "export_too_large": "raise the bound",
}


def hint(failure: errors.ReportedFailure) -> str:
    return HINTS.get(failure.error_type, "see docs/troubleshooting.md")
