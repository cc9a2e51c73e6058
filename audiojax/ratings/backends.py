"""Where the ratings live: one SQLite file (embedded, the default) or PostgreSQL.

The store (:mod:`audiojax.ratings.store`) writes its SQL once, in the dialect both
engines share (``?`` and ``:name`` placeholders, ``ON CONFLICT``, ``RETURNING``),
and runs it through a backend:

* :class:`SQLiteBackend` — stdlib ``sqlite3`` in WAL mode with
  ``synchronous=FULL``, one connection behind a lock; every write is one
  ``BEGIN IMMEDIATE`` transaction, so writers take turns and a vote is
  acknowledged only once durable. Several processes may share the file.
* :class:`PostgresBackend` — psycopg 3 with a connection pool, for several app
  replicas behind a load balancer. Every write is one transaction that first takes
  a transaction-scoped advisory lock (``pg_advisory_xact_lock``): writers take
  turns across every replica, exactly as SQLite's single writer does, so the rate
  and address limits (read, check, insert) hold under any concurrency; unique
  votes are also constraints of the tables.

:func:`open_backend` picks one from a target: a path or ``sqlite:PATH``, or a
``postgresql://`` URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from audiojax.ratings.errors import RatingError

SCHEMA_VERSION = 2  # 2: votes record the client address.

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
  rater_id TEXT PRIMARY KEY, created REAL NOT NULL,
  weight REAL NOT NULL DEFAULT 1, flagged TEXT NULL);
CREATE TABLE IF NOT EXISTS clips (
  clip_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, individual INTEGER NOT NULL,
  seed INTEGER NOT NULL, file TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (
  id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL REFERENCES raters,
  clip_id TEXT NOT NULL REFERENCES clips,
  rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), created REAL NOT NULL,
  address TEXT NULL, UNIQUE (rater_id, clip_id));
CREATE TABLE IF NOT EXISTS comparisons (
  id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL REFERENCES raters,
  clip_a TEXT NOT NULL REFERENCES clips, clip_b TEXT NOT NULL REFERENCES clips,
  winner TEXT NOT NULL, created REAL NOT NULL, address TEXT NULL,
  CHECK (clip_a < clip_b AND winner IN (clip_a, clip_b)),
  UNIQUE (rater_id, clip_a, clip_b));
"""

# The same tables in PostgreSQL's types: 8-byte floats (its REAL has 4 bytes),
# identity columns for the vote ids, text compared byte-wise ("C") as in SQLite.
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
  rater_id TEXT COLLATE "C" PRIMARY KEY, created DOUBLE PRECISION NOT NULL,
  weight DOUBLE PRECISION NOT NULL DEFAULT 1, flagged TEXT NULL);
CREATE TABLE IF NOT EXISTS clips (
  clip_id TEXT COLLATE "C" PRIMARY KEY, generation BIGINT NOT NULL,
  individual BIGINT NOT NULL, seed BIGINT NOT NULL, file TEXT NOT NULL,
  created DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rater_id TEXT COLLATE "C" NOT NULL REFERENCES raters,
  clip_id TEXT COLLATE "C" NOT NULL REFERENCES clips,
  rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
  created DOUBLE PRECISION NOT NULL, address TEXT NULL, UNIQUE (rater_id, clip_id));
CREATE TABLE IF NOT EXISTS comparisons (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rater_id TEXT COLLATE "C" NOT NULL REFERENCES raters,
  clip_a TEXT COLLATE "C" NOT NULL REFERENCES clips,
  clip_b TEXT COLLATE "C" NOT NULL REFERENCES clips,
  winner TEXT COLLATE "C" NOT NULL, created DOUBLE PRECISION NOT NULL,
  address TEXT NULL,
  CHECK (clip_a < clip_b AND winner IN (clip_a, clip_b)),
  UNIQUE (rater_id, clip_a, clip_b));
