"""The one registry idiom: things of one kind by name, registered with `register` (a decorator on a class or a
function, or a call on an instance) and looked up with a one-line error naming the known ones.

`builtin` names the modules that register the things edgedepth ships; they are imported on the first lookup,
because each of them imports its registry to register itself (importing them when the registry loads would be
a file cycle)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from runtime.errors import RequestError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → thing for one `kind` ("export format", "runner", …); `key(thing)` gives a thing's name."""

    def __init__(self, kind: str, key: Callable[[T], str], builtin: tuple[str, ...] = (),
                 error: type[Exception] = RequestError) -> None:
        self.kind = kind
        self.key = key
        self.builtin = builtin
        self.error = error
        self._things: dict[str, T] = {}
        self._loaded = not builtin

    def register(self, thing: T) -> T:
        """Add `thing` under `key(thing)` and return it (so it serves as a decorator); ValueError when another
        thing already holds the name (the same one registered again, as on a module reload, is fine)."""
        name = self.key(thing)
        if not name:
            raise ValueError(f"a {self.kind} needs a name: {thing!r}")
        held = self._things.get(name)
        if held is not None and not _same(held, thing):
            raise ValueError(f"{self.kind} name '{name}' is taken by {held!r}")
        self._things[name] = thing
        return thing

    def unregister(self, name: str) -> T | None:
        """Remove and return the thing registered as `name` (None when there is none): a plug-in's clean-up."""
        return self._things.pop(name, None)

    def get(self, name: str) -> T:
        """The thing registered as `name`; one line naming the known ones otherwise."""
        self._load()
        if name not in self._things:
            raise self.error(f"unknown {self.kind} '{name}' (known: {', '.join(sorted(self._things))})")
        return self._things[name]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._things)

    def values(self) -> list[T]:
        """Every registered thing, in registration order."""
        self._load()
        return list(self._things.values())

    def items(self) -> list[tuple[str, T]]:
        """(name, thing) pairs in registration order."""
        self._load()
        return list(self._things.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._things

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        """Import the builtin modules once (set first: they look the registry up while registering)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            for module in self.builtin:
                importlib.import_module(module)
        except BaseException:
            self._loaded = False
            raise


def _same(held: object, thing: object) -> bool:
    """Whether `thing` is `held` registered again: the same object, an equal one, or a class or function of the
    same qualified name (a module imported twice)."""
    if held is thing or held == thing:
        return True
    names = [f"{getattr(t, '__module__', '')}.{getattr(t, '__qualname__', '')}" for t in (held, thing)]
    return hasattr(held, "__qualname__") and names[0] == names[1]
