"""The auth scheme registry: a scheme is its settings (keys with specs) and a builder, one line in
SCHEMES; the parser, the builder, the secret lists and the docs table follow. A scratch scheme proves
that adding one needs nothing else (docs/development.md, "How to add an auth scheme")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pytest
from exalate_collector import config_reference, redact
from exalate_collector.auth import Fixed, Signed
from exalate_collector.auth_base import AuthSettings
from exalate_collector.auth_schemes import SCHEMES, Scheme, authenticator_for, register, unregister
from exalate_collector.config import AuthConfig, parse_config, unset_environment_secrets
from exalate_collector.errors import ConfigError
from exalate_collector.fields import Spec, setting
from exalate_collector.node_config import NodeConfig
from exalate_collector.runner import prepare_targets


# ---- the scratch scheme: what a new module would hold --------------------------------------------
@dataclass(frozen=True, repr=False)
class HeaderKeyAuth(AuthSettings):
    """`auth: {type: scratch-key}`: an API key in a header of the operator's choice."""

    type: ClassVar[str] = "scratch-key"
    header: str = setting(Spec("string", "the header that carries the key"), "X-Api-Key")
    key: str | None = setting(Spec("secret", "the API key (a reference)", required=True), None)


class HeaderKeyAuthenticator(Fixed):
    def __init__(self, header: str, key: str) -> None:
        self._signed = Signed(headers={header: key})

    def sign(self, path: str, query: Mapping[str, str]) -> Signed:
        return self._signed


def build_header_key(node: NodeConfig, secrets: Mapping[str, str]) -> HeaderKeyAuthenticator:
    assert isinstance(node.auth, HeaderKeyAuth)
    redact.remember(secrets["key"])
    return HeaderKeyAuthenticator(node.auth.header, secrets["key"])


# ---- and the one registration line --------------------------------------------------------------
@pytest.fixture
def scratch():
    register(Scheme(HeaderKeyAuth, build_header_key))
    yield
    unregister("scratch-key")


def node(**auth):
    return {"nodes": [{"name": "n", "base_url": "https://j.example.com", "relations": ["A"], "auth": auth}]}


def test_the_built_in_schemes():
    assert list(SCHEMES)[:4] == ["jwt", "token", "basic", "login"]


def test_a_registered_scheme_is_parsed_from_its_declarations(scratch):
    auth = parse_config(node(type="scratch-key", key="${K}")).nodes[0].auth
    assert auth == AuthConfig(type="scratch-key", key="${K}") == HeaderKeyAuth(key="${K}")
    assert (auth.type, auth.header) == ("scratch-key", "X-Api-Key")
    with pytest.raises(ConfigError) as caught:
        parse_config(node(type="scratch-key", header=3, secret="s"))
    assert caught.value.problems == [
        "nodes[0] (n): auth.secret: unknown key for auth type scratch-key",
        "nodes[0] (n): auth.header: must be a string",
        "nodes[0] (n): auth.key: required: a non-empty string",
    ]
    with pytest.raises(ConfigError, match=f"is not one of {', '.join(SCHEMES)}$"):
        parse_config(node(type="oauth"))
    assert list(SCHEMES)[-1] == "scratch-key"


def test_a_registered_scheme_is_built_with_its_references_resolved_and_never_shown(scratch, caplog):
    config = parse_config(node(type="scratch-key", header="X-Key", key="literal-api-key-0123456789"))
    with caplog.at_level(logging.WARNING):
        (target,) = prepare_targets(config, lambda ref: ref)
    assert target.authenticator is not None
    assert target.authenticator.sign("/p", {}).headers == {"X-Key": "literal-api-key-0123456789"}
    assert "literal credential" in caplog.text  # its secret key, from its declaration
    assert "literal-api-key" not in repr(config.nodes[0]) and "literal-api-key" not in caplog.text
    assert "literal-api-key" not in redact.scrub("sent literal-api-key-0123456789")
    redact.forget_all()


def test_the_secret_lists_come_from_the_declarations(scratch):
    auth = HeaderKeyAuth(key="${K}")
    assert (auth.references, dict(auth.secret_keys)) == (("${K}",), {"key": "${K}"})
    config = parse_config(node(type="scratch-key", key="${K}"))
    assert unset_environment_secrets(config, {}) == [
        "nodes[0] (n): auth.key: environment variable K is not set or empty; export it, or correct the name in ${K}"
    ]
    assert "`nodes[].auth.key` | secret reference | required |" in config_reference.table()
    assert authenticator_for(auth, {"${K}": "v" * 20}.__getitem__).sign("/", {}).headers == {"X-Api-Key": "v" * 20}


def test_a_name_is_registered_once(scratch):
    with pytest.raises(ValueError, match="already registered"):
        register(Scheme(HeaderKeyAuth, build_header_key))


@pytest.mark.parametrize(
    ("auth", "references", "secrets"),
    [
        ({"secret": "${S}"}, ("${S}",), {"secret": "${S}"}),
        ({"type": "token", "token": "${T}"}, ("${T}",), {"token": "${T}"}),
        # a user name is read through a reference and forgotten after a 401, but is no secret: a
        # literal one (the example's 'monitoring') is not warned about
        ({"type": "basic", "username": "monitoring", "password": "${P}"}, ("monitoring", "${P}"), {"password": "${P}"}),
        ({"type": "login", "username": "${U}", "password": "${P}"}, ("${U}", "${P}"), {"password": "${P}"}),
        ({"type": "login", "password": "${P}"}, ("${P}",), {"password": "${P}"}),
    ],
)
def test_the_built_in_schemes_secret_lists(auth, references, secrets):
    settings = parse_config(node(**auth)).nodes[0].auth
    assert (settings.references, dict(settings.secret_keys)) == (references, secrets)
