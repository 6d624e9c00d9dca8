"""The once-per-node 4.0 answers: documented shapes read exactly, unpublished ones tolerantly."""

from __future__ import annotations

import json

import jwt
import pytest
from exalate_collector.endpoints import CONNECTIONS, TABLE
from exalate_collector.errors import UnexpectedShape
from exalate_collector.login import expires_at, token_in
from exalate_collector.parse import interpret
from exalate_collector.readings import MAX_NAME_CHARS, Connection

TOTALS = [e.name for e in TABLE if e.answer == "total"]
CMONITOR = next(e.name for e in TABLE if e.answer == "error_count")
NAME = f"a connection name (at most {MAX_NAME_CHARS} characters, no control characters)"


def read(endpoint: str, value: object):
    return interpret(endpoint, 200, "application/json", json.dumps(value).encode())


@pytest.mark.parametrize("endpoint", TOTALS)
def test_totals_as_the_monitoring_guide_prints_them(endpoint):
    assert read(endpoint, {"limit": 0, "total": 20, "results": []}).items == 20
    assert read(endpoint, {"total": 3.0, "next": None, "extra": {"x": 1}}).items == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "$: expected an object with 'total', got a JSON array"),
        ({"limit": 0}, "$.total: expected a non-negative integer, got nothing"),
        ({"total": "20"}, "$.total: expected a non-negative integer, got a JSON string"),
        ({"total": -1}, "$.total: expected a non-negative integer, got a JSON number"),
        ({"total": True}, "$.total: expected a non-negative integer, got a JSON boolean"),
        # OTLP carries an int64: a larger number would make the whole metrics export fail
        ({"total": 2**63}, "$.total: expected a non-negative integer below 2^63, got a JSON number"),
        ({"total": 1e300}, "$.total: expected a non-negative integer below 2^63, got a JSON number"),
    ],
)
def test_a_total_of_another_shape_names_the_path(value, message):
    with pytest.raises(UnexpectedShape) as caught:
        read(TOTALS[0], value)
    assert caught.value.detail == message


def test_cmonitor():
    assert read(CMONITOR, {"numErrors": 0}).items == 0
    assert read(CMONITOR, {"numErrors": 7, "since": "yesterday"}).items == 7
    assert read(CMONITOR, {"numErrors": 2**63 - 1}).items == 2**63 - 1
    with pytest.raises(UnexpectedShape, match=r"^\$\.numErrors: expected a non-negative integer, got nothing$"):
        read(CMONITOR, {"errors": 7})


@pytest.mark.parametrize("wrap", [False, True])
def test_connections_as_a_list_or_results_unknown_fields_ignored(wrap):
    listed = [
        {"id": 1, "name": "AllContent", "status": "ACTIVE", "remoteNodeType": "JIRA_CLOUD", "extra": [1]},
        {"id": "2", "name": "Zendesk", "status": "deactivated"},
        {"name": "NoStatus"},
        {"id": 9, "name": "AllContent", "status": "ACTIVE"},  # the same name twice counts once
    ]
    reading = read(CONNECTIONS, {"results": listed, "total": 4} if wrap else listed)
    assert reading.connections == (
        Connection("AllContent", "ACTIVE", 1),
        Connection("Zendesk", "DEACTIVATED", "2"),
        Connection("NoStatus", "UNKNOWN", None),
    )
    assert reading.items == 3
    assert read(CONNECTIONS, [{"name": "L" * MAX_NAME_CHARS}]).items == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"connections": []},
            "$.results: expected a list of connections, got nothing",
        ),
        ({"results": {}}, "$.results: expected a list of connections, got a JSON object"),
        ([{"name": "A"}, "B"], "$[1]: expected an object, got a JSON string"),
        ([{"name": "A"}, {"name": None}], "$[1].name: expected a non-empty string, got a JSON null"),
        ({"results": [{"name": " "}]}, "$.results[0].name: expected a non-empty string, got a JSON string"),
        ([{"name": "A", "status": 1}], "$[0].status: expected a string, got a JSON number"),
        # a name goes into every URL, attribute and log line of its relation: no megabyte, no line break
        ([{"name": "A"}, {"name": "L" * 256}], f"$[1].name: expected {NAME}, got a JSON string"),
        ([{"name": "A\nnode=other poll failed"}], f"$[0].name: expected {NAME}, got a JSON string"),
        # not UTF-8 (a lone surrogate from a JSON escape), a line separator, a bidi override
        ([{"name": "Evil\ud800"}], f"$[0].name: expected {NAME}, got a JSON string"),
        ([{"name": "A\u2028B"}], f"$[0].name: expected {NAME}, got a JSON string"),
        ([{"name": "A\u202eB"}], f"$[0].name: expected {NAME}, got a JSON string"),
        ("ok", "$: expected a list of connections, got a JSON string"),
    ],
)
def test_a_connection_list_of_another_shape_names_the_first_mismatching_path(value, message):
    with pytest.raises(UnexpectedShape) as caught:
        read(CONNECTIONS, value)
    assert caught.value.detail == message


def test_the_login_token_is_found_in_the_header_or_the_body_and_its_exp_unit_detected():
    seconds = jwt.encode({"user": "", "iss": "EXALATE", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256")
    millis = jwt.encode({"exp": 2_000_000_000_000}, "k" * 32, algorithm="HS256")
    no_exp = jwt.encode({"user": "u"}, "k" * 32, algorithm="HS256")
    assert token_in({"X-Exalate-Jwt": seconds}, b"") == seconds
    assert token_in({}, json.dumps({"token": millis}).encode()) == millis
    assert token_in({}, millis.encode()) == millis
    assert token_in({"X-Exalate-Jwt": "not a jwt"}, b'{"message":"ok"}') is None
    # the scripts search the header for a JWT-shaped string too: a scheme in front of it is no reason to fail
    assert token_in({"X-Exalate-Jwt": f"Bearer {seconds}"}, b"{}") == seconds
    assert expires_at(seconds) == expires_at(millis) == 2_000_000_000
    assert expires_at(no_exp) == float("inf") and expires_at("eyJ.garbage.x") == float("inf")
