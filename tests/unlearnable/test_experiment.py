"""The ``unlearnable`` experiment end to end on the tiny music set: its data sets are
what the owner publishes, its tables are computed from runs, and a rerun resumes."""

import json
import os

import numpy as np
import pytest

from audiojax import data, experiment
from audiojax.train import loop
from audiojax.unlearnable import keys
from audiojax.unlearnable.experiment import defense_settings
from audiojax.unlearnable.study import Setting, Study
from experiments import unlearnable


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, music_tiny, data_dir):
  config = unlearnable.get_config("tiny")
  config.classifier.dataset.data_dir = data_dir
  workdir = str(tmp_path_factory.mktemp("unlearnable"))
  results = experiment.run(config, workdir)
  return config, workdir, results


def test_tables_hold_every_section(tiny_run):
  config, workdir, r = tiny_run
  models = tuple(config.main.models.music)
  for label in ("clean", "cuda", "poscuda"):
    assert set(r[label]["music"]) == set(models)
    assert all(0.0 <= a <= 1.0 for a in r[label]["music"].values())
  _, y = Study(config, workdir).clean("music")["test"]
  assert r["chance"]["music"] == np.bincount(y).max() / len(y)
  assert set(r["poison_rate"]["poscuda"]) == {"0", "0.5"}
  # Rate 0 is the clean set and rate 1 PosCUDA's: the same runs, the same numbers.
  assert r["poison_rate"]["poscuda"]["0"] == r["clean"]["music"]["raw_m5"]
  assert set(r["knobs"]["blur"]) == {"0.3", "1"}
  assert r["knobs"]["blur"]["0.3"]["accuracy"] == r["poscuda"]["music"]["raw_m5"]
  assert set(r["defenses"]) >= {"none", "blur_all"}
  # The undefended row reuses the main and knob runs of the same settings.
  assert r["defenses"]["none"]["cuda"] == r["cuda"]["music"]["raw_m5"]
  assert r["defenses"]["none"]["poscuda_blur1"] == r["knobs"]["blur"]["1"]["accuracy"]
  q = r["quality"]
  assert set(q) == {"cuda", "poscuda", "poscuda_rate0.5", "poscuda_blur1"}
  assert q["poscuda"]["changed"] == config.quality.examples
  assert 0 < q["poscuda_rate0.5"]["changed"] < config.quality.examples
  # A stronger blur is louder: lower SNR, higher log-spectral distance.
  assert q["poscuda_blur1"]["snr_db_mean"] < q["poscuda"]["snr_db_mean"]
  assert q["poscuda_blur1"]["lsd_db_mean"] > q["poscuda"]["lsd_db_mean"]
  assert all(row["frechet"] >= 0 for row in q.values())
  tables = open(os.path.join(workdir, "tables.md")).read()
  for heading in ("clean-test accuracy", "Poison rate", "knobs", "Defenses", "Quality"):
    assert heading in tables
  for method in ("cuda", "poscuda"):
    names = os.listdir(os.path.join(workdir, "examples", method))
    assert {
      f"{method}_0_clean.wav",
      f"{method}_0_protected.wav",
      f"{method}_0.png",
    } <= set(names)


def test_published_sets_are_protected_and_the_test_split_is_clean(tiny_run):
  config, workdir, _ = tiny_run
  study = Study(config, workdir)
  clean = study.clean("music")
  knobs = dict(config.methods.poscuda)
  setting = Setting("music", "poscuda", knobs, label="poscuda")
  key = keys.ProtectionKey.generate("poscuda", config.seed, **knobs)
  for split in ("train", "validation", "test"):
    s = data.load("audiojax_protected", split, data_dir=study.data_dir(setting))
    x = np.stack([s.source[i]["audio"] for i in range(len(s))])
    x_clean, y = clean[split]
    if split == "test":
      np.testing.assert_array_equal(x, x_clean)
    else:  # bit for bit what the owner's key gives
      np.testing.assert_array_equal(x, key.protect(x_clean, y)[0])
  with open(os.path.join(study.data_dir(setting), "setting.json")) as f:
    assert json.load(f)["knobs"] == knobs


def test_the_trainers_transform_reaches_every_split(tiny_run):
  config, workdir, _ = tiny_run
  study = Study(config, workdir)
  setting = Setting("music", transform="blur", label="clean+blur")
  s = data.load("audiojax_protected", "test", data_dir=study.data_dir(setting))
  x_clean, _ = study.clean("music")["test"]
  assert not np.allclose(s.source[0]["audio"], x_clean[0])


def test_a_label_that_changed_meaning_is_refused(tiny_run):
  config, workdir, _ = tiny_run
  study = Study(config, workdir)
  other = Setting("music", "poscuda", {"blur": 0.9}, label="poscuda")
  with pytest.raises(ValueError, match="another setting"):
    study.data_dir(other)


def test_a_rerun_trains_nothing_and_gives_the_same_tables(tiny_run, monkeypatch):
  config, workdir, results = tiny_run

  def no_training(*args, **kwargs):
    raise AssertionError("a finished run trained again")

  monkeypatch.setattr(loop, "train_step", no_training)
  again = experiment.run(config, workdir)
  for key in (
    "clean",
    "cuda",
    "poscuda",
    "poison_rate",
    "knobs",
    "defenses",
    "quality",
  ):
    assert again[key] == results[key], key


def test_a_clean_run_trained_elsewhere_is_the_clean_row(classifier_run, tmp_path):
  clf_config, clf_workdir, clf_results = classifier_run
  config = unlearnable.get_config("tiny")
  config.classifier.dataset.data_dir = clf_config.dataset.data_dir
  config.sections = ("main",)
  config.main.models = {"music": ("mel_cnn",)}  # mel_cnn_tiny, as the fixture's
  config.main.methods = ("poscuda",)  # as the tour runs it
  config.clean_runs.music.mel_cnn = clf_workdir
  results = experiment.run(config, str(tmp_path))
  assert results["clean"]["music"]["mel_cnn"] == clf_results["test_accuracy"]
  assert results["cuda"] == {} and "mel_cnn" in results["poscuda"]["music"]
  assert not os.path.exists(tmp_path / "runs" / "music" / "clean")
  assert not os.path.exists(tmp_path / "runs" / "music" / "cuda")
  assert os.path.exists(tmp_path / "runs" / "music" / "poscuda" / "mel_cnn")
  table = open(tmp_path / "tables.md").read()
  assert f"| mel_cnn | {clf_results['test_accuracy']:.3f} | – |" in table
  # A later invocation for another model keeps this one's rows.
  config.main.models = {"music": ("raw_m5",)}
  again = experiment.run(config, str(tmp_path))
  assert (
    set(again["clean"]["music"])
    == set(again["poscuda"]["music"])
    == {
      "mel_cnn",
      "raw_m5",
    }
  )
  assert again["clean"]["music"]["mel_cnn"] == clf_results["test_accuracy"]


@pytest.mark.parametrize("variant", unlearnable.VARIANTS)
def test_every_variant_trains_with_a_valid_loop(variant):
  config = unlearnable.get_config(variant)
  loop.LoopConfig.from_config(config.classifier)  # raises on a bad schedule
  assert set(config.main.methods) <= {"cuda", "poscuda"}
  for models in config.main.models.values():
    assert set(models) <= set(config.models)


def test_defenses_name_only_known_settings():
  config = unlearnable.get_config("tiny")
  assert {"clean", "cuda", "poscuda", "poscuda_blur1"} <= set(defense_settings(config))
  config.defenses.methods = ("poscuda_blur9",)
  with pytest.raises(ValueError, match="poscuda_blur9"):
    defense_settings(config)
