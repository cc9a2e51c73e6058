"""Ratings as a loss: reward-weighted regression of the generator toward its elite.

After a generation is rated, the base generator is trained on the clips of its best
individuals, each weighted by ``exp((f - f_max) / temperature)`` of its fitness ``f``,
with the generator's own objective (flow matching or DDPM) and no adapter: the base
learns to make what the elite's adapters made. This is reward-weighted regression
(Peters & Schaal, 2007, "Reinforcement learning by reward-weighted regression for
operational space control"), the form Lee et al., 2023 ("Aligning text-to-image models
using human feedback") use for diffusion models; the exponential weight is the
closed-form solution of a KL-regularised reward maximisation over the elite.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from audiojax.data import pipeline
from audiojax.data.source import ArraySource
from audiojax.train import loop
from audiojax.train.state import LossFn


def elite_examples(
  images: np.ndarray,
  fitness: np.ndarray,
  conditions: dict[str, np.ndarray],
  *,
  clips_per_individual: int,
  elite: int,
  temperature: float,
) -> dict[str, np.ndarray] | None:
  """The weighted training set of the ``elite`` fittest individuals.

  Args:
    images: ``[P * k, ...]`` mel images of one generation, individual-major
      (row ``i * k + s`` is slot ``s`` of individual ``i``).
    fitness: ``[>= P]`` fitness (higher is better; NaN: not evaluated, left out).
    conditions: ``[k]`` per slot condition arrays the images were rendered with.
    clips_per_individual: ``k``.
    elite: how many of the fittest individuals to learn from.
    temperature: of the exponential weights, in fitness units (> 0).

  Returns:
    ``{"image", "weight", **conditions}`` rows (weights in (0, 1], the fittest 1),
    or None when no individual has a finite fitness.
  """
  if temperature <= 0:
    raise ValueError(f"temperature must be positive, got {temperature}")
  k = clips_per_individual
  n_individuals = len(images) // k
  f = np.asarray(fitness, np.float64)[:n_individuals]
  order = [i for i in np.argsort(-np.nan_to_num(f, nan=-np.inf)) if np.isfinite(f[i])]
  chosen = order[:elite]
  if not chosen:
    return None
  rows = np.array([i * k + s for i in chosen for s in range(k)])
  weight = np.exp((f[rows // k] - f[chosen[0]]) / temperature)
  slot = rows % k
  return {
    "image": np.asarray(images)[rows].astype(np.float32),
    "weight": weight.astype(np.float32),
    **{name: np.asarray(v)[slot] for name, v in conditions.items()},
  }


def finetune(
  params: Any,
  examples: dict[str, np.ndarray],
  *,
  loss_fn: LossFn,
  tx: optax.GradientTransformation,
  steps: int,
  batch_size: int,
  seed: int,
  workdir: str,
) -> Any:
  """``steps`` steps of ``loss_fn`` (which honours ``batch["weight"]``) on
  ``examples``, through the shared, resumable training loop in ``workdir``.

  Returns the fine-tuned params; ``params`` itself is left intact.
  """
  task = loop.Task(
    # A copy: the training step donates its state's buffers, and ``params`` (the
    # previous base, maybe the loaded generator's) must outlive the fine-tune.
    init_params=lambda _: jax.tree.map(jnp.copy, params),
    loss_fn=loss_fn,
    train_data=pipeline.TrainIterator(
      ArraySource(examples), min(batch_size, len(examples["image"])), seed=seed
    ),
  )
  cfg = loop.LoopConfig(total_steps=steps, log_every=steps, seed=seed, progress=False)
  state, _ = loop.train(task, tx, cfg, workdir)
  return state.params


def toward_elite(
  params: Any,
  images: np.ndarray,
  fitness: np.ndarray,
  conditions: dict[str, np.ndarray],
  config: Any,
  *,
  clips_per_individual: int,
  loss_fn: LossFn,
  tx: optax.GradientTransformation,
  seed: int,
  workdir: str,
) -> Any:
  """``params`` fine-tuned on a generation's elite (``config``: a session's
  ``finetune`` block: ``elite``, ``temperature``, ``steps``, ``batch_size``); the
  same params when no individual has a finite fitness."""
  examples = elite_examples(
    images,
    fitness,
    conditions,
    clips_per_individual=clips_per_individual,
    elite=config.elite,
    temperature=config.temperature,
  )
  if examples is None:
    return params
  return finetune(
    params,
    examples,
    loss_fn=loss_fn,
    tx=tx,
    steps=config.steps,
    batch_size=config.batch_size,
    seed=seed,
    workdir=workdir,
  )
