"""The classifiers the robustness tables attack: trained once, then restored.

Each is a ``classifier`` run in its own directory under the experiment's workdir
(or a directory the config names, e.g. the quickstart's run), trained with the
shared runner when it has no ``results.json`` yet and restored with
:func:`audiojax.train.restore` after.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.data import pipeline
from audiojax.train import runs

LogitsFn = Callable[[jax.Array], jax.Array]


def classifier_config(
  base: ml_collections.ConfigDict, entry: Mapping, name: str
) -> ml_collections.ConfigDict:
  """``base`` (a classifier config) with ``entry``'s front end and model."""
  c = ml_collections.ConfigDict(base.to_dict())
  c.name = f"classifier {name}: {entry['frontend']} + {entry['model']}"
  c.frontend.name = entry["frontend"]
  c.frontend.kwargs = dict(entry.get("frontend_kwargs", {}))
  c.model.name = entry["model"]
  c.model.kwargs = dict(entry.get("model_kwargs", {}))
  return c


def logits_fn(run: runs.Run) -> LogitsFn:
  """The restored classifier as a jitted ``waveform batch -> logits``."""
  params = run.params
  return jax.jit(lambda x: run.model.apply(params, x))


def ensemble_logits(fns: Mapping[str, LogitsFn]) -> LogitsFn:
  """Mean log-probabilities of several classifiers (Liu et al., 2017, "Delving into
  transferable adversarial examples": attack the ensemble to transfer better)."""
  members = list(fns.values())
  return lambda x: jnp.mean(
    jnp.stack([jax.nn.log_softmax(f(x)) for f in members]), axis=0
  )


def first_examples(split, n: int, batch_size: int) -> tuple[jax.Array, jax.Array]:
  """The first ``n`` clips of ``split`` (fewer if it is shorter) and their labels."""
  xs, ys, count = [], [], 0
  for batch in pipeline.eval_batches(split, batch_size):
    keep = batch["mask"]
    xs.append(batch["audio"][keep])
    ys.append(batch["label"][keep])
    count += int(keep.sum())
    if count >= n:
      break
  return jnp.asarray(np.concatenate(xs)[:n]), jnp.asarray(np.concatenate(ys)[:n])


def batched(fn: Callable[..., jax.Array], batch_size: int, *arrays) -> jax.Array:
  """``fn`` over ``arrays`` in chunks of ``batch_size`` rows, concatenated."""
  n = len(arrays[0])
  return jnp.concatenate(
    [fn(*(a[i : i + batch_size] for a in arrays)) for i in range(0, n, batch_size)]
  )


def predictions(fn: LogitsFn, x: jax.Array, batch_size: int) -> np.ndarray:
  return np.asarray(batched(lambda v: jnp.argmax(fn(v), -1), batch_size, x))


def success_rate(
  fn: LogitsFn, x_adv: jax.Array, y: jax.Array, correct: np.ndarray, batch_size: int
) -> float:
  """Share of the clips ``fn`` got right (``correct``) that ``x_adv`` makes it miss."""
  if not correct.any():
    return float("nan")
  wrong = predictions(fn, x_adv, batch_size) != np.asarray(y)
  return float(np.mean(wrong[correct]))
