"""Perturbation budgets of audio attacks: norms, projections, SNR radii, valid range.

An attack on a waveform batch ``x`` ``[N, ...]`` in [-1, 1] looks for ``x + delta``
with ``delta`` in a ball around 0 and ``x + delta`` still in [-1, 1]. Balls are
L-infinity (``|delta_t| <= eps``, the image attacks' budget) or L2 (``||delta||_2 <=
eps``); ``eps`` is a scalar or one radius per example ``[N]``. Audio people state
budgets as a signal-to-noise ratio: :func:`snr_radius` turns "at least S dB" into the
per-example L2 radius ``||x||_2 10^(-S/20)`` (Carlini & Wagner, 2018, measure audio
distortion in dB relative to the signal the same way).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from audiojax.registry import Registry

_TINY = 1e-12


def _per_example(eps: jax.Array | float, x: jax.Array) -> jax.Array:
  """``eps`` (scalar or ``[N]``) broadcast against ``x`` ``[N, ...]``."""
  eps = jnp.asarray(eps, x.dtype)
  if eps.ndim == 0:
    return eps
  if eps.shape != x.shape[:1]:
    raise ValueError(f"eps must be a scalar or [{x.shape[0]}], got {eps.shape}")
  return eps.reshape(eps.shape + (1,) * (x.ndim - 1))


def l2_norm(x: jax.Array) -> jax.Array:
  """Per-example L2 norm ``[N]`` over all but the first axis."""
  return jnp.sqrt(jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim))))


def snr_radius(x: jax.Array, snr_db: float | jax.Array) -> jax.Array:
  """The L2 radius ``[N]`` at which a perturbation is ``snr_db`` below each clip."""
  return l2_norm(x) * 10.0 ** (-jnp.asarray(snr_db, x.dtype) / 20.0)


def snr_db(x: jax.Array, x_adv: jax.Array) -> jax.Array:
  """Per-example SNR ``[N]`` of ``x`` against the perturbation ``x_adv - x``, in dB."""
  return 20.0 * jnp.log10(l2_norm(x) / jnp.maximum(l2_norm(x_adv - x), _TINY))


def _project_linf(delta, eps):
  return jnp.clip(delta, -eps, eps)


def _project_l2(delta, eps):
  norm = l2_norm(delta).reshape((-1,) + (1,) * (delta.ndim - 1))
  return delta * jnp.minimum(1.0, eps / jnp.maximum(norm, _TINY))


def _steepest_linf(g):
  return jnp.sign(g)


def _steepest_l2(g):
  norm = l2_norm(g).reshape((-1,) + (1,) * (g.ndim - 1))
  return g / jnp.maximum(norm, _TINY)


def _uniform_linf(key, shape, eps):
  return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0) * eps


def _uniform_l2(key, shape, eps):
  # A uniform point of the L2 ball: a Gaussian direction, radius eps * u^(1/d).
  direction = _steepest_l2(jax.random.normal(key, shape))
  d = 1
  for n in shape[1:]:
    d *= n
  u = jax.random.uniform(jax.random.fold_in(key, 1), (shape[0],))
  radius = (u ** (1.0 / d)).reshape((-1,) + (1,) * (len(shape) - 1))
  return direction * radius * eps


class Norm:
  """One norm's projection, steepest-ascent direction and uniform ball sample."""

  def __init__(self, project, steepest, uniform):
    self.project, self.steepest, self.uniform = project, steepest, uniform


NORMS: Registry = Registry(
  "attack norm",
  {
    "linf": Norm(_project_linf, _steepest_linf, _uniform_linf),
    "l2": Norm(_project_l2, _steepest_l2, _uniform_l2),
  },
)


def project(delta: jax.Array, eps, norm: str) -> jax.Array:
  """``delta`` projected onto the ``norm`` ball of radius ``eps`` (per example)."""
  return NORMS.get(norm).project(delta, _per_example(eps, delta))


def steepest(g: jax.Array, norm: str) -> jax.Array:
  """The unit steepest-ascent direction of gradient ``g`` under ``norm``."""
  return NORMS.get(norm).steepest(g)


def random_point(key: jax.Array, x: jax.Array, eps, norm: str) -> jax.Array:
  """A uniform random perturbation in the ``norm`` ball of radius ``eps``."""
  return NORMS.get(norm).uniform(key, x.shape, _per_example(eps, x)).astype(x.dtype)


def constrain(x: jax.Array, x_adv: jax.Array, eps, norm: str) -> jax.Array:
  """``x_adv`` moved into the ``eps`` ball around ``x`` and then into [-1, 1].

  Clipping to [-1, 1] after the projection shrinks every coordinate of the
  perturbation toward 0, so the result satisfies both constraints.
  """
  return jnp.clip(x + project(x_adv - x, eps, norm), -1.0, 1.0)
