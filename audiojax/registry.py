"""A named registry: one plain dict per concept plus ``get`` that lists the valid names.

Every concept with interchangeable implementations (front ends, models, data sets,
attacks, unlearning methods, GA strategies) keeps one ``Registry``, so that a typo in a
config fails at start-up with the list of names that would have worked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
  """Raised when a registry has no entry of the requested name."""

  def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
    return str(self.args[0])


class Registry(Generic[T]):
  """A dict of named entries for one concept.

  Args:
    concept: what the entries are, used in error messages ("model", "front end").
  """

  def __init__(self, concept: str):
    self.concept = concept
    self._entries: dict[str, T] = {}

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
    """Returns the entry called ``name``.

    Raises:
      UnknownNameError: naming the valid entries.
    """
    try:
      return self._entries[name]
    except KeyError:
      raise UnknownNameError(
        f"unknown {self.concept} {name!r}; valid names: {', '.join(sorted(self))}"
      ) from None

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(sorted(self._entries))

  def __len__(self) -> int:
    return len(self._entries)

  def items(self) -> list[tuple[str, T]]:
    return sorted(self._entries.items())


Factory = Callable[..., object]
