"""A named registry: one plain dict per concept plus ``get`` that lists the valid names.

Every concept with interchangeable implementations (front ends, models, data sets,
evaluators, experiment kinds, GA strategies) keeps one ``Registry``, so that a typo in
a config fails at start-up with the list of names that would have worked.

Two ways to fill one, and no others: a decorator at the definition
(``@FRONTENDS.register("mel")``), or a dict literal beside the registry
(``Registry("model", {"mel_cnn": mel_cnn, ...})``). An entry of that dict may be a
lazy reference ``"package.module:attribute"``, imported on first ``get``: launching
one experiment then imports only the system it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
  """Raised when a registry has no entry of the requested name (a bad config value,
  hence also a ``ValueError``)."""

  def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
    return str(self.args[0])


class Lazy(str):
  """``"module:attribute"``: a registry entry imported when it is first asked for."""

  def resolve(self) -> object:
    module, sep, attribute = self.partition(":")
    if not sep:
      raise ValueError(f"lazy entry {self!r} must be 'module:attribute'")
    return getattr(importlib.import_module(module), attribute)


class Registry(Generic[T]):
  """A dict of named entries for one concept.

  Args:
    concept: what the entries are, used in error messages ("model", "front end").
    entries: the entries, when they are listed beside the registry; a ``str`` value
      is a lazy ``"module:attribute"`` reference.
  """

  def __init__(self, concept: str, entries: Mapping[str, T | str] | None = None):
    self.concept = concept
    self._entries: dict[str, T | Lazy] = {}
    for name, entry in (entries or {}).items():
      self.register(name, Lazy(entry) if isinstance(entry, str) else entry)

  def register(self, name: str, entry: T | None = None):
    """Adds ``entry`` under ``name``; without ``entry`` works as a decorator."""
    if entry is None:

      def decorator(fn: T) -> T:
        self.register(name, fn)
        return fn

      return decorator
    if name in self._entries:
      raise ValueError(f"{self.concept} {name!r} is registered twice")
    self._entries[name] = entry
    return entry

  def get(self, name: str) -> T:
    """Returns the entry called ``name`` (importing it if it is lazy).

    Raises:
      UnknownNameError: naming the valid entries.
    """
    try:
      entry = self._entries[name]
    except (KeyError, TypeError):
      raise UnknownNameError(
        f"unknown {self.concept} {name!r}; valid names: {', '.join(sorted(self))}"
      ) from None
    if isinstance(entry, Lazy):
      entry = self._entries[name] = entry.resolve()
    return entry

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(sorted(self._entries))

  def __len__(self) -> int:
    return len(self._entries)

  def items(self) -> list[tuple[str, T]]:
    """Every ``(name, entry)`` by name, lazy entries imported."""
    return [(name, self.get(name)) for name in self]
