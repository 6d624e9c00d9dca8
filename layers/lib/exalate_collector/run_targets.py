"""Before and after polling, per node: its authenticator (or why it cannot be polled), where its
credentials were read from, one log line per failed poll, and the secrets to read again after a 401."""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import secret_refs
from .auth import scheme, short_key_warning
from .auth_schemes import authenticator_for
from .config import Config, NodeConfig
from .errors import LoginFailed, SecretUnavailable, Unauthorized
from .model import Exchange
from .poll import NodeTarget

log = logging.getLogger(__name__)


def prepare_targets(config: Config, resolve: Callable[[str], str]) -> list[NodeTarget]:
    """Each node with its authenticator, or the failure that keeps it from being polled."""
    targets = []
    for node in config.nodes:
        try:
            authenticator = authenticator_for(node, resolve)
        except SecretUnavailable as failure:
            targets.append(NodeTarget(node, None, failure))
        else:
            targets.append(NodeTarget(node, authenticator))
            log.debug(
                "auth node=%s %s; read from %s",
                node.name,
                scheme(node.auth),
                _sources(node),
                extra={"exalate.node": node.name, "exalate.auth.type": node.auth.type},
            )
            warning = short_key_warning(node.name, authenticator)
            if warning:
                log.warning("configuration: %s", warning, extra={"exalate.node": node.name})
        _warn_literal(node)
    return targets


def _sources(node: NodeConfig) -> str:
    """``auth.secret ${EXALATE_JWT_SECRET}``: where each credential was read from (never its value)."""
    keys = node.auth.reference_keys  # declared by the scheme (auth_schemes), username included
    return ", ".join(f"auth.{key} {secret_refs.describe(ref)}" for key, ref in keys.items()) or "-"


def _warn_literal(node: NodeConfig) -> None:
    """A credential of the scheme's (its ``secret`` keys: a user name is not one) written as a literal."""
    if any(secret_refs.is_literal(ref) for ref in node.auth.secret_keys.values()):
        log.warning(
            "node %s has a literal credential in its configuration; use ${ENV}, secretsmanager: or ssm:",
            node.name,
            extra={"exalate.node": node.name},
        )


def log_failures(exchanges: list[Exchange]) -> None:
    """One log line per failed poll; a node-wide failure (no request sent) once for its node."""
    reported: set[tuple[str, str]] = set()
    for ex in exchanges:
        failure = ex.failure
        if failure is None:
            continue
        level = logging.ERROR if failure.authentication else logging.WARNING
        fields: dict[str, object] = {"exalate.node": ex.node}
        args: tuple[object, ...]
        if failure.node_wide:
            if (ex.node, failure.error_type) in reported:
                continue
            reported.add((ex.node, failure.error_type))
            message, args = "node %s not polled: error.type=%s: %s", (ex.node, failure.error_type, failure.detail)
        else:
            fields |= {"exalate.relation": ex.relation, "exalate.endpoint": ex.endpoint}
            message = "poll failed: node=%s relation=%s endpoint=%s error.type=%s: %s"
            args = (ex.node, ex.relation, ex.endpoint, failure.error_type, failure.detail)
        fields["error.type"] = failure.error_type
        if failure.status_code is not None:
            fields["http.response.status_code"] = failure.status_code
        log.log(level, message, *args, extra=fields)


def forget_rejected_secrets(config: Config, exchanges: list[Exchange]) -> None:
    """A node that answered 401 may have a rotated secret: the next run reads it again (warm Lambda)."""
    rejected = {ex.node for ex in exchanges if isinstance(ex.failure, Unauthorized | LoginFailed)}
    for node in config.nodes:
        if node.name in rejected:
            for ref in node.auth.references:  # every reference of the scheme, the user name's too
                secret_refs.forget(ref)
