"""The database under the ratings store: row types and durable transactions.

Votes for the human-guided GA (Singh et al., 2025, "Improving AI-generated music with
user-guided training") arrive from many Gradio worker threads at once and the process
may be killed at any moment, so a transaction is acknowledged only once it is
durable and writers take turns. By default the store is one SQLite file in WAL mode
(readers never block the writer, a second process can read or write the same file);
a ``postgresql://`` URL puts it on PostgreSQL for several app replicas
(:mod:`audiojax.ratings.backends`). :class:`RatingDatabase` owns the backend, the
versioned schema and the write transactions;
:class:`audiojax.ratings.store.RatingStore` adds the votes on top.
"""

from __future__ import annotations

import collections
import os
from typing import Self

from audiojax.ratings import backends
from audiojax.ratings.backends import SCHEMA_VERSION  # noqa: F401  (re-exported)

# Rows as returned by the store. A Rating and a Comparison carry their clips'
# generation and individual; a Comparison has clip_a < clip_b and winner in (a, b).
Clip = collections.namedtuple("Clip", "clip_id generation individual seed file created")
Rating = collections.namedtuple(
  "Rating", "id rater_id clip_id rating created generation individual"
)
Comparison = collections.namedtuple(
  "Comparison",
  "id rater_id clip_a clip_b winner created generation individual_a individual_b",
)
RaterInfo = collections.namedtuple("RaterInfo", "rater_id created weight flagged")


class RatingDatabase:
  """A ratings database, safe for threads and processes (and, on PostgreSQL, for
  several app replicas). Usable as a context manager.

  Args:
    target: a database file (or ``sqlite:PATH``), created with its schema if
      missing, or a ``postgresql://`` URL (:mod:`audiojax.ratings.backends`).
    busy_timeout: seconds to wait for another process's write lock (SQLite) or a
      pooled connection (PostgreSQL).
  """

  def __init__(self, target: str | os.PathLike, *, busy_timeout=30.0):
    self._backend = backends.open_backend(target, busy_timeout=busy_timeout)
    self.path = self._backend.name
    self.kind = self._backend.kind

  def _write(self):
    """One write transaction (serialised with every other writer): committed on
    exit, rolled back on error."""
    return self._backend.write()

  def _query(self, sql: str, args: tuple | dict = ()) -> list[tuple]:
    return self._backend.query(sql, args)

  @property
  def _integrity_errors(self) -> tuple[type[Exception], ...]:
    return self._backend.integrity_errors

  def leader_lock(self, name: str = "ga"):
    """A lock that elects one process of many to run ``name``
    (:mod:`audiojax.ratings.leader`): ``try_acquire()``, ``held()``, ``release()``."""
    return self._backend.leader_lock(name)

  def close(self) -> None:
    """Closes the connection(s); further use raises :class:`RatingError`."""
    self._backend.close()

  def __enter__(self) -> Self:
    return self

  def __exit__(self, *exc) -> None:
    self.close()
