"""Short-time Fourier features in JAX that reproduce librosa 0.11 (McFee et al., 2015).

``stft``, ``istft``, ``melspectrogram``, ``power_to_db``, ``amplitude_to_db``, ``mfcc``
and ``griffin_lim`` take librosa's keyword names and defaults and return its layouts
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
  takes a JAX PRNG ``key`` where librosa's ``griffinlim`` takes ``random_state``.
"""

# Layout: ``spectral`` (stft, istft, griffin_lim), ``mel`` (melspectrogram, dB, mfcc),
# ``_fft`` (batch-parallel FFTs) and ``_cache`` (librosa's filter banks and windows).

# The private FFTs stay reachable here: tests check their gradients against JAX's.
from audiojax.features._fft import _irfft as _irfft
from audiojax.features._fft import _rfft as _rfft
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
  stft,
)

# On CPU, a batch whose frames take more than _UNCHUNKED_BYTES runs through the mel
# pipeline in chunks of about _CHUNK_BYTES of frames, which keeps frames, spectrum and
# power in cache: 256 one-second clips ran 2.4x faster (forward) than in one pass, 64
# clips ran best unchunked (a 2-core EPYC with 32 MB of L3; benchmarks/features.py).
# ``mel`` reads them from here at trace time, so setting them on the package applies.
_CHUNK_BYTES = 4 << 20
_UNCHUNKED_BYTES = 24 << 20

__all__ = [
  "amplitude_to_db",
  "griffin_lim",
  "griffinlim",
  "istft",
  "melspectrogram",
  "mfcc",
  "power_to_db",
  "stft",
]
