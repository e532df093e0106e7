"""Registries by name (DESIGN principle 5): GANs, objectives, penalties, models, datasets, metrics.

``gankit list`` and config validation read them.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from .errors import ConfigError, clip, printable

T = TypeVar("T")


def shown(word, limit: int = 60) -> str:
    """A name typed by a user, for a message: one line, at most ``limit`` characters."""
    return clip(printable(str(word)), limit)


def nearest(word: str, choices, prefix: str = "") -> str:
    """The closest valid choice to ``word``, formatted for an error message ('' if none)."""
    match = difflib.get_close_matches(str(word)[:100], [str(c) for c in choices], n=1, cutoff=0.4)
    return f"; did you mean '{prefix}{match[0]}'?" if match else ""


class Registry(Generic[T]):
    """A name -> object mapping with helpful lookup errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise ConfigError(
                f"unknown {self.kind} '{shown(name)}'{nearest(name, self._items)} (valid: {valid})"
            ) from None

    def __contains__(self, name: Any) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self):
        return sorted(self._items.items())

    def names(self) -> list:
        return sorted(self._items)
