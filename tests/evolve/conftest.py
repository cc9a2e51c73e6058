"""The tiny trained generator the session and app tests steer."""

import pytest

from experiments import human_ga


def ga_config(variant: str, data_dir: str, generator_dir: str):
  """``experiments/human_ga.py:<variant>`` on the test data and generator."""
  config = human_ga.get_config(variant)
  config.generator.dataset.data_dir = data_dir
  config.generator_workdir = generator_dir
  return config


@pytest.fixture(scope="session")
def generator_dir(generator_run) -> str:
  """The finished tiny ``music_generator`` run (a GA loads it, never retrains)."""
  return generator_run[1]


@pytest.fixture(scope="session")
def tiny_generator(generator_dir):
  from audiojax.train import restore

  return restore(generator_dir)
