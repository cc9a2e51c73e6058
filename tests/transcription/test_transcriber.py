"""The ``transcriber`` experiment end to end: training, the evaluator, restoring, the
loss with weights, and PGD on the frame BCE."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audiojax import attacks, evaluators
from audiojax.attacks.losses import LOSSES, frame_bce
from audiojax.train import restore
from audiojax.transcription import data as tdata
from audiojax.transcription import model as model_lib
from experiments import transcriber

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPLITS = ("validation", "test")


def _test_clips(run, n):
  split = tdata.load_split(run.config.dataset, "test", run.model.grid)
  arrays = split.source.arrays
  return jnp.asarray(arrays["audio"][:n]), jnp.asarray(arrays["roll"][:n]), split


def test_the_tiny_config_trains_and_reports_note_and_frame_scores(transcriber_run):
  config, workdir, results, _ = transcriber_run
  assert results["steps"] == config.total_steps
  assert results["frames"] == 126 and results["frame_rate"] == 62.5
  for split in SPLITS:
    assert results[f"{split}_num_examples"] == 20
    assert np.isfinite(results[f"{split}_loss"]) and results[f"{split}_loss"] > 0
    for metric in ("note", "note_with_offset", "frame"):
      assert 0.0 <= results[f"{split}_{metric}_f1"] <= 1.0
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["test_note_f1"] == results["test_note_f1"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    losses = [r["train/loss"] for r in map(json.loads, f) if "train/loss" in r]
  # The head starts at the prior of a key sounding, far below chance (log 2).
  assert all(0 < loss < np.log(2) / 4 for loss in losses)
  with open(os.path.join(workdir, "model.json")) as f:
    info = json.load(f)
  assert (info["min_pitch"], info["num_pitches"], info["num_frames"]) == (21, 88, 126)


def test_restore_gives_the_logits_training_ended_with(transcriber_run):
  config, workdir, results, final_params = transcriber_run
  run = restore(workdir)
  assert run.step == config.total_steps
  audio, _, _ = _test_clips(run, 4)
  logits = run.model.apply(run.params, audio)
  assert logits.shape == (4, 126, 88)
  np.testing.assert_array_equal(logits, run.model.apply(final_params, audio))
  context = evaluators.Context.of(run)
  for ev in evaluators.build(run.config.evals, context):
    again = ev.run(run.params)
    assert again["note_f1"] == results[f"{ev.name}_note_f1"]
    assert again["frame_f1"] == results[f"{ev.name}_frame_f1"]
    assert again["loss"] == pytest.approx(results[f"{ev.name}_loss"], rel=1e-6)


def test_the_loss_is_the_weighted_mean_of_per_example_frame_bce(transcriber_run):
  _, workdir, _, _ = transcriber_run
  run = restore(workdir)
  audio, roll, _ = _test_clips(run, 3)
  loss_fn = model_lib.transcription_loss(run.model.apply)
  key = jax.random.key(5)
  logits = run.model.apply(run.params, audio, train=True, rngs={"dropout": key})
  per_example = np.asarray(frame_bce(logits, roll))
  plain, metrics = loss_fn(run.params, {"audio": audio, "roll": roll}, key)
  assert float(plain) == pytest.approx(per_example.mean(), rel=1e-6)
  assert 0.0 <= float(metrics["frame_f1"]) <= 1.0
  weight = jnp.array([2.0, 0.0, 1.0])
  weighted, _ = loss_fn(
    run.params, {"audio": audio, "roll": roll, "weight": weight}, key
  )
  expected = (2 * per_example[0] + per_example[2]) / 3
  assert float(weighted) == pytest.approx(expected, rel=1e-6)


def test_pgd_on_the_frame_bce_moves_the_transcription_off_and_onto_a_roll(
  transcriber_run,
):
  _, workdir, _, _ = transcriber_run
  run = restore(workdir)
  audio, roll, _ = _test_clips(run, 4)
  logits_fn = jax.jit(lambda x: run.model.apply(run.params, x))
  bce = lambda x, r: np.asarray(LOSSES.get("frame_bce")(logits_fn(x), r))
  eps = 0.01
  kwargs = dict(eps=eps, step_size=eps / 4, steps=5, loss="frame_bce")
  adv = attacks.pgd(logits_fn, audio, roll, jax.random.key(0), **kwargs)
  assert float(jnp.max(jnp.abs(adv - audio))) <= eps * (1 + 1e-5)
  assert np.all(bce(adv, roll) > bce(audio, roll))  # away from the true roll
  # One step along the gradient (L2) ascends where the model is close to linear. A
  # signed (L-inf) step moves every sample by eps, also where the gradient is tiny,
  # and log-mel is far from linear in the quiet parts of a clip.
  one_step = attacks.fgsm(logits_fn, audio, roll, eps=0.01, norm="l2", loss="frame_bce")
  assert np.all(bce(one_step, roll) > bce(audio, roll))
  target = jnp.roll(roll, 12, axis=-1)  # the same notes an octave up
  toward = attacks.pgd(
    logits_fn, audio, target, jax.random.key(1), targeted=True, **kwargs
  )
  assert np.all(bce(toward, target) < bce(audio, target))


def test_the_grid_comes_from_the_front_ends_hop_and_must_match_its_frames():
  config = transcriber.get_config("tiny")
  grid = model_lib.frame_grid(config, 16000, 32000)
  assert (grid.num_frames, grid.frame_rate) == (126, 62.5)
  model = model_lib.build_transcriber(config, grid)
  spec = jax.ShapeDtypeStruct((2, 32000), jnp.float32)
  params = jax.eval_shape(model.init, jax.random.key(0), spec)
  assert jax.eval_shape(model.apply, params, spec).shape == (2, 126, 88)
  no_hop = ml_collections.ConfigDict(config.to_dict())
  del no_hop.frontend.kwargs["hop_length"]
  with pytest.raises(ValueError, match="must set hop_length"):
    model_lib.frame_grid(no_hop, 16000, 32000)
  with pytest.raises(ValueError, match="not \\[1, 251, features\\]"):
    model_lib.build_transcriber(config, tdata.FrameGrid(16000, 32000, 128))


@pytest.mark.slow
def test_launch_run_trains_the_tiny_config(tmp_path, music_tiny, data_dir):
  workdir = tmp_path / "run"
  subprocess.run(
    [
      sys.executable,
      "-m",
      "launch.run",
      "--config=experiments/transcriber.py:tiny",
      f"--workdir={workdir}",
      f"--config.dataset.data_dir={data_dir}",
    ],
    cwd=ROOT,
    check=True,
    capture_output=True,
  )
  with open(workdir / "results.json") as f:
    results = json.load(f)
  assert results["steps"] == transcriber.get_config("tiny").total_steps
  assert 0.0 <= results["test_note_f1"] <= 1.0
