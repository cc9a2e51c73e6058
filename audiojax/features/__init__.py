"""Short-time Fourier features in JAX that reproduce librosa 0.11 (McFee et al., 2015).

``stft``, ``istft``, ``melspectrogram``, ``power_to_db``, ``amplitude_to_db``, ``mfcc``,
``spectral_centroid``, ``griffin_lim``, ``mel_to_stft`` and ``mel_to_audio`` take
librosa's keyword names and defaults and return its layouts
(``[..., freq, frames]``); windows, mel filter banks and window sum-squares are
librosa's own (built once on the host and cached), so results differ from librosa only
by float32 arithmetic. Beyond librosa:

* Any leading batch axes. Reductions librosa takes over the whole array (``ref``
  callables and ``top_db`` in the dB conversions) are taken per example, over the last
  two axes, so a batch gives what a loop over its examples gives.
* ``jax.jit``, ``jax.vmap`` and reverse-mode ``jax.grad`` w.r.t. the waveform, for
  attacks; configuration arguments are Python values (close over them or mark them
  static). Under a data-parallel mesh the FFTs stay split along the batch.
* ``griffin_lim`` (Griffin & Lim, 1984, with the momentum of Perraudin et al., 2013)
  takes a JAX PRNG ``key`` where librosa's ``griffinlim`` takes ``random_state``;
  so does ``mel_to_audio``.
* ``mel_to_stft`` solves librosa's non-negative least squares by multiplicative
  updates (jit-able and differentiable) rather than L-BFGS-B: the mel projection of
  its result matches, the spectrum itself need not (the problem has many solutions).
* ``fix_length`` (``librosa.util.fix_length``) returns numpy for numpy input, for
  host-side data pipelines, and JAX arrays for JAX input.
"""

# Layout: ``spectral`` (stft, istft, griffin_lim, spectral_centroid), ``mel``
# (melspectrogram, dB, mfcc), ``inverse`` (mel_to_stft, mel_to_audio), ``util``
# (fix_length), ``_fft`` (batch-parallel FFTs) and ``_cache`` (librosa's filter banks
# and windows).

from audiojax.features.inverse import mel_to_audio, mel_to_stft
from audiojax.features.mel import (
  amplitude_to_db,
  melspectrogram,
  mfcc,
  power_to_db,
)
from audiojax.features.spectral import (
  griffin_lim,
  griffinlim,
  istft,
  spectral_centroid,
  stft,
)
from audiojax.features.util import fix_length

# On CPU, a batch whose frames take more than _UNCHUNKED_BYTES runs through the mel
# pipeline in chunks of about _CHUNK_BYTES of frames, which keeps frames, spectrum and
# power in cache: 256 one-second clips ran 2.4x faster (forward) than in one pass, 64
# clips ran best unchunked (a 2-core EPYC with 32 MB of L3; benchmarks/features.py).
# ``mel`` reads them from here at trace time, so setting them on the package applies.
_CHUNK_BYTES = 4 << 20
_UNCHUNKED_BYTES = 24 << 20

__all__ = [
  "amplitude_to_db",
  "fix_length",
  "griffin_lim",
  "griffinlim",
  "istft",
  "mel_to_audio",
  "mel_to_stft",
  "melspectrogram",
  "mfcc",
  "power_to_db",
  "spectral_centroid",
  "stft",
]
