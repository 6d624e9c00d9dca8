"""The auth schemes: one registration line each, pairing a scheme's settings with its builder.

A scheme is its settings class (an ``auth_base.AuthSettings`` dataclass: ``type`` and its keys, each
declared once with its spec; ``secret`` and ``reference`` keys are read through ``secret_refs``) and a
builder ``(NodeConfig, resolved references) -> Authenticator``. The parser validates ``auth:`` from the
settings' specs, the runner builds from here, and the lists of secret references (the literal warning,
the environment check, what to forget after a 401) come from the settings. Adding a scheme: its module
and one line in ``SCHEMES`` (docs/development.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import auth, login
from .auth import Authenticator
from .auth_base import AuthSettings
from .node_config import NodeConfig


@dataclass(frozen=True)
class Scheme:
    settings: type[AuthSettings]
    build: Callable[[NodeConfig, Mapping[str, str]], Authenticator]

    @property
    def name(self) -> str:
        return self.settings.type


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme(auth.JwtAuth, auth.build_jwt),
        Scheme(auth.TokenAuth, auth.build_token),
        Scheme(auth.BasicAuth, auth.build_basic),
        Scheme(login.LoginAuth, login.build_login),
    )
}


def register(scheme: Scheme) -> None:
    """Add a scheme at run time (a test's scratch scheme; a plug-in). A name is registered once."""
    if scheme.name in SCHEMES:
        raise ValueError(f"auth type {scheme.name!r} is already registered")
    SCHEMES[scheme.name] = scheme


def unregister(name: str) -> None:
    SCHEMES.pop(name, None)


def settings_for(type: str = "jwt", **values: Any) -> AuthSettings:  # noqa: A002 - the configuration's key
    """A scheme's settings from keyword values, defaults filled (``AuthConfig(type=..., ...)``)."""
    return SCHEMES[type].settings(**values)


def authenticator_for(target: NodeConfig | AuthSettings, resolve: Callable[[str], str]) -> Authenticator:
    """Build a node's authenticator, resolving its secret references first. Raises SecretUnavailable.

    Given bare settings (no node: tests, a scheme that needs none), a node of that auth alone stands in.
    An unset optional reference (login's username '') is passed as ''."""
    node = target if isinstance(target, NodeConfig) else NodeConfig(name="", base_url="", relations=(), auth=target)
    secrets = {key: resolve(ref) for key, ref in node.auth.reference_keys.items()}
    return SCHEMES[node.auth.type].build(node, secrets)
