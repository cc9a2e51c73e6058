"""The classifier experiment end to end on the tiny music set, in process."""

import json
import pathlib

import numpy as np

from audiojax.train.writer import read_metrics


def test_classifier_experiment_writes_its_results(classifier_run, music_tiny):
  config, workdir, results = classifier_run
  tmp_path = pathlib.Path(workdir)

  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk == json.loads(json.dumps(results))
  n_test = len(music_tiny["test"])
  assert results["test_count"] == n_test
  assert np.sum(results["test_confusion"]) == n_test
  assert results["class_names"] == list(music_tiny["train"].class_names)
  assert 0.0 <= results["test_accuracy"] <= 1.0
  assert "| test_accuracy |" in (tmp_path / "results.md").read_text()
  assert (tmp_path / "confusion.png").stat().st_size > 1000
  assert json.loads((tmp_path / "config.json").read_text())["total_steps"] == 24

  records = read_metrics(workdir)
  train_loss = [r["train/loss"] for r in records if "train/loss" in r]
  assert len(train_loss) == 12
  assert np.mean(train_loss[-3:]) < np.mean(train_loss[:3])  # It learns.
  evals = [r for r in records if "validation/accuracy" in r]
  assert [r["step"] for r in evals] == [12, 24]
