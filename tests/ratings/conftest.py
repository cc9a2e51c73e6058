"""The ratings tests run over both store backends: a SQLite file, and a real
PostgreSQL server the session starts and stops itself (pytest-postgresql's executor
over the installed ``pg_ctl``, ``postgresql_server`` in ``tests/conftest.py``;
skipped, with the reason, where PostgreSQL or psycopg is missing)."""

import uuid

import pytest

BACKENDS = ("sqlite", "postgresql")


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
