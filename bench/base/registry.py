"""One generic registry type; one instance per grid axis (tasks, representations, models) and per cohort source.

Entries register themselves with a decorator in their own module. A duplicate name raises; an unknown name raises
with the names that exist and the closest matches, so a typo in a grid file is caught before any cell runs.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    info: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """name -> object (a class or builder function) plus declared metadata (`info`)."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self._package = package
        self._entries: dict[str, Entry[T]] = {}
        self._renamed: dict[str, str] = {}  # former name -> the message naming its successor
        self._loaded = package is None

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name].obj is not obj:
                raise RegistryError(f"duplicate {self.kind} name {name!r} (already {self._entries[name].obj!r})")
            self._entries[name] = Entry(name, obj, dict(info))
            return obj

        return deco

    def _load(self) -> None:
        """Import every module of the axis package once, so their decorators run."""
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self._package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_") and mod.name != "base":
                importlib.import_module(f"{self._package}.{mod.name}")

    def rename(self, old: str, new: str, note: str = "") -> None:
        """Record that entry `old` is now `new`: looking `old` up raises one line naming `new` (no silent alias)."""
        self._renamed[old] = f"{self.kind} {old!r} was renamed {new!r}" + (f": {note}" if note else "")

    def entry(self, name: str) -> Entry[T]:
        self._load()
        if name in self._renamed and name not in self._entries:
            raise RegistryError(self._renamed[name])
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint} (registered: {', '.join(sorted(self._entries)) or 'none'})"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register temporary entries and clean up)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load()
        return iter([self._entries[n] for n in sorted(self._entries)])
