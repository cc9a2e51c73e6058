"""Samplers of the generator: pure functions of (params, condition, key), jitted once.

One update serves both objectives. With estimates ``(x0, noise)`` from the network at
time ``t``, the step to ``t' < t`` is

    x' = a(t') x0 + sqrt(s(t')^2 - sigma^2) noise + sigma z,
    sigma^2 = eta^2 s(t')^2 (1 - SNR(t) / SNR(t')),   SNR = a^2 / s^2,

which is DDIM (Song et al., 2021) for the DDPM objective — deterministic at
``eta = 0``, ancestral sampling at ``eta = 1`` — and exactly the Euler step of the
probability-flow ODE for rectified flow at ``eta = 0`` (``x + (t' - t) v``).
Classifier-free guidance (Ho & Salimans, 2022) mixes the conditional and the null-
condition predictions: ``u + w (c - u)``, so ``w = 1`` is plain conditional sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from audiojax.generate.diffusion import ModelFn, Objective, _bcast


def sample_loop(
  objective: Objective,
  model_fn: ModelFn,
  noise: jax.Array,
  key: jax.Array,
  *,
  steps: int,
  eta: float = 0.0,
  clip_x0: float | None = None,
) -> jax.Array:
  """Integrates from pure noise at t=1 to data at t=0 in ``steps`` uniform steps.

  Args:
    objective: what ``model_fn`` predicts.
    model_fn: ``(x_t, t[B]) -> prediction``.
    noise: the starting point ``x_1`` ``[B, ...]``.
    key: fresh noise of stochastic steps (unused when ``eta == 0``).
    steps: number of network evaluations.
    eta: 0 for the deterministic sampler, 1 for ancestral sampling.
    clip_x0: clip the estimate of ``x0`` to ``[-clip_x0, clip_x0]`` at every step
      (data known to lie in a range; DDPM's ``clip_denoised``), or None.

  Returns:
    Samples ``[B, ...]``.
  """
  ts = jnp.linspace(1.0, 0.0, steps + 1)

  def body(i, x):
    t = jnp.full(x.shape[:1], ts[i])
    t_next = jnp.full(x.shape[:1], ts[i + 1])
    a, s = (_bcast(c, x) for c in objective.coefficients(t))
    a_n, s_n = (_bcast(c, x) for c in objective.coefficients(t_next))
    x0, eps = objective.to_x0_noise(model_fn(x, t), x, t)
    if clip_x0 is not None:
      x0 = jnp.clip(x0, -clip_x0, clip_x0)
      eps = (x - a * x0) / s
    if eta == 0.0:
      return a_n * x0 + s_n * eps
    ratio = (a * s_n) / (s * a_n)
    sigma = eta * s_n * jnp.sqrt(jnp.clip(1.0 - ratio**2, 0.0, 1.0))
    z = jax.random.normal(jax.random.fold_in(key, i), x.shape, x.dtype)
    return a_n * x0 + jnp.sqrt(jnp.maximum(s_n**2 - sigma**2, 0.0)) * eps + sigma * z

  return jax.lax.fori_loop(0, steps, body, noise)


def guided(
  model_fn: Callable[[jax.Array, jax.Array, Any], jax.Array],
  cond: Any,
  null_cond: Any,
  guidance: float,
) -> ModelFn:
  """Classifier-free guidance as one batched call: ``u + w (c - u)``."""
  if guidance == 1.0:
    return lambda x, t: model_fn(x, t, cond)
  both = jax.tree.map(lambda c, n: jnp.concatenate([c, n]), cond, null_cond)

  def fn(x, t):
    out = model_fn(jnp.concatenate([x, x]), jnp.concatenate([t, t]), both)
    c, u = jnp.split(out, 2)
    return u + guidance * (c - u)

  return fn


class Sampler:
  """Draws images from a conditional network, one key per image.

  ``sampler(params, cond, key, adapter=None)`` returns ``[B, *image_shape]`` for a
  batch of conditions (a pytree of ``[B, ...]`` int arrays); image ``i`` depends only on
  ``(params, cond[i], fold_in(key, i), adapter)``, so it is the same in any batch. The
  batch is a ``jax.vmap`` of one-image sampling; the jitted function is built once per
  adapter layout (none, shared, or one per image).

  Args:
    objective: ``Flow()`` or ``DDPM()``.
    apply_fn: ``(params, x, t, cond, adapter) -> prediction`` for a batch.
    image_shape: shape of one image, e.g. ``(64, 64, 1)``.
    steps: network evaluations per image.
    guidance: classifier-free guidance scale (1: none).
    eta: 0 deterministic, 1 ancestral.
    clip_x0: range of the data, or None.
  """

  def __init__(
    self,
    objective: Objective,
    apply_fn,
    image_shape: tuple[int, ...],
    *,
    steps: int,
    guidance: float = 1.0,
    eta: float = 0.0,
    clip_x0: float | None = None,
  ):
    if steps < 1:
      raise ValueError(f"steps must be at least 1, got {steps}")
    self.objective = objective
    self.apply_fn = apply_fn
    self.image_shape = tuple(image_shape)
    self.steps = steps
    self.guidance = guidance
    self.eta = eta
    self.clip_x0 = clip_x0
    self._compiled: dict[int | None, Callable] = {}

  def _one(self, params, cond, key, adapter):
    init_key, loop_key = jax.random.split(key)
    noise = jax.random.normal(init_key, (1, *self.image_shape))
    cond = jax.tree.map(lambda c: c[None], cond)
    null = jax.tree.map(jnp.zeros_like, cond)
    model_fn = guided(
      lambda x, t, c: self.apply_fn(params, x, t, c, adapter), cond, null, self.guidance
    )
    return sample_loop(
      self.objective,
      model_fn,
      noise,
      loop_key,
      steps=self.steps,
      eta=self.eta,
      clip_x0=self.clip_x0,
    )[0]

  def __call__(
    self, params, cond, key: jax.Array, adapter=None, *, adapter_per_image: bool = False
  ) -> jax.Array:
    n = jax.tree.leaves(cond)[0].shape[0]
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    return self.sample_with_keys(
      params, cond, keys, adapter, adapter_per_image=adapter_per_image
    )

  def sample_with_keys(
    self, params, cond, keys: jax.Array, adapter=None, *, adapter_per_image=False
  ) -> jax.Array:
    """Like calling the sampler, with image ``i`` drawn from ``keys[i]``.

    Giving several images the same key makes them common-random-number draws: the
    GA session renders every individual from the same noise, so their clips differ
    only by their adapters.
    """
    axis = 0 if adapter_per_image else None
    if axis not in self._compiled:
      self._compiled[axis] = jax.jit(jax.vmap(self._one, in_axes=(None, 0, 0, axis)))
    return self._compiled[axis](params, cond, keys, adapter)
