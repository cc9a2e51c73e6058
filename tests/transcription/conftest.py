"""A finished tiny ``transcriber`` run, with the params it ended training with."""

import pytest


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
