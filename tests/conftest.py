"""Shared set-up: the compilation cache and the tiny embedded data sets, built once."""

import os

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