"""

# What both engines write the same way: the session values and the indexes.
_SHARED_SCHEMA = """
CREATE INDEX IF NOT EXISTS clips_by_generation ON clips (generation, individual);
CREATE INDEX IF NOT EXISTS ratings_by_clip ON ratings (clip_id);
CREATE INDEX IF NOT EXISTS ratings_by_time ON ratings (rater_id, created);
CREATE INDEX IF NOT EXISTS comparisons_by_time ON comparisons (rater_id, created);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ratings_by_address ON ratings (address);
CREATE INDEX IF NOT EXISTS comparisons_by_address ON comparisons (address);
"""

# The advisory lock every PostgreSQL write takes (any constant; "AJXR" in ASCII).
WRITE_LOCK = 0x414A5852


def _statements(schema: str) -> list[str]:
  return [s for s in schema.split(";") if s.strip()]


def parse_target(target: str | os.PathLike) -> tuple[str, str]:
  """``("sqlite", path)`` or ``("postgresql", url)`` for a store target.

  Raises:
    RatingError: for a URL of another scheme.
  """
  if isinstance(target, os.PathLike):
    return "sqlite", os.fspath(target)
  if not isinstance(target, str) or not target:
    raise RatingError(f"a ratings store is a path or a URL, got {target!r}")
  if target.startswith("sqlite:"):
    return "sqlite", target[len("sqlite:") :].removeprefix("//")
  scheme = target.split("://", 1)[0] if "://" in target else ""
  if scheme in ("postgresql", "postgres"):
    return "postgresql", target
  if scheme:
    raise RatingError(
      f"unknown ratings store {scheme}://; use a path, sqlite:PATH or postgresql://"
    )
  return "sqlite", target


def redacted(url: str) -> str:
  """``url`` without its password, for messages."""
  return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class SQLiteBackend:
  """A SQLite file in WAL mode: one connection behind a lock.

  Args:
    path: database file; created with its schema if missing.
    busy_timeout: seconds to wait for another process's write lock.
  """

  kind = "sqlite"
  integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)

  def __init__(self, path: str, *, busy_timeout: float = 30.0):
    self.name = path
    # One connection behind a lock: a vote is a few ms of SQLite work, so the threads
    # gain nothing from connections of their own, and Gradio's worker threads come and
    # go (a per-thread connection would leak with each of them).
    self._lock = threading.RLock()
    self._closed = False
    self._conn = sqlite3.connect(
      path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )

  def init_schema(self) -> None:
    db = self._db()
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
      raise RatingError(f"cannot put {self.name!r} in WAL mode")
    with self.write() as tx:
      version = tx.execute("PRAGMA user_version").fetchone()[0]
      if version > SCHEMA_VERSION:
        raise RatingError(
          f"{self.name!r} has schema version {version}, newer than {SCHEMA_VERSION}"
        )
      if version == 1:  # Votes of a version-1 file keep a NULL address.
        for table in ("ratings", "comparisons"):
          tx.execute(f"ALTER TABLE {table} ADD COLUMN address TEXT NULL")
      for statement in _statements(_SQLITE_SCHEMA + _SHARED_SCHEMA):
        tx.execute(statement)
      tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

  def _db(self) -> sqlite3.Connection:
    if self._closed:
      raise RatingError(f"the rating store {self.name!r} is closed")
    return self._conn

  @contextlib.contextmanager
  def write(self) -> Iterator[Any]:
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

  def query(self, sql: str, args: tuple | dict = ()) -> list[tuple]:
    with self._lock:
      return self._db().execute(sql, args).fetchall()

  def leader_lock(self, name: str) -> Any:
    """The lock electing which process runs ``name`` (a file lock beside the file)."""
    from audiojax.ratings.leader import FileLeaderLock

    return FileLeaderLock(f"{self.name}.{name}.leader")

  def close(self) -> None:
    with self._lock:
      if not self._closed:
        self._closed = True
        self._conn.close()


_NAMED = re.compile(r":([A-Za-z_]\w*)")


def to_pyformat(sql: str) -> str:
  """The shared dialect's placeholders in psycopg's: ``?`` -> ``%s``, ``:name`` ->
  ``%(name)s`` (the store's SQL has no ``%``, ``?`` or ``:`` in its literals)."""
  return _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))


