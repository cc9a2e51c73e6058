"""Recording faults: a registry of realistic ways a take or a collection goes wrong.

Anomaly detectors (studio takes, corrupted collections) are fitted on clean audio and
scored on audio with known faults injected. Every fault is a pure JAX function of one
clip (in :mod:`audiojax.data.fault_kinds`, with their constants), registered in
``FAULTS`` as ``fn(audio, sample_rate, key, severity) -> audio`` with ``audio``
``[T]``; :func:`inject` is the one way to call them:

* ``inject(name, audio, sample_rate, key, severity)`` takes ``[T]`` or ``[B, T]``
  (row ``i`` of a batch gets ``jax.random.fold_in(key, i)``), returns the same shape
  and dtype with values clipped to [-1, 1], is deterministic given the key, and is
  jitted once per fault, sample rate, shape and dtype: ``severity`` is traced, so
  sweeping it does not recompile, and ``inject`` inside a ``jax.jit`` with ``name``
  and ``sample_rate`` static works too (a traced severity is then not checked, only
  clipped to [0, 1]).
* ``severity`` is in [0, 1]: 0 returns the clip exactly (bit for bit, for every
  fault, given input in [-1, 1]), 1 is the worst realistic version, and 0.5 is a
  fault an engineer would clearly flag. Each fault's docstring states how severity
  maps to physical parameters; damage grows with severity for a fixed key (random
  events at a lower severity are a subset of those at a higher one, where a fault
  has events).
* Levels "relative to the clip RMS" use ``max(rms, REFERENCE_FLOOR)`` (-40 dBFS), so
  a near-silent clip still gets an audible hum or burst.

The faults (``FAULT_NAMES``): ``clipping``, ``dc_offset``, ``dropout``, ``glitch``,
``hum``, ``muffled``, ``noise_burst``, ``pitch_shift``, ``silence``, ``speed``,
``wrong_sample_rate``. Resampling a clip by a factor changes its pitch and its speed
together (a tape running fast or slow), so ``pitch_shift`` (a continuous factor in a
random direction) and ``wrong_sample_rate`` (the ratio of two standard rates) are
that; ``speed`` is instead wow and flutter, a sinusoidal modulation of the playback
rate (a warped record, a stretched tape) with no net change of speed.

Resampling reads the clip by linear interpolation at computed positions (after an
FFT low-pass at the new Nyquist when it is read faster); low-passing is a zero-phase
FFT filter on a zero-padded copy (no circular wrap). Nothing here uses numpy at run
time beyond static shapes, so every fault jits and vmaps. Bad arguments raise
:class:`FaultError`, naming the problem.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.registry import Registry, UnknownNameError


class FaultError(ValueError):
  """A bad argument to :func:`inject`: severity, audio dtype or rank, sample rate."""


class UnknownFaultError(FaultError, UnknownNameError):
  """No fault of that name: both a :class:`FaultError` and the registry's
  ``UnknownNameError``, and the message lists the valid names."""


FAULTS: Registry = Registry(
  "fault",
  {
    "clipping": "audiojax.data.fault_kinds:clipping",
    "dropout": "audiojax.data.fault_kinds:dropout",
    "dc_offset": "audiojax.data.fault_kinds:dc_offset",
    "noise_burst": "audiojax.data.fault_kinds:noise_burst",
    "silence": "audiojax.data.fault_kinds:silence",
    "pitch_shift": "audiojax.data.fault_kinds:pitch_shift",
    "speed": "audiojax.data.fault_kinds:speed",
    "hum": "audiojax.data.fault_kinds:hum",
    "glitch": "audiojax.data.fault_kinds:glitch",
    "muffled": "audiojax.data.fault_kinds:muffled",
    "wrong_sample_rate": "audiojax.data.fault_kinds:wrong_sample_rate",
  },
)

FAULT_NAMES = tuple(sorted(FAULTS))

# The entry point.


def _check_sample_rate(sample_rate) -> float | int:
  if (
    isinstance(sample_rate, bool)
    or not isinstance(sample_rate, numbers.Real)
    or not math.isfinite(sample_rate)
    or sample_rate <= 0
  ):
    raise FaultError(f"sample_rate must be a positive number, got {sample_rate!r}")
  return int(sample_rate) if float(sample_rate).is_integer() else float(sample_rate)


def _check_severity(severity):
  if isinstance(severity, jax.core.Tracer):
    return jnp.clip(severity, 0.0, 1.0)
  # A number: a python or numpy real, or a 0-d array of an integer or float dtype
  # (not bool, np.bool_ or a string, which float() would accept).
  dtype = getattr(severity, "dtype", None)
  real = isinstance(severity, numbers.Real) and not isinstance(severity, bool)
  real_array = dtype is not None and (
    jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)
  )
  if not (real or real_array) or np.ndim(severity) != 0:
    raise FaultError(f"severity must be a number in [0, 1], got {severity!r}")
  try:
    value = float(severity)
  except (TypeError, ValueError):
    raise FaultError(f"severity must be a number in [0, 1], got {severity!r}") from None
  if not (math.isfinite(value) and 0.0 <= value <= 1.0):
    raise FaultError(f"severity must be finite and in [0, 1], got {severity!r}")
  return value


def _check_audio(audio) -> jax.Array:
  try:
    audio = jnp.asarray(audio)
  except (TypeError, ValueError) as error:
    raise FaultError(f"audio must be an array, got {type(audio)}: {error}") from None
  if not jnp.issubdtype(audio.dtype, jnp.floating):
    raise FaultError(
      f"audio must be floating point in [-1, 1], got dtype {audio.dtype} (scale "
      "integer PCM first)"
    )
  if audio.ndim not in (1, 2):
    raise FaultError(f"audio must be [T] or [B, T], got shape {audio.shape}")
  if audio.shape[-1] == 0:
    raise FaultError(f"audio must have at least one sample, got shape {audio.shape}")
  return audio


def _check_key(key) -> jax.Array:
  dtype = getattr(key, "dtype", None)
  typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
  raw = dtype == jnp.uint32 and key.ndim == 1
  if raw:  # a legacy uint32 key: its length must be the default implementation's.
    try:
      jax.random.wrap_key_data(key)
    except (TypeError, ValueError):
      raw = False
  if not (typed and key.ndim == 0) and not raw:
    raise FaultError(
      f"key must be one jax.random key, got {type(key).__name__} "
      f"{getattr(key, 'shape', '')} {dtype or ''}".rstrip()
    )
  return key


@functools.partial(jax.jit, static_argnames=("name", "sample_rate"))
def _inject(name, audio, sample_rate, key, severity):
  fault = FAULTS.get(name)
  dtype = jnp.promote_types(audio.dtype, jnp.float32)
  x = audio.astype(dtype)
  severity = jnp.asarray(severity, dtype)
  if x.ndim == 1:
    out = fault(x, sample_rate, key, severity)
  else:
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(len(x)))
    out = jax.vmap(lambda row, k: fault(row, sample_rate, k, severity))(x, keys)
  return jnp.clip(out, -1.0, 1.0).astype(audio.dtype)


def inject(name: str, audio, sample_rate, key: jax.Array, severity) -> jax.Array:
  """Fault ``name`` injected into ``audio`` at ``severity``.

  Args:
    name: a registered fault (``FAULT_NAMES``).
    audio: ``[T]`` or ``[B, T]`` floating point samples in [-1, 1].
    sample_rate: samples per second, a positive number (static under ``jax.jit``).
    key: one ``jax.random`` key; row ``i`` of a batch uses ``fold_in(key, i)``.
    severity: in [0, 1]; 0 returns ``audio`` exactly, 1 is the worst realistic
      version (see each fault's docstring). A python or numpy number is checked; a
      traced one is clipped to [0, 1].

  Returns:
    The faulted audio, same shape and dtype, clipped to [-1, 1]; deterministic given
    ``key``.

  Raises:
    UnknownFaultError: (a ``FaultError`` and an ``UnknownNameError``) for an unknown
      ``name``, listing the valid ones.
    FaultError: for a severity outside [0, 1] or not finite, non-float audio, audio
      of another rank or no samples, a non-positive sample rate or a bad key.
  """
  try:
    FAULTS.get(name)
  except UnknownNameError as error:
    raise UnknownFaultError(str(error)) from None
  sample_rate = _check_sample_rate(sample_rate)
  audio = _check_audio(audio)
  key = _check_key(key)
  severity = _check_severity(severity)
  return _inject(name, audio, sample_rate, key, severity)
