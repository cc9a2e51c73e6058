"""The SQLite file under the ratings store: schema, row types, durable transactions.

Votes for the human-guided GA (Singh et al., 2025, "Improving AI-generated music with
user-guided training") arrive from many Gradio worker threads at once and the process
may be killed at any moment, so the store is SQLite (stdlib ``sqlite3``) in WAL mode
with ``synchronous=FULL``: a transaction is acknowledged only once it is durable,
readers never block the writer, and a second process can read (or write) the same
file. :class:`RatingDatabase` owns the connection, the versioned schema and the
``BEGIN IMMEDIATE`` write transactions; :class:`audiojax.ratings.store.RatingStore`
adds the votes on top.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
import threading
from typing import Self

from audiojax.ratings.errors import RatingError

SCHEMA_VERSION = 2  # 2: votes record the client address.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
  rater_id TEXT PRIMARY KEY, created REAL NOT NULL,
  weight REAL NOT NULL DEFAULT 1, flagged TEXT NULL);
CREATE TABLE IF NOT EXISTS clips (
  clip_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, individual INTEGER NOT NULL,
  seed INTEGER NOT NULL, file TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS clips_by_generation ON clips (generation, individual);
CREATE TABLE IF NOT EXISTS ratings (
  id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL REFERENCES raters,
  clip_id TEXT NOT NULL REFERENCES clips,
  rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), created REAL NOT NULL,
  address TEXT NULL, UNIQUE (rater_id, clip_id));
CREATE INDEX IF NOT EXISTS ratings_by_clip ON ratings (clip_id);
CREATE INDEX IF NOT EXISTS ratings_by_time ON ratings (rater_id, created);
CREATE TABLE IF NOT EXISTS comparisons (
  id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL REFERENCES raters,
  clip_a TEXT NOT NULL REFERENCES clips, clip_b TEXT NOT NULL REFERENCES clips,
  winner TEXT NOT NULL, created REAL NOT NULL, address TEXT NULL,
  CHECK (clip_a < clip_b AND winner IN (clip_a, clip_b)),
  UNIQUE (rater_id, clip_a, clip_b));
CREATE INDEX IF NOT EXISTS comparisons_by_time ON comparisons (rater_id, created);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ratings_by_address ON ratings (address);
CREATE INDEX IF NOT EXISTS comparisons_by_address ON comparisons (address);
"""

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
  """A SQLite connection with the ratings schema, safe for threads and processes.

  One connection serialised by a lock (threads) in WAL mode with ``busy_timeout``
  (processes). Usable as a context manager.

  Args:
    path: database file; created with its schema if missing.
    busy_timeout: seconds to wait for another process's write lock.
  """

  def __init__(self, path: str | os.PathLike, *, busy_timeout=30.0):
    self.path = os.fspath(path)
    # One connection behind a lock: a vote is a few ms of SQLite work, so the threads
    # gain nothing from connections of their own, and Gradio's worker threads come and
    # go (a per-thread connection would leak with each of them).
    self._lock = threading.RLock()
    self._closed = False
    self._conn = sqlite3.connect(
      self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
      self._init_schema()
    except BaseException:
      self.close()
      raise

  def _init_schema(self) -> None:
    db = self._db()
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
      raise RatingError(f"cannot put {self.path!r} in WAL mode")
    with self._write() as db:
      version = db.execute("PRAGMA user_version").fetchone()[0]
      if version > SCHEMA_VERSION:
        raise RatingError(
          f"{self.path!r} has schema version {version}, newer than {SCHEMA_VERSION}"
        )
      if version == 1:  # Votes of a version-1 file keep a NULL address.
        for table in ("ratings", "comparisons"):
          db.execute(f"ALTER TABLE {table} ADD COLUMN address TEXT NULL")
      for statement in _SCHEMA.split(";"):
        if statement.strip():
          db.execute(statement)
      db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

  def _db(self) -> sqlite3.Connection:
    if self._closed:
      raise RatingError(f"the rating store {self.path!r} is closed")
    return self._conn

  @contextlib.contextmanager
  def _write(self):
    """One ``BEGIN IMMEDIATE`` transaction: committed on exit, rolled back on error."""
    with self._lock:
      db = self._db()
      db.execute("BEGIN IMMEDIATE")
      try:
        yield db
      except BaseException:
        db.execute("ROLLBACK")
        raise
      db.execute("COMMIT")

  def _query(self, sql: str, args: tuple | dict = ()) -> list[tuple]:
    with self._lock:
      return self._db().execute(sql, args).fetchall()

  def close(self) -> None:
    """Closes the connection; further use raises :class:`RatingError`."""
    with self._lock:
      if not self._closed:
        self._closed = True
        self._conn.close()

  def __enter__(self) -> Self:
    return self

  def __exit__(self, *exc) -> None:
    self.close()
