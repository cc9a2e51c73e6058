"""CUDA: one class-wise blur over the whole clip (Sadasivan et al., CVPR 2023,
"CUDA: Convolution-based Unlearnable Datasets"), the baseline PosCUDA builds on.

Every clip of class ``c`` is convolved with class ``c``'s filter
(:func:`audiojax.unlearnable.blur.class_filter`): a model can tell the classes
apart by the filter alone, learns that instead of the task, and fails on clean
audio. The paper's image setting is a 3 x 3 filter with taps ``U(0, 0.3)`` and one
tap set to 1; on a waveform the filter is 1-D, and a 3-tap filter at 16 kHz only
touches the top octave, so the default here is 9 taps (``kernel_size`` is a knob).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from audiojax.unlearnable import blur as blur_lib


@functools.partial(jax.jit, static_argnames=("kernel_size", "blur", "center"))
def _cuda(x, y, key, *, kernel_size, blur, center):
  taps = jax.vmap(
    lambda label: blur_lib.class_filter(
      key, label, kernel_size=kernel_size, blur=blur, center=center
    )
  )(y)
  return jnp.clip(blur_lib.convolve_each(x, taps), -1.0, 1.0)


def cuda(
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  kernel_size: int = 9,
  blur: float = 0.3,
  center: float | None = 1.0,
) -> jax.Array:
  """Convolves every clip with its class's filter.

  Args:
    x: ``[batch, samples]`` waveforms in [-1, 1].
    y: ``[batch]`` integer labels.
    key: the owner's secret key; the same key gives the same output.
    kernel_size: taps of each class's filter.
    blur: taps are drawn from ``U(0, blur)`` (CUDA's blur parameter).
    center: the value the middle tap is set to (CUDA: 1, at a random tap); None:
      left random.

  Returns:
    The protected batch ``[batch, samples]`` (``x``'s dtype), in [-1, 1].

  Raises:
    UnlearnableError: for a bad batch or knob.
  """
  x, y = blur_lib.check_batch(x, y)
  blur_lib.check_filter(kernel_size, blur, center)
  return _cuda(
    x, y, key, kernel_size=int(kernel_size), blur=float(blur), center=center
  ).astype(x.dtype)
