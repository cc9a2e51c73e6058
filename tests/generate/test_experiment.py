"""The music_generator experiment end to end on the tiny set (a few training steps)."""

import json
import pathlib

import numpy as np

from audiojax import experiment
from audiojax.train.writer import read_metrics

KEYS = (
  "class_probe_accuracy",
  "frechet_distance",
  "onset_ratio",
  "continuity_ratio",
  "sampling_seconds_per_clip",
  "class_probe_accuracy_real_griffinlim",
)


def test_generator_experiment_trains_samples_and_scores(generator_run):
  config, workdir, results = generator_run
  tmp_path = pathlib.Path(workdir)

  saved = json.loads((tmp_path / "results.json").read_text())
  for key in KEYS:
    assert np.isfinite(saved[key]), key
  assert saved["train_steps"] == config.total_steps
  assert saved["eval_clips"] == config.eval_clips
  assert 0.0 <= saved["class_probe_accuracy"] <= 1.0
  losses = [r["train/loss"] for r in read_metrics(workdir) if "train/loss" in r]
  assert len(losses) == config.total_steps // config.log_every
  assert all(np.isfinite(losses))
  assert (tmp_path / "spectrograms.png").stat().st_size > 2000
  wavs = sorted(p.name for p in (tmp_path / "samples").glob("*.wav"))
  assert wavs and all(w.endswith("_0.wav") for w in wavs)
  assert (tmp_path / "probe" / "results.json").exists()
  vocab = json.loads((tmp_path / "vocab.json").read_text())["tokens"]
  assert "piano" in vocab or "organ" in vocab

  # Asked again, the finished run is resumed, not retrained, and scores the same.
  again = experiment.run(config, workdir)
  assert again["class_probe_accuracy"] == results["class_probe_accuracy"]
  assert again["frechet_distance"] == results["frechet_distance"]
