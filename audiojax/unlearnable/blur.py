"""What CUDA and PosCUDA share: a class's blur filter from the owner's key, and
the convolution of a batch with one filter per clip.

Every random choice of a class is drawn from ``jax.random.fold_in(key, label)``
(then split by purpose), so the perturbation of a clip is a pure function of the
owner's key, its label and the knobs: the same key gives the same output, in any
batch and any order, with no table of classes to carry around.

The filter follows CUDA (Sadasivan et al., CVPR 2023, "CUDA: Convolution-based
Unlearnable Datasets"): ``kernel_size`` taps drawn from ``U(0, blur)`` and one tap
set to ``center``, with two changes for waveforms:

* CUDA sets a tap at a random place; on a waveform that delays the whole clip by up
  to half the kernel, inaudible but a change of every sample that SNR counts as
  noise (and that clicks at a PosCUDA patch edge), so the tap set here is the middle
  one: the filter is the identity plus a class-wise blur whose weight ``blur``
  controls (its output changes monotonically with ``blur``).
* CUDA divides an image's output by its maximum to refill [0, 1]; here the taps are
  divided by their sum: unity gain at 0 Hz, the blur is what the filter takes away
  above it, and a clip in [-1, 1] stays in [-1, 1] (positive taps summing to one
  cannot raise the peak).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

# Streams of a class's key, one per purpose: adding a knob never moves the others.
FILTER_STREAM, POSITION_STREAM = 0, 1


class UnlearnableError(ValueError):
  """A knob of an unlearnable perturbation, or its input, is invalid."""


def check_int(name: str, value, low: int) -> int:
  if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
    raise UnlearnableError(f"{name} must be an int >= {low}, got {value!r}")
  return int(value)


def check_filter(kernel_size, blur, center) -> None:
  check_int("kernel_size", kernel_size, 1)
  if not isinstance(blur, numbers.Real) or not 0.0 < blur:
    raise UnlearnableError(f"blur must be a number > 0, got {blur!r}")
  if center is not None and (not isinstance(center, numbers.Real) or center < 0):
    raise UnlearnableError(f"center must be None or a number >= 0, got {center!r}")


def check_batch(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
  x, y = jnp.asarray(x), jnp.asarray(y)
  if x.ndim != 2 or not jnp.issubdtype(x.dtype, jnp.floating):
    raise UnlearnableError(f"x must be a float [batch, samples] array, got {x.shape}")
  if y.shape != x.shape[:1] or not jnp.issubdtype(y.dtype, jnp.integer):
    raise UnlearnableError(
      f"y must be [batch={x.shape[0]}] integer labels, got {y.dtype} {y.shape}"
    )
  return x, y


def class_key(key: jax.Array, label: jax.Array, stream: int) -> jax.Array:
  """The key of one class's ``stream`` (a filter or its positions)."""
  return jax.random.fold_in(jax.random.fold_in(key, label), stream)


def class_filter(
  key: jax.Array,
  label: jax.Array,
  *,
  kernel_size: int,
  blur: float,
  center: float | None = 1.0,
) -> jax.Array:
  """The ``[kernel_size]`` taps of class ``label``: ``U(0, blur)``, the middle tap
  set to ``center`` (None: left random), divided by their sum."""
  taps = jax.random.uniform(
    class_key(key, label, FILTER_STREAM), (kernel_size,), maxval=blur
  )
  if center is not None:
    taps = taps.at[kernel_size // 2].set(center)
  return taps / jnp.sum(taps)


def convolve_each(x: jax.Array, taps: jax.Array) -> jax.Array:
  """``x[i]`` convolved with ``taps[i]``, the output aligned with the input.

  Args:
    x: ``[batch, samples]``.
    taps: ``[batch, kernel_size]``.

  Returns:
    ``[batch, samples]``: ``np.convolve(x[i], taps[i], mode="same")`` for every i
    (zeros beyond the clip's ends).
  """
  # A short filter as a sum of shifted, scaled copies: kernel_size fused multiply-
  # adds over the batch. A vmapped jnp.convolve (one kernel per clip) lowers to a
  # grouped convolution that XLA's CPU backend runs ~20x slower than scipy's loop
  # (benchmarks/unlearnable.py).
  samples, size = x.shape[-1], taps.shape[-1]
  padded = jnp.pad(x, ((0, 0), (size - 1, size - 1)))
  start = (size - 1) // 2 + size - 1  # numpy's "same" keeps full[(size - 1) // 2:]
  out = jnp.zeros_like(x)
  for j in range(size):
    out = out + taps[:, j, None] * padded[:, start - j : start - j + samples]
  return out
