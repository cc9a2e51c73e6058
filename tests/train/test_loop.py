"""The shared loop: it learns, it resumes exactly, it refuses non-finite losses."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.data import pipeline
from audiojax.data.source import ArraySource, AudioSplit
from audiojax.train import checkpoint, loop
from audiojax.train.writer import read_metrics

SAMPLES, CLASSES = 16, 3


def _split(n=48, seed=0, nan_at=None):
  rng = np.random.default_rng(seed)
  label = rng.integers(0, CLASSES, size=n)
  centres = rng.normal(size=(CLASSES, SAMPLES)).astype(np.float32)
  audio = centres[label] + 0.3 * rng.normal(size=(n, SAMPLES)).astype(np.float32)
  if nan_at is not None:
    audio[nan_at, 0] = np.nan
  return AudioSplit(
    ArraySource({"audio": audio, "label": label}), "label", ("a", "b", "c"), 16, SAMPLES
  )


def _apply(params, x):
  return x @ params["w"] + params["b"]


def _loss_fn(params, batch, key):
  # The key is used (dropout-like noise) so that key derivation is part of the test.
  noise = 0.01 * jax.random.normal(key, batch["audio"].shape)
  logits = _apply(params, batch["audio"] + noise)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
  return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}


class _Eval:
  name = "validation"

  def __init__(self, split):
    self.split = split

  def run(self, params):
    audio = self.split.source.arrays["audio"]
    pred = np.argmax(_apply(params, audio), -1)
    return {"accuracy": float(np.mean(pred == self.split.source.arrays["label"]))}


def _task(split=None):
  split = split or _split()
  return loop.Task(
    init_params=lambda key: {
      "w": 0.01 * jax.random.normal(key, (SAMPLES, CLASSES)),
      "b": jnp.zeros(CLASSES),
    },
    loss_fn=_loss_fn,
    train_data=pipeline.TrainIterator(split, 8, seed=0),
    evaluators=[_Eval(_split(seed=0))],
  )


def _cfg(total, **kw):
  return loop.LoopConfig(
    total_steps=total,
    log_every=2,
    eval_every=4,
    checkpoint_every=4,
    progress=False,
    **kw,
  )


def test_loop_learns_and_writes_metrics(tmp_path):
  state, final = loop.train(_task(), optax.adam(0.05), _cfg(24), str(tmp_path))
  records = read_metrics(str(tmp_path))
  losses = [r["train/loss"] for r in records if "train/loss" in r]
  assert len(losses) == 12 and losses[-1] < 0.5 * losses[0]
  assert final["validation"]["accuracy"] > 0.9
  assert int(state.step) == 24
  assert checkpoint.Checkpointer(str(tmp_path / "checkpoints")).latest_step() == 24


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
  straight, _ = loop.train(_task(), optax.adam(0.05), _cfg(16), str(tmp_path / "a"))
  loop.train(_task(), optax.adam(0.05), _cfg(8), str(tmp_path / "b"))
  # Metrics the cut-short run wrote after its last checkpoint must be dropped on resume.
  with open(tmp_path / "b" / "metrics.jsonl", "a") as f:
    f.write(json.dumps({"step": 9, "train/loss": 123.0}) + "\n")
  resumed, _ = loop.train(_task(), optax.adam(0.05), _cfg(16), str(tmp_path / "b"))
  for a, b in zip(
    jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params), strict=True
  ):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert (tmp_path / "a" / "metrics.jsonl").read_text() == (
    tmp_path / "b" / "metrics.jsonl"
  ).read_text()


def test_finished_run_asked_again_changes_nothing(tmp_path):
  loop.train(_task(), optax.adam(0.05), _cfg(8), str(tmp_path))
  before = (tmp_path / "metrics.jsonl").read_text()
  state, final = loop.train(_task(), optax.adam(0.05), _cfg(8), str(tmp_path))
  assert int(state.step) == 8 and "validation" in final
  assert (tmp_path / "metrics.jsonl").read_text() == before


def test_non_finite_loss_raises_with_its_step(tmp_path):
  split = _split(nan_at=5)
  it = pipeline.TrainIterator(split, 8, seed=0)
  step = next(s for s in range(1, 20) if 5 in set(it._indices(s - 1).tolist()))
  with pytest.raises(loop.NonFiniteLossError, match=f"step {step}$"):
    loop.train(_task(split), optax.adam(0.05), _cfg(20), str(tmp_path))
  # Nothing at or after the bad step was checkpointed.
  latest = checkpoint.Checkpointer(str(tmp_path / "checkpoints")).latest_step()
  assert latest is None or latest < step


def test_model_init_takes_params_but_restarts_the_optimizer(tmp_path):
  first, _ = loop.train(_task(), optax.adam(0.05), _cfg(8), str(tmp_path / "a"))
  cfg = _cfg(4, model_init=str(tmp_path / "a" / "checkpoints"))
  second, _ = loop.train(_task(), optax.sgd(0.0), cfg, str(tmp_path / "b"))
  assert int(second.step) == 4
  np.testing.assert_array_equal(
    np.asarray(second.params["w"]), np.asarray(first.params["w"])
  )


def test_loop_config_rejects_checkpoints_off_the_log_grid():
  with pytest.raises(ValueError, match="multiple of log_every"):
    loop.LoopConfig(total_steps=10, log_every=4, checkpoint_every=6)
