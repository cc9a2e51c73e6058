"""Shared set-up: the compilation cache and the tiny embedded data sets, built once."""

import glob
import os
import shutil
import tempfile
import time

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from audiojax import platform  # noqa: E402

platform.configure()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """A tfds data dir shared by every test of the session (builders write here once)."""
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def music_tiny(data_dir):
  """The ``tiny`` config of the embedded music set, built once per session."""
  from audiojax import data

  return {
    split: data.load("audiojax_music", split, data_dir=data_dir, config="tiny")
    for split in ("train", "validation", "test")
  }


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory, music_tiny, data_dir):
  """A finished tiny ``classifier`` run: ``(config, workdir, results)``."""
  from audiojax import experiment
  from experiments import classifier

  config = classifier.get_config("tiny")
  config.dataset.data_dir = data_dir
  config.total_steps = 24
  config.eval_every = 12
  workdir = str(tmp_path_factory.mktemp("classifier_run"))
  return config, workdir, experiment.run(config, workdir)


@pytest.fixture(scope="session")
def generator_run(tmp_path_factory, music_tiny, data_dir):
  """A finished tiny ``music_generator`` run: ``(config, workdir, results)``."""
  from audiojax import experiment
  from experiments import music_generator

  config = music_generator.get_config("tiny")
  config.dataset.data_dir = data_dir
  workdir = str(tmp_path_factory.mktemp("generator_run"))
  return config, workdir, experiment.run(config, workdir)


@pytest.fixture(scope="session")
def transcriber_run(tmp_path_factory, music_tiny, data_dir):
  """``(config, workdir, results, final_params)`` of the ``tiny`` config."""
  from audiojax import experiment
  from audiojax.train import loop
  from experiments import transcriber

  config = transcriber.get_config("tiny")
  config.dataset.data_dir = data_dir
  workdir = str(tmp_path_factory.mktemp("transcriber_run"))
  final = {}
  train = loop.train

  def keep_state(*args, **kwargs):  # what loop.train ended with, for the tests
    state, results = train(*args, **kwargs)
    final["params"] = state.params
    return state, results

  loop.train = keep_state
  try:
    results = experiment.run(config, workdir)
  finally:
    loop.train = train
  return config, workdir, results, final["params"]


@pytest.fixture(scope="session")
def on_forced_devices():
  """``run(script, devices=8) -> object``: runs ``script`` in a fresh Python with
  ``devices`` forced host CPU devices (the flag must be set before jax is imported,
  hence a subprocess) and returns the JSON its last output line prints."""
  import json
  import subprocess
  import sys

  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def run(script: str, devices: int = 8):
    env = dict(
      os.environ,
      XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
      JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
      [sys.executable, "-c", script],
      cwd=repo,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

  return run


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
