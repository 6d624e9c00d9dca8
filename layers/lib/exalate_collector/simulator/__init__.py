"""The bundled Exalate node simulator."""

from .answers import Behaviour, repaired_body, seed_body
from .server import NodeSimulator

__all__ = ["Behaviour", "NodeSimulator", "repaired_body", "seed_body"]
