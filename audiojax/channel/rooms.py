"""Over-the-air simulation: room impulse responses, noise, gain and delay in JAX.

An adversarial example played through a loudspeaker and recorded reaches the model
convolved with the room, at another level, shifted in time and with noise. Attacks
survive that by expectation over transformation (EOT; Athalye et al., 2018,
"Synthesizing robust adversarial examples"): they average the loss over random draws
of the channel, which Qin et al. (2019, "Imperceptible, robust, and targeted
adversarial examples for automatic speech recognition") do for speech with simulated
room impulse responses (RIRs). Here:

* ``random_rirs(seed, n, sample_rate)``: a numpy bank ``[n, L]`` of shoebox RIRs from
  pyroomacoustics' image source method (Allen & Berkley, 1979) with the wall
  absorption and reflection order that ``pyroomacoustics.inverse_sabine`` gives for
  an RT60 drawn uniformly from ``rt60_range``; room size, source and microphone are
  drawn uniformly too. All draws come from ``numpy.random.default_rng(seed)``: the
  same seed gives the same bank, another seed fresh rooms (e.g. one seed for the rooms
  an attack trains on, another for the rooms it is evaluated in).
* ``convolve(x, rir)``: FFT convolution, ``[N, T]`` out, aligned to the direct path.
* ``add_noise_at_snr``, ``random_gain``, ``random_shift`` and ``over_the_air``, which
  draws one RIR per example from a bank and then gain, shift and noise: pure JAX
  given the bank, jit-able, and differentiable with respect to the waveform.

Conventions, and why:

* Every RIR of ``random_rirs`` has its direct path at sample ``DIRECT_INDEX`` (40) with
  unit gain. pyroomacoustics gives the direct path amplitude ``1/d`` at distance
  ``d`` (``att / dist`` in ``pyroomacoustics.simulation.ism``) and draws each arrival
  as an 81-tap windowed-sinc fractional delay centred 40 samples after it, so we
  multiply by ``d`` and start the RIR 40 samples before the direct arrival (rounded to
  the nearest sample): the whole sinc is kept, the propagation delay is dropped. The
  output of ``convolve`` is then the input at its own time (within half a sample)
  and level plus the room's reflections. pyroomacoustics high-passes every RIR at
  10 Hz (its ``rir_hpf_fc``), so "unit gain" holds above a few tens of Hz.
* RIRs last ``max_length`` samples, by default the longest requested RT60 (the time
  the energy takes to fall by 60 dB) plus ``DIRECT_INDEX``; longer ones are cut.
* Source and microphone stay ``WALL_MARGIN`` (0.5 m) from every wall and at least
  ``MIN_DISTANCE`` (0.5 m) apart, as a loudspeaker and a microphone would be. Even
  so the largest tap of an RIR can be a reflection (2 of 20 with the defaults: the
  direct path's sinc peak drops to 0.64 at half-sample offsets), which is why the
  direct path is placed at a known index rather than found by ``argmax``.
* The image source method needs about ``(rt60 * c / room size)^3`` images: measured
  0.02 s for an RIR of 0.2 s in a 6 x 5 x 3 m room, 1.3 s for 0.8 s, 9 s for 20 RIRs
  of the default ranges (two busy cores). ``max_order`` caps the order for speed at
  the cost of the late tail (the decay past the cap's reach is missing, so the
  realised RT60 is shorter; order 12 makes 20 RIRs in 0.1 s); build banks once.
* ``random_shift`` delays with zeros, not circularly: a recording that starts early
  or late holds silence, never the end of the clip.
* Nothing is clipped to [-1, 1]: a gain above 0 dB can exceed it, and clipping would
  stop gradients.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import pyroomacoustics as pra

from audiojax.channel import ChannelError

DIRECT_INDEX = 40
WALL_MARGIN = 0.5
MIN_DISTANCE = 0.5
ROOM_DIM_RANGE = ((4.0, 4.0, 2.5), (10.0, 8.0, 4.0))  # offices to classrooms, metres
_PLACEMENT_TRIES = 100


def _check_range(name: str, value, *, positive: bool = False) -> tuple[float, float]:
  try:
    low, high = (float(v) for v in value)
  except (TypeError, ValueError):
    raise ChannelError(f"{name} must be a pair (low, high), got {value!r}") from None
  if not (math.isfinite(low) and math.isfinite(high)) or low > high:
    raise ChannelError(f"{name} must be finite with low <= high, got {value!r}")
  if positive and low <= 0:
    raise ChannelError(f"{name} must be positive, got {value!r}")
  return low, high


def _place(rng: np.random.Generator, dims: np.ndarray) -> tuple[np.ndarray, ...]:
  for _ in range(_PLACEMENT_TRIES):
    source = rng.uniform(WALL_MARGIN, dims - WALL_MARGIN)
    mic = rng.uniform(WALL_MARGIN, dims - WALL_MARGIN)
    if np.linalg.norm(source - mic) >= MIN_DISTANCE:
      return source, mic
  raise ChannelError(f"no source/mic {MIN_DISTANCE} m apart fits a room of {dims} m")


def random_rirs(
  seed: int,
  n: int,
  sample_rate: int,
  *,
  rt60_range: tuple[float, float] = (0.2, 0.8),
  room_dim_range: tuple[tuple[float, ...], tuple[float, ...]] = ROOM_DIM_RANGE,
  max_length: int | None = None,
  max_order: int | None = None,
) -> np.ndarray:
  """A seeded bank of shoebox room impulse responses (see the module docstring).

  Args:
    seed: seeds ``numpy.random.default_rng``; equal seeds give equal banks.
    n: how many RIRs.
    sample_rate: samples per second.
    rt60_range: ``(low, high)`` seconds; each RIR's target RT60 is uniform in it.
    room_dim_range: ``((x, y, z) low, (x, y, z) high)`` metres; each room's size is
      uniform in the box. Every side must exceed ``2 * WALL_MARGIN``.
    max_length: samples per RIR; default ``ceil(high RT60 * sample_rate)`` plus
      ``DIRECT_INDEX``.
    max_order: cap on the image source order (default: ``inverse_sabine``'s order).

  Returns:
    ``[n, max_length]`` float32, direct path at ``DIRECT_INDEX`` with unit gain.

  Raises:
    ChannelError: for a bad argument, or an RT60 too short for a drawn room (wall
      absorption above 1).
  """
  if not isinstance(n, numbers.Integral) or n < 0:
    raise ChannelError(f"n must be a non-negative int, got {n!r}")
  if not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
    raise ChannelError(f"sample_rate must be a positive int, got {sample_rate!r}")
  rt60_low, rt60_high = _check_range("rt60_range", rt60_range, positive=True)
  dims_range = np.asarray(room_dim_range, dtype=np.float64)
  if (
    dims_range.shape != (2, 3)
    or not np.all(np.isfinite(dims_range))
    or np.any(dims_range[0] > dims_range[1])
    or np.any(dims_range[0] <= 2 * WALL_MARGIN)
  ):
    raise ChannelError(
      "room_dim_range must be ((x, y, z) low, (x, y, z) high) with low <= high and "
      f"every side above {2 * WALL_MARGIN} m, got {room_dim_range!r}"
    )
  if max_length is None:
    max_length = math.ceil(rt60_high * sample_rate) + DIRECT_INDEX
  if not isinstance(max_length, numbers.Integral) or max_length <= DIRECT_INDEX:
    raise ChannelError(
      f"max_length must be an int > {DIRECT_INDEX}, got {max_length!r}"
    )
  if max_order is not None and (
    not isinstance(max_order, numbers.Integral) or max_order < 0
  ):
    raise ChannelError(f"max_order must be a non-negative int, got {max_order!r}")

  rng = np.random.default_rng(seed)
  speed = pra.constants.get("c")
  half_sinc = pra.constants.get("frac_delay_length") // 2
  bank = np.zeros((n, max_length), np.float32)
  for i in range(n):
    rt60 = rng.uniform(rt60_low, rt60_high)
    dims = rng.uniform(dims_range[0], dims_range[1])
    source, mic = _place(rng, dims)
    try:
      absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError as error:
      raise ChannelError(
        f"RT60 {rt60:.3f} s is too short for a room of {np.round(dims, 2)} m: {error}"
      ) from None
    room = pra.ShoeBox(
      dims,
      fs=sample_rate,
      materials=pra.Material(absorption),
      max_order=order if max_order is None else min(order, int(max_order)),
      air_absorption=False,
    )
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float64)
    distance = float(np.linalg.norm(source - mic))
    # pyroomacoustics centres the direct path's sinc at d / c * fs + half_sinc; move
    # that, rounded to a whole sample, to DIRECT_INDEX.
    start = round(distance / speed * sample_rate) + half_sinc - DIRECT_INDEX
    rir = np.concatenate([np.zeros(max(0, -start)), rir[max(0, start) :]])
    rir = rir[:max_length] * distance
    bank[i, : len(rir)] = rir
  return bank


def _check_batch(x, what: str) -> jax.Array:
  x = jnp.asarray(x)
  if x.ndim != 2:
    raise ChannelError(f"{what} takes x [N, T], got shape {x.shape}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  return x


def convolve(x, rir, delay: int = DIRECT_INDEX) -> jax.Array:
  """Each example convolved with its RIR by FFT, cut to the input's length.

  ``out[n, t] = sum_k rir[n, k] * x[n, t + delay - k]``: the full convolution from
  sample ``delay`` on, so a direct path at ``rir[:, delay]`` lands at time zero.

  Args:
    x: ``[N, T]`` waveforms.
    rir: ``[N, L]`` (one per example) or ``[1, L]`` (one for all) impulse responses.
    delay: index of the direct path in ``rir`` (``DIRECT_INDEX`` for
      :func:`random_rirs`; the onset of a measured one), a static int.

  Returns:
    ``[N, T]`` in ``x``'s dtype, differentiable with respect to ``x`` and ``rir``.
  """
  x = _check_batch(x, "convolve")
  rir = jnp.asarray(rir, x.dtype)
  if rir.ndim != 2 or rir.shape[0] not in (1, x.shape[0]):
    raise ChannelError(
      f"convolve takes rir [N or 1, L] for x of shape {x.shape}, got {rir.shape}"
    )
  if not isinstance(delay, numbers.Integral) or not 0 <= delay < rir.shape[1]:
    raise ChannelError(f"delay must be an int in [0, {rir.shape[1]}), got {delay!r}")
  length = x.shape[1]
  # A power of two at least as long as the full convolution: no circular wrap.
  n_fft = 1 << (length + rir.shape[1] - 2).bit_length()
  spectrum = jnp.fft.rfft(x, n_fft) * jnp.fft.rfft(rir, n_fft)
  full = jnp.fft.irfft(spectrum, n_fft)
  return full[:, delay : delay + length].astype(x.dtype)


def add_noise_at_snr(x, key: jax.Array, snr_db) -> jax.Array:
  """``x`` plus white Gaussian noise scaled to an exact per-example SNR.

  The drawn noise is rescaled by its own power, so ``10 log10(sum x^2 / sum noise^2)``
  equals ``snr_db`` for every example (not just in expectation). A silent example
  gets no noise.

  Args:
    x: ``[N, T]`` waveforms.
    key: a JAX PRNG key.
    snr_db: scalar or ``[N]`` signal-to-noise ratios in dB.

  Returns:
    ``[N, T]``.
  """
  x = _check_batch(x, "add_noise_at_snr")
  snr_db = jnp.broadcast_to(jnp.asarray(snr_db, x.dtype), x.shape[:1])
  noise = jax.random.normal(key, x.shape, x.dtype)
  signal_power = jnp.mean(jnp.square(x), axis=-1)
  noise_power = jnp.mean(jnp.square(noise), axis=-1)
  target = signal_power / (noise_power * 10.0 ** (snr_db / 10.0))
  # sqrt has an infinite slope at 0: keep the silent branch out of the gradient.
  scale = jnp.where(
    signal_power > 0, jnp.sqrt(jnp.maximum(target, jnp.finfo(x.dtype).tiny)), 0.0
  )
  return x + scale[:, None] * noise


def random_gain(x, key: jax.Array, low_db: float, high_db: float) -> jax.Array:
  """Each example times a gain drawn uniformly in ``[low_db, high_db]`` dB.

  Args:
    x: ``[N, T]`` waveforms.
    key: a JAX PRNG key.
    low_db: lowest gain in dB.
    high_db: highest gain in dB.

  Returns:
    ``[N, T]``.
  """
  x = _check_batch(x, "random_gain")
  low_db, high_db = _check_range("(low_db, high_db)", (low_db, high_db))
  gain_db = jax.random.uniform(key, x.shape[:1], x.dtype, low_db, high_db)
  return x * (10.0 ** (gain_db / 20.0))[:, None]


def random_shift(x, key: jax.Array, max_shift: int) -> jax.Array:
  """Each example delayed by an integer drawn uniformly in ``[-max_shift, max_shift]``.

  A positive shift ``s`` gives ``out[t] = x[t - s]`` with zeros before ``s``; a
  negative one advances the clip and fills its end with zeros (not circular).

  Args:
    x: ``[N, T]`` waveforms.
    key: a JAX PRNG key.
    max_shift: largest shift in samples, a static int >= 0.

  Returns:
    ``[N, T]``.
  """
  x = _check_batch(x, "random_shift")
  if not isinstance(max_shift, numbers.Integral) or max_shift < 0:
    raise ChannelError(f"max_shift must be a non-negative int, got {max_shift!r}")
  if max_shift == 0:
    return x
  shift = jax.random.randint(key, x.shape[:1], -max_shift, max_shift + 1)
  padded = jnp.pad(x, ((0, 0), (max_shift, max_shift)))
  index = jnp.arange(x.shape[1])[None, :] + max_shift - shift[:, None]
  return jnp.take_along_axis(padded, index, axis=1)


def over_the_air(
  x,
  key: jax.Array,
  rirs,
  *,
  snr_db_range: tuple[float, float] | None,
  gain_db_range: tuple[float, float] | None,
  max_shift: int,
  rir_delay: int = DIRECT_INDEX,
) -> jax.Array:
  """One random over-the-air channel per example (EOT; Qin et al., 2019).

  Each example is convolved with an RIR drawn uniformly from ``rirs``, scaled by a
  random gain, shifted by a random delay, and has noise added at a random SNR
  (relative to what reaches the microphone), in that order; every draw is uniform and
  independent. Deterministic given ``key``.

  Args:
    x: ``[N, T]`` waveforms.
    key: a JAX PRNG key.
    rirs: ``[M, L]`` bank of impulse responses (e.g. :func:`random_rirs`).
    snr_db_range: ``(low, high)`` SNR in dB, or None for no noise.
    gain_db_range: ``(low, high)`` gain in dB, or None for unit gain.
    max_shift: largest delay in samples (0 for none), static.
    rir_delay: index of the direct path in the RIRs (see :func:`convolve`).

  Returns:
    ``[N, T]``, differentiable with respect to ``x``.
  """
  x = _check_batch(x, "over_the_air")
  rirs = jnp.asarray(rirs, x.dtype)
  if rirs.ndim != 2 or rirs.shape[0] == 0:
    raise ChannelError(f"over_the_air takes a bank rirs [M >= 1, L], got {rirs.shape}")
  room_key, gain_key, shift_key, snr_key, noise_key = jax.random.split(key, 5)
  choice = jax.random.randint(room_key, x.shape[:1], 0, rirs.shape[0])
  y = convolve(x, rirs[choice], delay=rir_delay)
  if gain_db_range is not None:
    y = random_gain(y, gain_key, *gain_db_range)
  y = random_shift(y, shift_key, max_shift)
  if snr_db_range is not None:
    low, high = _check_range("snr_db_range", snr_db_range)
    snr_db = jax.random.uniform(snr_key, x.shape[:1], x.dtype, low, high)
    y = add_noise_at_snr(y, noise_key, snr_db)
  return y
