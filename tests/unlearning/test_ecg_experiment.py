"""The ``ecg_unlearning`` experiment end to end on the tiny ECG set: a restorable
population model, the exposure rows, every method's row with the standard metrics,
the forget score against retraining, and the tables and figure on disk."""

import json
import os

import pytest

from audiojax import experiment, train, unlearning
from experiments import ecg_unlearning

pytestmark = pytest.mark.slow

COLUMNS = {
  "forget_acc",
  "retain_acc",
  "test_acc",
  "heldout_acc",
  "mia_auc",
  "mia_acc",
  "mia_efficacy",
  "seconds",
  "seconds_vs_retrain",
  "forget_score",
  "forget_quality",
}


def test_every_method_gets_a_row(tmp_path, data_dir):
  c = ecg_unlearning.get_config("tiny")
  c.pretrain.dataset.data_dir = data_dir
  workdir = str(tmp_path / "ecg")
  results = experiment.run(c, workdir)

  methods = results["methods"]
  assert set(methods) == set(unlearning.methods_for("classification")) | {"original"}
  for name, row in methods.items():
    if name == "original":
      continue
    assert COLUMNS <= set(row), (name, sorted(row))
    for key in COLUMNS - {"seconds", "seconds_vs_retrain"}:
      assert 0.0 <= row[key] <= 1.0, (name, key, row[key])
    assert row["seconds"] > 0
    assert any(k.startswith("fgsm_") for k in row) and any(
      k.startswith("pgd_") for k in row
    )
  # Retraining against itself: identical confidences, the top score; its time is
  # the unit of every other method's.
  assert methods["retrain"]["forget_quality"] == 1.0
  assert methods["retrain"]["seconds_vs_retrain"] == 1.0
  # The exposure rows: the population model and the personalized one per patient.
  assert len(results["patients"]) == c.patients == 1
  (patient,) = results["exposure"].values()
  assert set(patient) == {"population", "personalized"}
  assert patient["personalized"] == results["methods"]["original"]
  # The population model is a finished classifier run anyone can restore.
  base = train.restore(os.path.join(workdir, "base"))
  assert base.step == c.pretrain.total_steps
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["methods"] == methods
  for name in ("exposure.png", "methods.md", "results.md"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  with open(os.path.join(workdir, "methods.md")) as f:
    text = f.read()
  assert all(f"| {name} |" in text for name in unlearning.methods_for("classification"))
