"""The GA leader lock over both backends: one holder at a time, released by its
holder's death (SIGKILL) and taken by the next, and a holder knows when it lost it."""

import os
import signal
import subprocess
import sys

import pytest

from audiojax.ratings.leader import lock_key
from audiojax.ratings.store import RatingStore

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_HOLD = """
import sys, time
from audiojax.ratings.store import RatingStore
store = RatingStore(sys.argv[1])
lock = store.leader_lock("ga")
print("acquired" if lock.try_acquire() else "refused", flush=True)
time.sleep(600)
"""


def test_one_holder_at_a_time_until_released(new_target):
  target = new_target("leader")
  with RatingStore(target) as a, RatingStore(target) as b:
    first, second = a.leader_lock("ga"), b.leader_lock("ga")
    assert first.try_acquire() and first.held()
    assert first.try_acquire()  # Re-entrant for its holder.
    assert not second.try_acquire() and not second.held()
    other_name = b.leader_lock("export")
    assert other_name.try_acquire()  # Another name is another lock.
    first.release()
    assert not first.held()
    assert second.try_acquire() and second.held()
    assert not first.try_acquire()
    second.release()
    other_name.release()


def test_a_killed_holder_releases_the_lock(new_target):
  target = new_target("killed")
  RatingStore(target).close()  # The schema, made once.
  holder = subprocess.Popen(
    [sys.executable, "-c", _HOLD, target],
    cwd=REPO,
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    assert holder.stdout.readline().strip() == "acquired"
    with RatingStore(target) as store:
      lock = store.leader_lock("ga")
      assert not lock.try_acquire()
      holder.send_signal(signal.SIGKILL)
      holder.wait()
      # PostgreSQL ends the dead client's session once it sees the socket closed.
      import time

      deadline = time.monotonic() + 20
      while not lock.try_acquire():
        assert time.monotonic() < deadline, "the dead holder's lock was never freed"
        time.sleep(0.1)
      assert lock.held()
      lock.release()
  finally:
    holder.kill()
    holder.wait()


def test_a_postgres_holder_sees_it_lost_the_lock(new_target, backend):
  if backend != "postgresql":
    pytest.skip("a file lock cannot be taken from a live holder")
  import psycopg

  target = new_target("lost")
  with RatingStore(target) as store:
    lock = store.leader_lock("ga")
    assert lock.try_acquire()
    pid = lock._conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(target, autocommit=True) as admin:
      admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert not lock.held()
    assert lock.try_acquire() and lock.held()  # It may run for it again.
    lock.release()


def test_lock_keys_are_stable_signed_64_bit():
  assert lock_key("ga") == lock_key("ga") != lock_key("gb")
  assert -(2**63) <= lock_key("ga") < 2**63
