"""The bundled Exalate node simulator."""

from .server import Behaviour, NodeSimulator, seed_body

__all__ = ["Behaviour", "NodeSimulator", "seed_body"]
