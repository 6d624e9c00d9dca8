"""The six GET endpoints every Exalate relation answers (issuehub REST API 2.4)."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

API_PREFIX: Final = "/rest/issuehub/2.4/relations/"

SYNC_REQUESTS: Final = "syncevents/syncrequests"
BLOB_REQUESTS: Final = "syncevents/blobrequests"
SYNC_RESPONSES: Final = "syncrequests/syncresponses"
BLOB_RESPONSES: Final = "syncrequests/blobresponses"
SYNC_ERRORS: Final = "syncrequests/errorresponses"
BLOB_ERRORS: Final = "syncrequests/bloberrorresponses"

#: In the order of the API document. The value of the ``exalate.endpoint`` attribute.
ENDPOINTS: Final = (SYNC_REQUESTS, BLOB_REQUESTS, SYNC_RESPONSES, BLOB_RESPONSES, SYNC_ERRORS, BLOB_ERRORS)

#: Endpoints whose items are errors, and the field that carries each item's reason.
ERROR_REASON_FIELD: Final = {SYNC_ERRORS: "errorReason", BLOB_ERRORS: "blobErrorReason"}


def relation_path(relation: str, endpoint: str) -> str:
    """Path of one endpoint below the Jira context path; the relation name is percent-encoded."""
    return f"{API_PREFIX}{quote(relation, safe='')}/{endpoint}"
