"""PosCUDA: class-wise blur on short patches at key-given positions (Gokul &
Dubnov, 2024, "PosCUDA: Position based Convolution for Unlearnable Audio
Datasets").

Each class's key fixes ``num_patches`` patches of ``patch_samples`` samples in the
clip and a blur filter (CUDA's: :func:`audiojax.unlearnable.blur.class_filter`);
every clip of the class is blurred there and left untouched everywhere else. A model
learns the link between "these stretches are blurred this way" and the label, not
the task; a listener hears a small part of each clip slightly muffled.

The paper publishes no code; the choices made here, each a knob:

* Positions are ``num_patches`` distinct slots of the grid of ``patch_samples``
  (the clip's tail past the last whole slot is never blurred), drawn without
  replacement from the class's key: patches never overlap, so the blurred share of
  every clip is exactly ``num_patches * patch_samples / samples``.
* The filter runs over the whole clip and its output is pasted into the patches,
  so a patch edge has no zero-padding artefact; ``fade`` samples of linear
  cross-fade at each edge inside a patch soften the switch (0: a hard switch).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from audiojax.unlearnable import blur as blur_lib


def class_slots(
  key: jax.Array, label: jax.Array, *, num_slots: int, num_patches: int
) -> jax.Array:
  """The ``[num_patches]`` distinct grid slots of class ``label``'s patches."""
  k = blur_lib.class_key(key, label, blur_lib.POSITION_STREAM)
  return jax.random.choice(k, num_slots, (num_patches,), replace=False)


def patch_weight(
  slots: jax.Array, *, samples: int, patch_samples: int, fade: int
) -> jax.Array:
  """``[samples]`` in [0, 1]: 1 inside the patches of ``slots``, 0 outside, a
  linear ramp over ``fade`` samples at each edge inside a patch."""
  num_slots = samples // patch_samples
  chosen = jnp.zeros(num_slots).at[slots].set(1.0)  # [num_slots]
  offset = jnp.arange(patch_samples)
  edge = jnp.minimum(offset + 1, patch_samples - offset)
  ramp = jnp.clip(edge / (fade + 1), 0.0, 1.0)  # the same in every patch
  grid = (chosen[:, None] * ramp[None, :]).reshape(-1)
  return jnp.pad(grid, (0, samples - num_slots * patch_samples))  # the tail: 0


@functools.partial(
  jax.jit,
  static_argnames=(
    "patch_samples",
    "num_patches",
    "kernel_size",
    "blur",
    "center",
    "fade",
  ),
)
def _poscuda(x, y, key, *, patch_samples, num_patches, kernel_size, blur, center, fade):
  samples = x.shape[1]

  def one(label):
    taps = blur_lib.class_filter(
      key, label, kernel_size=kernel_size, blur=blur, center=center
    )
    slots = class_slots(
      key, label, num_slots=samples // patch_samples, num_patches=num_patches
    )
    weight = patch_weight(
      slots, samples=samples, patch_samples=patch_samples, fade=fade
    )
    return taps, weight

  taps, weight = jax.vmap(one)(y)
  blurred = blur_lib.convolve_each(x, taps)
  return jnp.clip(x + weight * (blurred - x), -1.0, 1.0)


def poscuda(
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  patch_samples: int = 1600,
  num_patches: int = 4,
  kernel_size: int = 9,
  blur: float = 0.3,
  center: float | None = 1.0,
  fade: int = 0,
) -> jax.Array:
  """Blurs each clip's class patches with its class's filter.

  Args:
    x: ``[batch, samples]`` waveforms in [-1, 1].
    y: ``[batch]`` integer labels.
    key: the owner's secret key; the same key gives the same output.
    patch_samples: length of one patch (1600: 0.1 s at 16 kHz).
    num_patches: patches per clip, at most ``samples // patch_samples``.
    kernel_size: taps of each class's filter.
    blur: taps are drawn from ``U(0, blur)`` (the blur factor).
    center: the value the middle tap is set to (CUDA: 1, at a random tap); None:
      left random.
    fade: samples of linear cross-fade at each patch edge, inside the patch, at most
      ``patch_samples // 2``.

  Returns:
    The protected batch ``[batch, samples]`` (``x``'s dtype), in [-1, 1]; samples
    outside the patches are ``x``'s, bit for bit.

  Raises:
    UnlearnableError: for a bad batch or knob.
  """
  x, y = blur_lib.check_batch(x, y)
  blur_lib.check_filter(kernel_size, blur, center)
  patch_samples = blur_lib.check_int("patch_samples", patch_samples, 1)
  num_patches = blur_lib.check_int("num_patches", num_patches, 1)
  fade = blur_lib.check_int("fade", fade, 0)
  slots = x.shape[1] // patch_samples
  if num_patches > slots:
    raise blur_lib.UnlearnableError(
      f"{num_patches} patches of {patch_samples} samples do not fit in a clip of "
      f"{x.shape[1]} samples ({slots} slots)"
    )
  if fade > patch_samples // 2:
    raise blur_lib.UnlearnableError(
      f"fade must be at most patch_samples // 2 = {patch_samples // 2}, got {fade}"
    )
  return _poscuda(
    x,
    y,
    key,
    patch_samples=patch_samples,
    num_patches=num_patches,
    kernel_size=int(kernel_size),
    blur=float(blur),
    center=center,
    fade=fade,
  ).astype(x.dtype)
