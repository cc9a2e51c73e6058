"""The channel between an attacker and a model: lossy codecs and over-the-air rooms.

Adversarial audio rarely reaches a model as the attacker wrote it. It is compressed
on the way (an upload, a call) or played through a loudspeaker into a room and
recorded. This package simulates both so attacks can be made robust to them and
evaluated against them.

* ``codecs``: ``CODECS``, a registry of real lossy codec round trips on the host
  (MP3 at 32/64/128 kbps through LAME, Ogg Vorbis and Ogg Opus through libsndfile,
  GSM 06.10 full rate through pedalboard), each returning audio aligned with its
  input so that ``decoded - input`` is the codec's error alone; and
  ``codec_layer(name, sample_rate)``, the same round trip as a JAX function with the
  straight-through (BPDA) gradient of Athalye et al. (2018, "Obfuscated gradients
  give a false sense of security").
* ``rooms``: seeded banks of shoebox room impulse responses from pyroomacoustics
  (image source method at a requested RT60), FFT convolution aligned to the direct
  path, noise at a per-example SNR, random gain and delay, and ``over_the_air``, the
  random transformation of expectation over transformation (Athalye et al., 2018,
  "Synthesizing robust adversarial examples") in the over-the-air form of Qin et al.
  (2019, "Imperceptible, robust, and targeted adversarial examples for automatic
  speech recognition"): pure JAX, jit-able and differentiable given the bank.

Both raise :class:`ChannelError` for bad input, naming the offending value.
"""


class ChannelError(ValueError):
  """A bad input to a channel: wrong rank or shape, non-finite samples, a sample rate
  or parameter the codec or room cannot take."""
