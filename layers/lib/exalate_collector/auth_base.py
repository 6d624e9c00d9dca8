"""What every auth scheme's settings share: the scheme's name, its secret references, a safe repr.

A scheme's settings are a frozen dataclass deriving from ``AuthSettings`` whose fields are its keys,
each declared once with its ``fields.Spec`` (kind ``secret`` or ``reference`` for what is read through a
secret reference). The registry (``auth_schemes.py``) pairs it with the scheme's builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from . import fields


@dataclass(frozen=True)
class AuthSettings:
    #: The scheme's name, the value of ``auth.type``.
    type: ClassVar[str] = ""

    def __repr__(self) -> str:  # never show secrets, even by accident in a traceback
        shown = ", ".join(f"{key}={getattr(self, key)!r}" for key in ("send_as",) if hasattr(self, key))
        return f"AuthConfig(type={self.type!r}{', ' if shown else ''}{shown})"

    @property
    def reference_keys(self) -> Mapping[str, str]:
        """Key -> secret reference of every set key read through a reference (username included)."""
        return fields.references(self)

    @property
    def references(self) -> tuple[str, ...]:
        """Every secret reference of this configuration (to check the environment, to forget after a 401)."""
        return tuple(self.reference_keys.values())

    @property
    def secret_keys(self) -> Mapping[str, str]:
        """Key -> reference of the credentials proper: a literal among them is warned about. A user
        name is not one (it is an identifier, written as it is in the example), so it is not warned."""
        return fields.references(self, ("secret",))

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Rules between or inside this scheme's keys beyond their specs: (key, message) pairs."""
        return []
