"""Array utilities named as ``librosa.util``'s, for numpy and JAX arrays alike.

The data pipeline calls these on host arrays and the features inside ``jax.jit``, so
each returns the kind of array it is given: numpy stays numpy (no device transfer) and
JAX arrays (or tracers) stay JAX (jit-able and differentiable).
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def fix_length(data: Any, *, size: int, axis: int = -1) -> Any:
  """Crops (from the start) or zero-pads (at the end) one axis to ``size``.

  As ``librosa.util.fix_length`` with its default ``mode="constant"``.

  Args:
    data: a numpy array (or anything ``np.asarray`` takes) or a JAX array.
    size: the length ``data`` gets along ``axis``; non-negative.
    axis: the axis to crop or pad.

  Returns:
    ``data`` with ``shape[axis] == size`` and its dtype: a numpy array for numpy
    input, a JAX array for JAX input.
  """
  xp = jnp if isinstance(data, jax.Array) else np
  if xp is np:
    data = np.asarray(data)
  size = operator.index(size)
  if size < 0:
    raise ValueError(f"fix_length size must be >= 0, got {size}")
  if not -data.ndim <= axis < data.ndim:
    raise ValueError(f"axis={axis} is out of range for an array of shape {data.shape}")
  axis %= data.ndim
  n = data.shape[axis]
  if n >= size:
    return data[(slice(None),) * axis + (slice(0, size),)]
  pad = [(0, 0)] * data.ndim
  pad[axis] = (0, size - n)
  return xp.pad(data, pad)
