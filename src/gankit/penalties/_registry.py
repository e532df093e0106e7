"""The penalty registry, in its own module so that every penalty module can register into it
without importing the package ``__init__`` (which imports them)."""
from __future__ import annotations

from ..registry import Registry

PENALTIES: Registry = Registry("penalty")
