"""The ``unlearning`` experiment on the tiny music set: the session's tiny classifier
forgets random clips and a whole class; every method gets SalUn's columns and the
forget score, and the scenarios' sets are what they say."""

import os

import numpy as np
import pytest

from audiojax import data, experiment, unlearning
from audiojax.data import pipeline
from audiojax.unlearning import experiment as unlearning_experiment
from experiments import unlearning as unlearning_config

pytestmark = pytest.mark.slow


def test_scenario_sets_split_the_training_clips():
  rng = np.random.default_rng(0)
  train = {"audio": rng.normal(size=(50, 4)), "label": np.arange(50) % 5}
  test = {"audio": rng.normal(size=(20, 4)), "label": np.arange(20) % 5}
  c = unlearning_config.get_config("tiny")
  c.random_fraction, c.forget_class = 0.1, "c"
  names = tuple("abcde")
  rand = unlearning_experiment.scenario_sets("random", train, test, c, names)
  assert len(rand.forget["label"]) == 5 and len(rand.retain["label"]) == 45
  rows = {tuple(r) for r in rand.forget["audio"]} | {
    tuple(r) for r in rand.retain["audio"]
  }
  assert len(rows) == 50  # disjoint, and together the training set
  cls = unlearning_experiment.scenario_sets("class", train, test, c, names)
  assert set(cls.forget["label"]) == {2} and 2 not in set(cls.retain["label"])
  assert set(cls.heldout["label"]) == {2} and 2 not in set(cls.test["label"])
  c.forget_class = "z"
  with pytest.raises(unlearning.UnlearningError, match="'z' is not a class"):
    unlearning_experiment.scenario_sets("class", train, test, c, names)


def test_both_scenarios_fill_the_table(tmp_path, classifier_run):
  c = unlearning_config.get_config("tiny")
  c.classifier_workdir = classifier_run[1]
  # Every method is tested in test_methods.py and in the ECG experiment's test;
  # here three of them (one that trains, the rewinding one, the training-free one).
  keep = ("finetune", "scrub_r", "ssd")
  c.methods = {k: v for k, v in c.methods.items() if k in keep}
  workdir = str(tmp_path / "unlearning")
  results = experiment.run(c, workdir)
  assert set(results["scenarios"]) == {"random", "class"}
  for name, scenario in results["scenarios"].items():
    table = scenario["methods"]
    assert set(table) == {*keep, "retrain", "original"}
    for method, row in table.items():
      if method == "original":
        continue
      for key in (
        "forget_acc",
        "retain_acc",
        "test_acc",
        "mia_efficacy",
        "forget_score",
      ):
        assert 0.0 <= row[key] <= 1.0, (name, method, key)
    # Retraining never saw the forgotten class: it cannot predict it.
    if name == "class":
      assert table["retrain"]["forget_acc"] == 0.0
      assert table["retrain"]["forget_test_acc"] == 0.0
    assert os.path.getsize(os.path.join(workdir, f"{name}.png")) > 0
  with open(os.path.join(workdir, "methods.md")) as f:
    text = f.read()
  assert "SalUn CIFAR-10" in text and "| finetune |" in text
  # The forget set really is 30 % of the training split.
  train = pipeline.split_arrays(
    data.load(
      "audiojax_music",
      "train",
      data_dir=classifier_run[0].dataset.data_dir,
      config="tiny",
      label="family",
    ),
    fields=("audio",),
  )
  assert results["scenarios"]["random"]["forget_size"] == round(
    0.3 * len(train["label"])
  )
