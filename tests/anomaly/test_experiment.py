"""The ``anomaly`` experiment end to end on the tiny sets: every table is filled with
numbers in range, detectors land on disk where the monitor can load them, a rerun
loads them instead of fitting again, and the tables and figures are written."""

import json
import os

import numpy as np
import pytest

from audiojax import anomaly, experiment
from experiments import anomaly as anomaly_config

pytestmark = pytest.mark.slow


def _numbers(tree):
  for value in tree.values():
    if isinstance(value, dict):
      yield from _numbers(value)
    elif isinstance(value, float):
      yield value


def test_every_section_fills_its_table(
  tmp_path, data_dir, music_tiny, classifier_run, transcriber_run, monkeypatch
):
  c = anomaly_config.get_config("tiny")
  c.classifier.dataset.data_dir = data_dir
  c.datasets.music.classifier_workdir = classifier_run[1]
  c.notes.workdir = transcriber_run[1]
  workdir = str(tmp_path / "anomaly")
  results = experiment.run(c, workdir)

  detectors, peers = set(c.detectors), set(c.peers)
  assert set(results["faults"]) == detectors and set(results["peers"]) == peers
  for table in (results["faults"], results["peers"]):
    for row in table.values():
      assert set(row) == set(c.faults)
      for by_severity in row.values():
        assert set(by_severity) == {str(s) for s in c.severities}
        for cell in by_severity.values():
          assert 0.0 <= cell["auroc"] <= 1.0 and 0.0 <= cell["pauc"] <= 1.0
          assert cell["auroc"] == cell["music"]["auroc"]  # one data set: its numbers
          assert 0.0 <= cell["music"]["flagged"] <= 1.0
  # Clipping and dropout at severity 0.5 are no contest for the signal statistics.
  for fault in ("clipping", "dropout"):
    assert results["faults"]["statistics"][fault]["0.5"]["auroc"] >= 0.9
  assert set(results["summary"]["mean_auroc"]) == detectors | peers
  assert set(results["false_alarms"]["music"]) == detectors | peers

  m = results["mislabels"]["symmetric_0.25"]
  assert m["k"] == m["num_noisy"] == 4
  assert 0.0 <= m["cleanlab_precision_at_k"] <= 1.0
  # The second pass left out exactly what the first pass's cleanlab flagged.
  assert m["refit_left_out"] == m["cleanlab_flagged"]
  assert 0.0 <= m["refit_self_confidence_precision_at_k"] <= 1.0
  # Every ranker again on the time-shift-averaged probabilities of the same models.
  assert results["mislabels"]["tta_shifts"] == c.mislabels.tta_shifts > 1
  assert 0.0 <= m["tta_out_of_fold_accuracy"] <= 1.0
  assert 0.0 <= m["tta_cleanlab_precision_at_k"] <= 1.0
  assert set(results["notes"]) >= set(c.notes.kinds)
  for kind in c.notes.kinds:
    assert results["notes"][kind]["num_errors"] > 0
  adv = results["adversarial"]
  assert set(adv["sets"]) == {"pgd", "universal", "eot"}
  assert set(adv["adaptive"]) == {"1.0"}
  for row in [*adv["sets"].values(), *adv["adaptive"].values()]:
    assert set(row["auroc"]) == detectors | peers | {"supervised"}
  assert all(0.0 <= v <= 1.0 for v in _numbers(adv) if v == v and v <= 1.0)

  for name in ("tables.md", "auroc_music.png", "scores_music.png", "results.json"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  tables = open(os.path.join(workdir, "tables.md")).read()
  for heading in ("Faulty recordings", "Mislabels", "Wrong note", "Adversarial"):
    assert heading in tables

  # Saved where the monitor finds them; a rerun loads them, it does not fit again.
  saved = anomaly.load(os.path.join(workdir, "detectors", "music", "combined"))
  clips = np.stack([music_tiny["test"].source[i]["audio"] for i in range(2)])
  assert saved.score(clips).shape == (2,)

  def no_fit(*args, **kwargs):
    raise AssertionError("a rerun fit a detector again")

  monkeypatch.setattr(anomaly, "fit", no_fit)
  c.sections = ("faults",)
  again = experiment.run(c, workdir)
  assert again["faults"] == results["faults"]
  # The sections not rerun keep their tables.
  for key in ("mislabels", "notes", "adversarial"):
    assert again[key] == results[key]
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["faults"] == results["faults"]
