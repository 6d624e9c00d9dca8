"""The ``simulate`` command: a simulated Exalate node on 127.0.0.1 until Ctrl-C, for poking at by hand and
for rehearsing a configuration. ``Simulation`` is what it serves (relations and their 4.0 connection list,
the credentials it takes, the context path, latency, the repaired or the printed blob errors example) and
builds the ``NodeSimulator``; the banner it prints says all that and gives a configuration that polls it.
The simulator package is imported only when a node is built, never by ``run``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cli_report import CommandFailed
from .endpoints import LOGIN_PATH

if TYPE_CHECKING:
    from .simulator import NodeSimulator

#: The shared secret of the JWTs the simulator takes unless told otherwise (``simulate --secret``, the demo).
DEMO_SECRET = "demo-shared-secret-of-32-bytes-at-least"


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` serves: its relations and connection list, credentials and examples."""

    port: int = 8089
    relations: tuple[str, ...] = ("AllContent", "GROOVY")
    #: Status of each relation in the 4.0 connection list (ACTIVE when not named).
    statuses: Mapping[str, str] = field(default_factory=dict)
    secret: str = DEMO_SECRET
    login: tuple[str, str] | None = None
    token: str | None = None
    basic: tuple[str, str] | None = None
    context_path: str = "/jira"
    latency: float = 0.0
    broken_blob_errors: bool = False

    def simulator(self) -> NodeSimulator:
        from .simulator import NodeSimulator

        node = NodeSimulator(
            list(self.relations),
            context_path=self.context_path,
            secret=self.secret,
            static_token=self.token,
            basic=self.basic,
            latency_s=self.latency,
            login=self.login,
            login_only=True,
            examples="seed" if self.broken_blob_errors else "repaired",
        )
        for name, status in self.statuses.items():
            node.set_status(name, status)
        return node


def simulate(simulation: Simulation) -> int:
    simulator = simulation.simulator()
    try:
        simulator.start(simulation.port)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CommandFailed(
            f"cannot listen on 127.0.0.1:{simulation.port}: {reason}; choose another --port (0: any free port)"
        ) from None
    with simulator as node:
        print(simulation_banner(node.base_url, simulation), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _yaml(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML scalar, quoted ('}', ':', '' and all)


def simulation_banner(base_url: str, simulation: Simulation) -> str:
    """What ``simulate`` serves, and a configuration that polls it."""
    relations = list(simulation.relations)
    listed = ", ".join(f"{name} {simulation.statuses.get(name, 'ACTIVE')}" for name in relations) or "empty"
    lines = [
        f"simulated Exalate node at {base_url}",
        f"  relations served: {', '.join(relations) or 'none'}"
        " (any other relation answers 400 'Connection ... not found')",
        f"  connection list (GET 4.0/connections, for relations: auto): {listed}",
        "  blob errors: "
        + (
            "the API document's example byte for byte: invalid JSON, a comma is missing (--broken-blob-errors)"
            if simulation.broken_blob_errors
            else "the API document's example with its missing comma restored (--broken-blob-errors: as printed)"
        ),
    ]
    if simulation.latency:
        lines.append(f"  latency: {simulation.latency:g} s added to every answer")
    if simulation.login is not None:
        user, password = simulation.login
        variable = "EXALATE_PASSWORD"
        lines.append(
            f"  credentials: login, POST {simulation.context_path}{LOGIN_PATH} as user {user!r} with password"
            f" {password!r}; GETs then take only its JWT, in X-exalate-jwt"
        )
        auth = f"{{type: login, username: {_yaml(user)}, password: {_yaml('${' + variable + '}')}}}"
    elif simulation.token is not None:
        variable = "EXALATE_TOKEN"
        lines.append(f"  credentials: the static token {simulation.token!r} (any send_as)")
        auth = f"{{type: token, token: {_yaml('${' + variable + '}')}, send_as: x-exalate-jwt}}"
    elif simulation.basic is not None:
        user, _ = simulation.basic
        variable = "EXALATE_PASSWORD"
        lines.append(f"  credentials: basic, user {user!r} with the password {simulation.basic[1]!r}")
        auth = f"{{type: basic, username: {_yaml(user)}, password: {_yaml('${' + variable + '}')}}}"
    else:
        variable = "EXALATE_JWT_SECRET"
        lines.append(
            f"  credentials: JWT HS256 with the shared secret {simulation.secret!r}"
            " (any send_as; exp in s or ms; qsh checked when present)"
        )
        auth = f"{{type: jwt, secret: {_yaml('${' + variable + '}')}}}"
    lines += [
        f"  poll it with this configuration (and {variable} set to that {variable.rsplit('_', 1)[-1].lower()}):",
        "    nodes:",
        "      - name: simulated",
        f"        base_url: {base_url}",
    ]
    if simulation.login is not None or not relations:
        lines += ["        relations: auto", "        collect: [relations, queues, errors, connections]"]
    else:
        lines.append(f"        relations: [{', '.join(relations)}]")
    lines += [f"        auth: {auth}", "Ctrl-C to stop"]
    return "\n".join(lines)
