"""The bundled Exalate node simulator."""

from .server import Behaviour, NodeSimulator, repaired_body, seed_body

__all__ = ["Behaviour", "NodeSimulator", "repaired_body", "seed_body"]
