"""Input transforms put in front of a classifier, and how an adaptive attacker
differentiates through them.

``TRANSFORMS.get(name)(sample_rate, **kwargs)`` returns an :class:`InputTransform`:
``fn(x [N, T], key) -> [N, T]`` in JAX, whose gradient is the one an adaptive
attacker uses (Athalye, Carlini & Wagner, 2018, "Obfuscated gradients give a false
sense of security"):

* ``codec``: a lossy round trip (``channel.CODECS``, default MP3 at 64 kbps; Das et
  al., 2018, "ADAGIO"), straight-through (BPDA) gradient.
* ``quantize``: rounding to ``bits`` bits (Yang et al., 2019, "Characterizing audio
  adversarial examples using temporal dependency"), straight-through gradient.
* ``lowpass``: an ideal low-pass at ``cutoff_hz`` (the band a down- and up-sampling
  to ``2 * cutoff_hz`` keeps; Hussain et al., 2021, "WaveGuard"), exact gradient (it
  is linear).
* ``noise``: additive white noise at ``snr_db`` below each clip (randomised
  smoothing's transform; Cohen et al., 2019), random, so attacked with EOT.
* ``blur``: every clip convolved with its own random filter of CUDA's family
  (:func:`audiojax.unlearnable.blur.class_filter`: ``kernel_size`` taps
  ``U(0, blur)``, the middle one 1, unit sum); the trainer who knows that an
  unlearnable set hides its shortcut in class-wise blur blurs everything, so that
  blur no longer tells the classes apart. Random (EOT), exact gradient (linear).

A *static* attack crafts on the bare model and is then transformed; an *adaptive*
one runs :func:`audiojax.attacks.eot.eot_pgd` through ``fn`` (``samples > 1`` when
``random``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from audiojax.channel import codecs, rooms
from audiojax.registry import Registry

Fn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class InputTransform:
  """A defense's input transform.

  Attributes:
    name: what it is, with its setting (e.g. ``"quantize_8bit"``).
    fn: ``(x [N, T], key) -> [N, T]``, jit-able.
    random: whether ``fn`` depends on ``key`` (attack it with EOT).
    gradient: ``"exact"`` or ``"bpda"`` (straight-through).
  """

  name: str
  fn: Fn
  random: bool
  gradient: str


def straight_through(x: jax.Array, y: jax.Array) -> jax.Array:
  """``y`` forward, the identity backward (BPDA with the identity)."""
  return x + jax.lax.stop_gradient(y - x)


def _codec(sample_rate: int, codec: str = "mp3_64") -> InputTransform:
  layer = codecs.codec_layer(codec, sample_rate)
  return InputTransform(codec, lambda x, key: layer(x), False, "bpda")


def _quantize(sample_rate: int, bits: int = 8) -> InputTransform:
  del sample_rate
  if not 2 <= bits <= 24:
    raise ValueError(f"bits must be in [2, 24], got {bits}")
  levels = 2.0 ** (bits - 1)

  def fn(x, key):
    del key
    return straight_through(x, jnp.clip(jnp.round(x * levels) / levels, -1.0, 1.0))

  return InputTransform(f"quantize_{bits}bit", fn, False, "bpda")


def _lowpass(sample_rate: int, cutoff_hz: float = 4000.0) -> InputTransform:
  if not 0 < cutoff_hz < sample_rate / 2:
    raise ValueError(
      f"cutoff_hz must be in (0, {sample_rate / 2}) at {sample_rate} Hz, "
      f"got {cutoff_hz}"
    )

  def fn(x, key):
    del key
    spectrum = jnp.fft.rfft(x, axis=-1)
    freqs = jnp.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate)
    return jnp.fft.irfft(spectrum * (freqs <= cutoff_hz), n=x.shape[-1], axis=-1)

  return InputTransform(f"lowpass_{cutoff_hz:g}hz", fn, False, "exact")


def _noise(sample_rate: int, snr_db: float = 30.0) -> InputTransform:
  del sample_rate
  fn = lambda x, key: rooms.add_noise_at_snr(x, key, snr_db)  # noqa: E731
  return InputTransform(f"noise_{snr_db:g}db", fn, True, "exact")


def _blur(sample_rate: int, kernel_size: int = 9, blur: float = 1.0) -> InputTransform:
  del sample_rate
  from audiojax.unlearnable import blur as blur_lib  # the filter family it undoes

  blur_lib.check_filter(kernel_size, blur, 1.0)

  def fn(x, key):
    taps = jax.vmap(
      lambda k: blur_lib.class_filter(k, 0, kernel_size=kernel_size, blur=blur)
    )(jax.random.split(key, x.shape[0]))
    return blur_lib.convolve_each(x, taps)

  return InputTransform(f"blur_{kernel_size}x{blur:g}", fn, True, "exact")


TRANSFORMS: Registry[Callable[..., InputTransform]] = Registry(
  "input transform",
  {
    "codec": _codec,
    "quantize": _quantize,
    "lowpass": _lowpass,
    "noise": _noise,
    "blur": _blur,
  },
)
