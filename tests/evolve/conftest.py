"""A tiny trained generator, shared by the session and app tests."""

import pytest

from experiments import human_ga


def ga_config(variant: str, data_dir: str, generator_dir: str):
  """``experiments/human_ga.py:<variant>`` on the test data and generator."""
  config = human_ga.get_config(variant)
  config.generator.dataset.data_dir = data_dir
  config.generator_workdir = generator_dir
  return config


@pytest.fixture(scope="session")
def generator_dir(tmp_path_factory, music_tiny, data_dir) -> str:
  from audiojax.generate import experiment as gen_experiment

  path = str(tmp_path_factory.mktemp("generator"))
  gen_experiment.train_generator(ga_config("tiny", data_dir, path).generator, path)
  return path


@pytest.fixture(scope="session")
def tiny_generator(generator_dir, data_dir):
  from audiojax.generate import experiment as gen_experiment

  config = ga_config("tiny", data_dir, generator_dir)
  return gen_experiment.train_generator(config.generator, generator_dir)