class _PostgresTransaction:
  """What a write sees: ``execute(sql, args)`` in the shared dialect."""

  def __init__(self, conn):
    self._conn = conn

  def execute(self, sql: str, args: tuple | dict = ()):
    return self._conn.execute(to_pyformat(sql), args)


class PostgresBackend:
  """A PostgreSQL database through a psycopg connection pool.

  Args:
    url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``.
    busy_timeout: seconds to wait for a connection (and for the server at start).
    pool_size: most connections this process opens.
  """

  kind = "postgresql"

  def __init__(self, url: str, *, busy_timeout: float = 30.0, pool_size: int = 8):
    try:
      import psycopg
      import psycopg_pool
    except ImportError as e:
      raise RatingError(
        "a postgresql:// ratings store needs psycopg 3 and psycopg_pool "
        "(pip install 'psycopg[binary,pool]')"
      ) from e
    self.name = redacted(url)
    self._url = url
    self.integrity_errors = (psycopg.errors.IntegrityError,)
    self._closed = False
    self._pool = psycopg_pool.ConnectionPool(
      url,
      min_size=1,
      max_size=pool_size,
      timeout=busy_timeout,
      kwargs={"autocommit": True},
      open=False,
    )
    try:
      self._pool.open(wait=True, timeout=busy_timeout)
    except psycopg_pool.PoolTimeout as e:
      self._pool.close()
      raise RatingError(f"cannot connect to the ratings store {self.name}") from e

  def init_schema(self) -> None:
    # Replicas starting together take turns: CREATE ... IF NOT EXISTS is not safe
    # against itself in PostgreSQL, so the schema is made under the write lock.
    with self.write() as tx:
      for statement in _statements(_POSTGRES_SCHEMA + _SHARED_SCHEMA):
        tx.execute(statement)
      row = tx.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
      version = int(row[0]) if row else SCHEMA_VERSION
      if version > SCHEMA_VERSION:
        raise RatingError(
          f"{self.name} has schema version {version}, newer than {SCHEMA_VERSION}"
        )
      tx.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE"
        " SET value=excluded.value",
        (str(SCHEMA_VERSION),),
      )

  def _check_open(self) -> None:
    if self._closed:
      raise RatingError(f"the rating store {self.name} is closed")

  @contextlib.contextmanager
  def write(self) -> Iterator[Any]:
    """One transaction under the store-wide write lock: committed on exit, rolled
    back on error (the lock is released either way)."""
    self._check_open()
    with self._pool.connection() as conn, conn.transaction():
      conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
      yield _PostgresTransaction(conn)

  def query(self, sql: str, args: tuple | dict = ()) -> list[tuple]:
    self._check_open()
    with self._pool.connection() as conn:
      return conn.execute(to_pyformat(sql), args).fetchall()

  def leader_lock(self, name: str) -> Any:
    """The lock electing which process runs ``name`` (an advisory lock)."""
    from audiojax.ratings.leader import PostgresLeaderLock

    return PostgresLeaderLock(self._url, name)

  def close(self) -> None:
    if not self._closed:
      self._closed = True
      self._pool.close()


def open_backend(
  target: str | os.PathLike, *, busy_timeout: float = 30.0, pool_size: int = 8
):
  """The backend of a store target: a path or ``sqlite:PATH`` (SQLite), or a
  ``postgresql://`` URL; its schema is made (or checked) before it is returned."""
  kind, where = parse_target(target)
  if kind == "sqlite":
    backend: Any = SQLiteBackend(where, busy_timeout=busy_timeout)
  else:
    backend = PostgresBackend(where, busy_timeout=busy_timeout, pool_size=pool_size)
  try:
    backend.init_schema()
  except BaseException:
    backend.close()
    raise
  return backend
