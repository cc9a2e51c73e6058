"""Training objectives of the generator: rectified flow and DDPM behind one interface.

Both corrupt clean data ``x0`` with Gaussian noise as ``x_t = a(t) x0 + s(t) noise``,
``t`` in [0, 1] (clean at 0, pure noise at 1), and train a network ``f(x_t, t)`` by mean
squared error against a target:

* ``flow`` — rectified flow / flow matching (Liu et al., 2022, "Flow straight and
  fast"; Lipman et al., 2022, "Flow matching for generative modeling"): ``a = 1 - t``,
  ``s = t``, the network predicts the velocity ``noise - x0``.
* ``ddpm`` — denoising diffusion (Ho et al., 2020) in continuous time with the cosine
  schedule of Nichol & Dhariwal (2021): ``a = sqrt(alpha_bar)``, ``s = sqrt(1 -
  alpha_bar)``, the network predicts ``noise``.

``to_x0_noise`` turns any prediction back into estimates of (x0, noise), which is all a
sampler needs, so one sampler family serves both objectives.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from audiojax.registry import Registry

ModelFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t, t[B]) -> prediction


def _bcast(t: jax.Array, x: jax.Array) -> jax.Array:
  """Reshapes per-example ``t`` [B] to broadcast against ``x`` [B, ...]."""
  return jnp.reshape(t, t.shape + (1,) * (x.ndim - t.ndim))


@dataclasses.dataclass(frozen=True)
class Flow:
  """Rectified flow: straight paths from data (t=0) to noise (t=1)."""

  name: str = "flow"

  def coefficients(self, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    return 1.0 - t, t

  def target(self, x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    del t
    return noise - x0

  def to_x0_noise(
    self, pred: jax.Array, x_t: jax.Array, t: jax.Array
  ) -> tuple[jax.Array, jax.Array]:
    t = _bcast(t, x_t)
    return x_t - t * pred, x_t + (1.0 - t) * pred

  def from_x0_noise(self, x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    """The prediction that corresponds to estimates (x0, noise): the velocity."""
    del t
    return noise - x0


@dataclasses.dataclass(frozen=True)
class DDPM:
  """Noise prediction under the cosine schedule, in continuous time.

  Attributes:
    offset: the schedule's small offset ``s`` (0.008 in Nichol & Dhariwal).
    min_alpha_bar: ``alpha_bar`` is clipped from below so that ``a(1) > 0``; the
      cosine schedule reaches 0 exactly at t=1, where ``x0 = (x_t - s noise) / a``
      is undefined (the "pure noise" failure of a naive sampler).
  """

  name: str = "ddpm"
  offset: float = 0.008
  min_alpha_bar: float = 1e-4

  def alpha_bar(self, t: jax.Array) -> jax.Array:
    f = lambda u: jnp.cos((u + self.offset) / (1 + self.offset) * math.pi / 2) ** 2
    return jnp.clip(f(t) / f(jnp.zeros_like(t)), self.min_alpha_bar, 1.0)

  def coefficients(self, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    ab = self.alpha_bar(t)
    return jnp.sqrt(ab), jnp.sqrt(1.0 - ab)

  def target(self, x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    del x0, t
    return noise

  def to_x0_noise(
    self, pred: jax.Array, x_t: jax.Array, t: jax.Array
  ) -> tuple[jax.Array, jax.Array]:
    a, s = (_bcast(c, x_t) for c in self.coefficients(t))
    return (x_t - s * pred) / a, pred

  def from_x0_noise(self, x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    del x0, t
    return noise


Objective = Flow | DDPM
OBJECTIVES: Registry = Registry("generator objective", {"flow": Flow, "ddpm": DDPM})


def corrupt(
  objective: Objective, x0: jax.Array, noise: jax.Array, t: jax.Array
) -> jax.Array:
  """``x_t = a(t) x0 + s(t) noise``."""
  a, s = (_bcast(c, x0) for c in objective.coefficients(t))
  return a * x0 + s * noise


T_SCHEDULES: Registry = Registry(
  "time schedule",
  {
    "uniform": lambda key, n: jax.random.uniform(key, (n,)),
    # The sigmoid of a standard normal (Esser et al., 2024, "Scaling rectified flow
    # transformers"): the steps go to mid-range noise levels, where the prediction
    # is hardest.
    "logit_normal": lambda key, n: jax.nn.sigmoid(jax.random.normal(key, (n,))),
  },
)


def sample_t(key: jax.Array, n: int, schedule: str = "uniform") -> jax.Array:
  """Training times ``[n]`` in [0, 1] drawn by a schedule of ``T_SCHEDULES``."""
  return T_SCHEDULES.get(schedule)(key, n)


def loss(
  objective: Objective,
  model_fn: ModelFn,
  x0: jax.Array,
  key: jax.Array,
  *,
  t_schedule: str = "uniform",
) -> jax.Array:
  """Per-example mean squared error of ``model_fn`` against the objective's target.

  Args:
    objective: ``Flow()`` or ``DDPM()``.
    model_fn: ``(x_t, t) -> prediction`` with conditioning already bound.
    x0: clean data ``[B, ...]``.
    key: draws ``t`` and the noise.
    t_schedule: how ``t`` is drawn (:func:`sample_t`).

  Returns:
    ``[B]`` losses (average them, or weight them, as the caller needs).
  """
  t_key, noise_key = jax.random.split(key)
  t = sample_t(t_key, x0.shape[0], t_schedule)
  noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
  pred = model_fn(corrupt(objective, x0, noise, t), t)
  err = (pred - objective.target(x0, noise, t)) ** 2
  return jnp.mean(err.reshape(err.shape[0], -1), axis=-1)
