"""The ``attacks`` experiment end to end on tiny models: every table is filled with
numbers in range, the target can be a finished run of its own (the quickstart's),
and a rerun of one section keeps the other tables."""

import json
import os

import pytest

from audiojax import experiment
from experiments import attacks

pytestmark = pytest.mark.slow


def _config(data_dir, classifier_run, sections):
  c = attacks.get_config("tiny")
  c.classifier.dataset.data_dir = data_dir
  c.models = {
    "mel_cnn": dict(c.models.mel_cnn.to_dict(), workdir=classifier_run[1]),
    "raw_cnn": c.models.raw_cnn.to_dict(),
  }
  c.transfer.ensembles = {"ensemble": ("mel_cnn", "raw_cnn")}
  c.codecs.names = ("mp3_64",)
  c.defenses.training = {"pgd": c.defenses.training.pgd.to_dict()}
  c.defenses.transforms = {
    k: c.defenses.transforms[k].to_dict() for k in ("quantize_8bit", "noise_30db")
  }
  # The registry-wide attack tests cover every attack; here one per kind of budget.
  c.evals = {k: c.evals[k].to_dict() for k in ("pgd_linf", "spsa_linf", "cw_snr")}
  c.sections = sections
  return c


def _rates(table):
  for value in table.values():
    if isinstance(value, dict):
      yield from _rates(value)
    elif isinstance(value, float) and value == value:
      yield value


def test_every_section_fills_its_table(tmp_path, data_dir, classifier_run):
  workdir = str(tmp_path / "attacks")
  sections = ("robust", "transfer", "codecs", "over_the_air", "universal", "defenses")
  results = experiment.run(_config(data_dir, classifier_run, sections), workdir)

  assert results["models"]["mel_cnn"] == os.path.abspath(classifier_run[1])
  robust = results["robust_accuracy"]
  assert set(robust) == {"linf", "snr_db"}
  assert set(robust["linf"]) == {"pgd", "spsa"}
  assert set(robust["snr_db"]) == {"cw_l2"}
  assert set(results["transfer"]) == {"mel_cnn", "raw_cnn", "ensemble"}
  assert set(results["transfer"]["ensemble"]) == {"mel_cnn", "raw_cnn"}
  assert set(results["mp3"]) == {"64"}
  assert set(results["mp3"]["64"]) == {
    "clean_accuracy",
    "static_success",
    "through_success",
  }
  assert results["over_the_air"]["unseen_rooms"] == 2
  assert set(results["defenses"]["adversarial_training"]) == {"original", "pgd"}
  assert results["defenses"]["adversarial_training"]["pgd"]["steps"] == 2
  transforms = results["defenses"]["input_transforms"]
  assert (
    transforms["noise_30db"]["random"]
    and transforms["quantize_8bit"]["gradient"] == "bpda"
  )
  for table in ("robust_accuracy", "transfer", "codecs", "over_the_air", "defenses"):
    rates = [v for v in _rates(results[table]) if v <= 1.0 or table == "over_the_air"]
    assert rates and all(0.0 <= v for v in rates), table
  for name, q in results["quality"].items():
    assert q["clips"] == 8 and q["snr_db_mean"] > 0, name
  for png in (
    "robust_vs_eps.png",
    "robust_vs_snr.png",
    "transfer.png",
    "spectrogram.png",
  ):
    assert os.path.getsize(os.path.join(workdir, png)) > 1000

  # A rerun of one section recomputes it and keeps every other table.
  again = experiment.run(_config(data_dir, classifier_run, ("universal",)), workdir)
  assert again["transfer"] == results["transfer"]
  assert again["universal"] == results["universal"]  # Seeded: the same numbers.
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["codecs"] == results["codecs"]


def test_unknown_sections_are_refused(tmp_path, data_dir, classifier_run):
  with pytest.raises(ValueError, match="unknown sections"):
    experiment.run(
      _config(data_dir, classifier_run, ("robust", "everything")), str(tmp_path)
    )
