"""Unlearning a conditional generator: its denoising loss as a task, and ESD.

:func:`denoising_task` makes the generator of :mod:`audiojax.generate` a
:class:`~audiojax.unlearning.tasks.Task`, so every method of
:mod:`audiojax.unlearning.methods` (retrain, fine-tune, gradient ascent, NegGrad+,
random labelling, ℓ1-sparse, SalUn) and SSD runs on it through the one entry point::

  task = denoising_task(run.model.objective, run.config.t_schedule)
  new = unlearning.unlearn("salun", run.params, run.model.unet.apply, retain, forget,
                           key, task=task, steps=200, optimizer="adam", lr=1e-4)

where ``retain`` and ``forget`` hold ``{"image", "family", "collection", "tokens"}``
(:func:`audiojax.generate.data.conditions` with the images). A forget example is
"relabelled" by pairing its image with the conditions (caption, family, collection)
of a random retain example: No Encore's random labelling (Kim et al., 2025) and
SalUn's diffusion recipe (Fan et al., 2024).

:func:`esd` is the method a generator has and a classifier lacks: negative guidance
(Gandikota et al., 2023, "Erasing concepts from diffusion models", ICCV). The
frozen original model's prediction for the forget condition ``c`` is pushed away
from that for an anchor ``a``, and the model is trained to produce the result on
``c``::

  target = f*(x_t, t, a) − η (f*(x_t, t, c) − f*(x_t, t, a))

With the null condition as the anchor this is ESD; with the conditions of retain
clips it steers the forget captions toward the rest of the catalogue (the anchor
distribution of Concept Ablation, Kumari et al., 2023).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from audiojax.generate import diffusion
from audiojax.unlearning import fit
from audiojax.unlearning.base import method
from audiojax.unlearning.fit import UnlearningError
from audiojax.unlearning.methods import COMMON, optimizer_of
from audiojax.unlearning.tasks import Task

CONDITION = ("family", "collection", "tokens")
FIELDS = ("image", *CONDITION)


@dataclasses.dataclass(frozen=True)
class DenoisingTask(Task):
  """A conditional generator's task; ``objective`` and ``t_schedule`` are those it
  was trained with (:mod:`audiojax.generate.diffusion`)."""

  objective: diffusion.Objective = dataclasses.field(default_factory=diffusion.Flow)
  t_schedule: str = "uniform"


def _condition(batch, prefix: str = ""):
  return {k: batch[prefix + k] for k in CONDITION}


def denoising_task(
  objective: str | diffusion.Objective = "flow", t_schedule: str = "uniform"
) -> DenoisingTask:
  """The generator's training loss as an unlearning task.

  Args:
    objective: ``"flow"``, ``"ddpm"`` or an objective object.
    t_schedule: how training times are drawn (``diffusion.T_SCHEDULES``).
  """
  obj = (
    diffusion.OBJECTIVES.get(objective)() if isinstance(objective, str) else objective
  )
  diffusion.T_SCHEDULES.get(t_schedule)  # a typed error for an unknown name, now

  def loss(apply_fn):
    from audiojax.generate.train import make_loss_fn  # the data stack, lazily

    # No condition dropout: unlearning trains the conditional prediction only.
    return make_loss_fn(obj, apply_fn, 0.0, t_schedule)

  def example_losses(apply_fn):
    def fn(params, batch, key):
      cond = _condition(batch)
      model_fn = lambda x, t: apply_fn(params, x, t, cond)  # noqa: E731
      return diffusion.loss(obj, model_fn, batch["image"], key, t_schedule=t_schedule)

    return fn

  def relabeller(params, apply_fn, forget):
    del params, apply_fn, forget

    def relabel(batch, retain, key):
      other = fit.draw(_condition(retain), key, batch["image"].shape[0])
      return {**batch, **other}

    return relabel

  return DenoisingTask(
    name="denoising",
    fields=FIELDS,
    loss=loss,
    example_losses=example_losses,
    relabeller=relabeller,
    objective=obj,
    t_schedule=t_schedule,
  )


ANCHORS = ("null", "retain")


@method(
  "esd",
  tasks=("denoising",),
  eta=1.0,
  anchor="null",
  retain_weight=0.0,
  **{**COMMON, "steps": 200, "optimizer": "adam", "lr": 1e-5},
)
def esd(
  params, apply_fn, retain, forget, key, *, task, eta, anchor, retain_weight, **opt
):
  """ESD (Gandikota et al., 2023): train the forget conditions toward the frozen
  model's negatively guided prediction (see the module docstring).

  Options: ``eta`` the negative guidance scale (ESD's η = 1); ``anchor`` ``"null"``
  (ESD: away from the unconditional prediction) or ``"retain"`` (away from, and
  toward, the conditions of a random retain clip); ``retain_weight`` > 0 adds the
  plain denoising loss on retain clips, half of each batch (0 in ESD). ESD's
  recipe: Adam, lr 1e-5, 1000 steps, on its own generations at random steps; here
  ``x_t`` is the forget clips corrupted at random times, since the clips are at
  hand (as in Concept Ablation). Every weight trains (ESD-u).
  """
  if anchor not in ANCHORS:
    raise UnlearningError(f"esd anchor must be one of {ANCHORS}, got {anchor!r}")
  obj, size = task.objective, opt["batch_size"]
  caption_length = forget["tokens"].shape[-1]

  def batch_fn(k, data):
    kb, ka = jax.random.split(k)
    if retain_weight > 0:
      batch = fit.mixed_batch(data[0], data[1], kb, size, 1.0, retain_weight)
      half = batch["weight"].shape[0] // 2
      is_forget = jnp.arange(2 * half) >= half
    else:
      batch = {**fit.draw(data[1], kb, size), "weight": jnp.ones((size,))}
      is_forget = jnp.ones((size,), bool)
    n = batch["image"].shape[0]
    if anchor == "null":
      anchors = {
        "family": jnp.zeros((n,), jnp.int32),
        "collection": jnp.zeros((n,), jnp.int32),
        "tokens": jnp.zeros((n, caption_length), jnp.int32),
      }
    else:
      anchors = fit.draw(_condition(data[0]), ka, n)
    return {
      **batch,
      **{"anchor_" + k: v for k, v in anchors.items()},
      "is_forget": is_forget,
      "frozen": data[2],  # the original params: data of the step, not a constant
    }

  def loss_fn(p, batch, k):
    kt, kn = jax.random.split(k)
    x0, cond = batch["image"], _condition(batch)
    t = diffusion.sample_t(kt, x0.shape[0], task.t_schedule)
    noise = jax.random.normal(kn, x0.shape, x0.dtype)
    x_t = diffusion.corrupt(obj, x0, noise, t)
    frozen = batch["frozen"]
    e_c = apply_fn(frozen, x_t, t, cond)
    e_a = apply_fn(frozen, x_t, t, _condition(batch, "anchor_"))
    guided = e_a - eta * (e_c - e_a)
    plain = obj.target(x0, noise, t)
    forget_rows = batch["is_forget"].reshape((-1,) + (1,) * (x0.ndim - 1))
    target = jax.lax.stop_gradient(jnp.where(forget_rows, guided, plain))
    err = (apply_fn(p, x_t, t, cond) - target) ** 2
    per_example = jnp.mean(err.reshape(err.shape[0], -1), axis=-1)
    w = batch["weight"]
    return jnp.sum(w * per_example) / jnp.maximum(jnp.sum(jnp.abs(w)), 1e-12), {}

  tx = optimizer_of(opt)
  out, _ = fit.descend(
    params,
    loss_fn,
    batch_fn,
    key,
    steps=opt["steps"],
    tx=tx,
    data=(retain, forget, params),
  )
  return out
