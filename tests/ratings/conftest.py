"""The ratings tests run over both store backends: a SQLite file, and a real
PostgreSQL server the session starts and stops itself (pytest-postgresql's executor
over the installed ``pg_ctl``; skipped, with the reason, where PostgreSQL or psycopg
is missing)."""

import glob
import os
import shutil
import tempfile
import time
import uuid

import pytest

BACKENDS = ("sqlite", "postgresql")


def _pg_ctl() -> str | None:
  found = shutil.which("pg_ctl")
  if found:
    return found
  versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
  return versions[-1] if versions else None


@pytest.fixture(scope="session")
def postgresql_server():
  """``(executor, base_url)`` of a PostgreSQL server for the whole session."""
  pg_ctl = _pg_ctl()
  if pg_ctl is None:
    pytest.skip("PostgreSQL is not installed (launch/setup.sh installs it as root)")
  try:
    import port_for
    import psycopg
    from pytest_postgresql.executors.proc import PostgreSQLExecutor
  except ImportError as e:
    pytest.skip(f"the PostgreSQL tests need psycopg and pytest-postgresql: {e}")
  base = tempfile.mkdtemp(prefix="audiojax-pg-")
  executable = pg_ctl
  if os.geteuid() == 0:
    # The server refuses to run as root: pg_ctl runs as the postgres user, in a
    # directory that user owns.
    shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o755)
    executable = os.path.join(base, "pg_ctl")
    with open(executable, "w") as f:
      f.write(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
    os.chmod(executable, 0o755)
  port = port_for.select_random()
  executor = PostgreSQLExecutor(
    executable=executable,
    host="127.0.0.1",
    port=port,
    datadir=os.path.join(base, "data"),
    unixsocketdir=base,
    logfile=os.path.join(base, "server.log"),
    startparams="-w",
    dbname="audiojax",
    user="audiojax",
    postgres_options="-c listen_addresses=127.0.0.1 -c max_connections=200",
  )
  try:
    executor.start()
  except Exception as e:  # noqa: BLE001 -- reported as the skip reason
    shutil.rmtree(base, ignore_errors=True)
    pytest.skip(f"could not start PostgreSQL with {pg_ctl}: {e}")
  url = f"postgresql://audiojax@127.0.0.1:{port}"
  deadline = time.monotonic() + 60
  while True:  # pg_ctl status says "running" before connections are accepted
    try:
      psycopg.connect(f"{url}/postgres").close()
      break
    except psycopg.OperationalError:
      if time.monotonic() > deadline:
        executor.stop()
        pytest.skip(f"PostgreSQL at {url} never accepted connections")
      time.sleep(0.2)
  yield executor, url
  executor.stop()
  shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request):
  return request.param


@pytest.fixture
def new_target(backend, request, tmp_path):
  """``new_target(name) -> target``: a fresh, empty store of the test's backend."""
  if backend == "sqlite":
    yield lambda name: str(tmp_path / f"{name}.db")
    return
  import psycopg

  _, base_url = request.getfixturevalue("postgresql_server")
  made = []

  def make(name):
    db = f"t_{name}_{uuid.uuid4().hex[:8]}".lower()
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
      conn.execute(f'CREATE DATABASE "{db}"')
    made.append(db)
    return f"{base_url}/{db}"

  yield make
  with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
    for db in made:
      conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
