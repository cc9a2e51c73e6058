"""Which of several app replicas runs the GA: a lock released when its holder dies.

Every replica of a session serves raters; exactly one also runs the GA (renders,
fine-tunes, tells), because two would publish two different generations. The
replicas elect that one with a lock the *engine* releases when the holder's process
dies, so a crashed leader cannot keep it and no lease timing is needed:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on one
  connection the leader keeps open. A killed process's connection is closed by the
  kernel, the server ends its backend and drops the lock.
* SQLite: an exclusive ``flock`` on ``PATH.leader`` beside the database file (the
  kernel drops it with the process), for replicas on one machine.

Followers retry :meth:`try_acquire` every few seconds; :meth:`held` checks that a
leader still holds its lock (a PostgreSQL connection can drop under a live process).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from typing import Any

from audiojax.ratings.errors import RatingError


def lock_key(name: str) -> int:
  """A signed 64-bit advisory-lock key for ``name`` (stable across processes)."""
  digest = hashlib.sha256(f"audiojax:{name}".encode()).digest()
  return int.from_bytes(digest[:8], "big", signed=True)


class FileLeaderLock:
  """An exclusive ``flock`` on ``path`` (replicas on one machine, SQLite)."""

  def __init__(self, path: str):
    self.path = path
    self._fd: int | None = None

  def try_acquire(self) -> bool:
    if self._fd is not None:
      return True
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      return False
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    self._fd = fd
    return True

  def held(self) -> bool:
    return self._fd is not None

  def release(self) -> None:
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None


class PostgresLeaderLock:
  """A session-level advisory lock on a connection of its own (not the pool's)."""

  def __init__(self, url: str, name: str, *, connect_timeout: float = 10.0):
    self.url, self.key = url, lock_key(name)
    self.connect_timeout = connect_timeout
    self._conn: Any = None

  def try_acquire(self) -> bool:
    import psycopg

    if self.held():
      return True
    self.release()
    try:
      conn = psycopg.connect(
        self.url, autocommit=True, connect_timeout=int(self.connect_timeout)
      )
    except psycopg.OperationalError as e:
      raise RatingError(f"cannot reach the ratings store to elect a leader: {e}") from e
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
    if not got:
      conn.close()
      return False
    self._conn = conn
    return True

  def held(self) -> bool:
    if self._conn is None or self._conn.closed:
      return False
    try:
      row = self._conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND granted"
        " AND pid=pg_backend_pid() AND classid::bigint=%s AND objid::bigint=%s"
        " AND objsubid=1",
        ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
      ).fetchone()
    except Exception:  # noqa: BLE001 -- a dropped connection holds nothing
      return False
    return bool(row and row[0])

  def release(self) -> None:
    if self._conn is not None:
      try:
        self._conn.close()  # Ends the server session: the lock goes with it.
      finally:
        self._conn = None
