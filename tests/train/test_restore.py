"""Loading trained runs: restored params give the numbers the run reported."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from audiojax import evaluators
from audiojax.registry import UnknownNameError
from audiojax.train import restore
from audiojax.train.checkpoint import CheckpointError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _evaluate(run):
  return {
    ev.name: ev.run(run.params)
    for ev in evaluators.build(run.config.evals, evaluators.Context.of(run))
  }


def test_restored_classifier_gives_the_reported_accuracy(classifier_run, music_tiny):
  config, workdir, results = classifier_run
  run = restore(workdir)
  assert run.step == config.total_steps == results["steps"]
  assert run.info["class_names"] == results["class_names"]
  logits = run.model.apply(run.params, np.zeros((2, run.info["clip_samples"])))
  assert logits.shape == (2, len(results["class_names"]))
  again = _evaluate(run)
  for split in ("validation", "test"):
    assert again[split]["accuracy"] == results[f"{split}_accuracy"]
    assert again[split]["loss"] == pytest.approx(results[f"{split}_loss"], rel=1e-6)
    assert again[split]["confusion"] == results[f"{split}_confusion"]


def test_restored_generator_samples_and_gives_the_reported_probe_accuracy(
  generator_run,
):
  config, workdir, results = generator_run
  run = restore(workdir)
  assert run.step == config.total_steps
  assert run.spec.image_shape == (config.mel.frames, config.mel.n_mels, 1)
  vocab = json.loads(open(os.path.join(workdir, "vocab.json")).read())["tokens"]
  assert run.vocab.tokens == vocab
  cond = {k: v[:2] for k, v in run.conditions.items()}
  images = run.sample(cond, jax.random.key(0))
  assert images.shape == (2, *run.spec.image_shape)
  assert np.all(np.isfinite(np.asarray(images)))
  again = _evaluate(run)["test"]
  assert again["class_probe_accuracy"] == results["class_probe_accuracy"]
  assert again["frechet_distance"] == pytest.approx(results["frechet_distance"])


def test_restore_refuses_what_is_not_a_trained_run(tmp_path, classifier_run):
  with pytest.raises(CheckpointError, match="no config.json"):
    restore(str(tmp_path))
  (tmp_path / "config.json").write_text(json.dumps({"kind": "human_ga"}))
  (tmp_path / "model.json").write_text("{}")
  with pytest.raises(UnknownNameError, match="valid names: classifier, music_gen"):
    restore(str(tmp_path))
  _, workdir, _ = classifier_run
  other = tmp_path / "copy"
  other.mkdir()
  for name in ("config.json", "model.json"):
    (other / name).write_text(open(os.path.join(workdir, name)).read())
  with pytest.raises(CheckpointError, match="no checkpoints"):
    restore(str(other))


_ISOLATED = """
import json, sys
from audiojax import experiment, evaluators
from audiojax.train import restore
from experiments import classifier
config = classifier.get_config("tiny")
config.dataset.data_dir, config.total_steps = sys.argv[1], 4
results = experiment.run(config, sys.argv[2])
run = restore(sys.argv[2])
ctx = evaluators.Context.of(run)
test = [ev for ev in evaluators.build(run.config.evals, ctx) if ev.name == "test"][0]
print(json.dumps({
  "same": test.run(run.params)["accuracy"] == results["test_accuracy"],
  "modules": sorted(m for m in sys.modules if m.startswith("audiojax")),
}))
"""


def _report(code: str, *args: str) -> dict:
  """The JSON a fresh interpreter prints last after running ``code``."""
  out = subprocess.run(
    [sys.executable, "-c", textwrap.dedent(code), *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=True,
    env=dict(os.environ, PYTHONPATH=ROOT),
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_launching_the_classifier_imports_no_other_system(
  tmp_path, data_dir, music_tiny
):
  report = _report(_ISOLATED, data_dir, str(tmp_path))
  assert report["same"]
  loaded = {m.split(".")[1] for m in report["modules"] if m.count(".")}
  assert not loaded & {"evolve", "generate", "ratings"}, loaded
  assert {"classification", "evaluators", "models", "train"} <= loaded


_RATINGS = """
import importlib, json, pkgutil, sys
import audiojax.ratings as pkg
names = [m.name for m in pkgutil.iter_modules(pkg.__path__)]
for name in names:
  importlib.import_module(f"audiojax.ratings.{name}")
print(json.dumps({"names": names, "jax": sorted(
  m for m in sys.modules if m == "jax" or m.startswith(("jax.", "jaxlib", "flax")))}))
"""


def test_the_ratings_package_imports_no_jax():
  report = _report(_RATINGS)
  assert {"store", "service", "page", "aggregate", "panel"} <= set(report["names"])
  assert report["jax"] == []
