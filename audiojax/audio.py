"""Waveform I/O: load, save, resample, down-mix and validate audio, failing loudly.

Decoding goes through ``soundfile`` (libsndfile) and resampling through
``librosa.resample`` (soxr, band-limited). Layout follows librosa: a mono waveform is
``[samples]`` and a multichannel one ``[channels, samples]``; samples are floating
point in [-1, 1].

Anything malformed raises :class:`AudioError` naming the problem and, when there is
one, the file: empty input, truncated files, non-audio bytes, non-finite samples, an
absurd duration, a wrong dtype or rank, a non-positive sample rate. libsndfile is
lenient where that would hide damage, so two checks are done here on top of it:

* a WAV whose ``data`` chunk is shorter than its header says (a cut download) is read
  by libsndfile as a shorter file without complaint; :func:`load` parses the RIFF
  chunks and raises instead;
* the duration is checked from the header's frame count before any sample is read.

Integer arrays are never rescaled implicitly: :func:`validate` rejects them, because
``int16`` PCM and already-scaled integers cannot be told apart. Convert explicitly,
e.g. ``y.astype(np.float32) / 32768``.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

import librosa
import numpy as np
import soundfile as sf
from absl import logging

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

# Magic numbers of common non-audio files, so the error says what was given instead.
_NOT_AUDIO_MAGIC = {
  b"\x89PNG\r\n\x1a\n": "a PNG image",
  b"\xff\xd8\xff": "a JPEG image",
  b"GIF8": "a GIF image",
  b"%PDF": "a PDF document",
  b"PK\x03\x04": "a ZIP archive",
  b"\x1f\x8b": "a gzip archive",
}
# RIFF data-chunk sizes that mean "unknown length" (written by streaming encoders).
_RIFF_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class AudioError(ValueError):
  """Audio input is empty, truncated, not audio, non-finite, or of the wrong form."""


def validate(y, *, sr: float | None = None, name: str = "audio") -> np.ndarray:
  """Checks a waveform and returns it as a float32 numpy array.

  Args:
    y: samples, ``[samples]`` or ``[channels, samples]`` (numpy or jax array), floating
      point in [-1, 1]. Integer, bool, complex and object arrays are rejected.
    sr: sample rate to check as well, if given.
    name: what ``y`` is, used in error messages (e.g. a file name).

  Returns:
    ``y`` as a float32 ``np.ndarray`` of the same shape.

  Raises:
    AudioError: naming the dtype, rank, shape, first non-finite sample, or rate.
  """
  return _validate(y, sr=sr, name=name, check_layout=True)


def _validate(y, *, sr, name: str, check_layout: bool) -> np.ndarray:
  """:func:`validate`; ``check_layout=False`` when the layout is known to be right."""
  if sr is not None:
    check_sample_rate(sr, name=f"{name} sample rate")
  try:
    arr = np.asarray(y)
  except Exception as e:
    raise AudioError(f"{name}: cannot be converted to an array ({e})") from e
  if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
    hint = ""
    if np.issubdtype(arr.dtype, np.integer):
      hint = (
        "; integer PCM is not rescaled implicitly, convert it explicitly, e.g. "
        f"y.astype(np.float32) / {2 ** (8 * arr.dtype.itemsize - 1)}"
      )
    raise AudioError(
      f"{name} has dtype {arr.dtype}; expected floating-point samples{hint}"
    )
  if arr.ndim not in (1, 2):
    raise AudioError(
      f"{name} has rank {arr.ndim} (shape {arr.shape}); expected [samples] or "
      "[channels, samples]"
    )
  if arr.size == 0:
    raise AudioError(f"{name} is empty (shape {arr.shape}, 0 samples)")
  if check_layout and arr.ndim == 2 and arr.shape[0] > arr.shape[1]:
    raise AudioError(
      f"{name} has shape {arr.shape}, more channels than samples: it looks like "
      "[samples, channels]; transpose it to [channels, samples]"
    )
  finite = np.isfinite(arr)
  if not finite.all():
    bad = np.argwhere(~finite)
    first = tuple(int(i) for i in bad[0])
    where = f"sample {first[-1]}" + (f" of channel {first[0]}" if arr.ndim == 2 else "")
    raise AudioError(
      f"{name} has {len(bad)} non-finite samples (NaN/Inf), the first is "
      f"{arr[first]} at {where}"
    )
  return arr.astype(np.float32, copy=False)


def check_sample_rate(sr, *, name: str = "sample rate") -> float:
  """Returns ``sr`` if it is a positive finite number, else raises AudioError."""
  if isinstance(sr, bool) or not isinstance(sr, int | float | np.integer | np.floating):
    raise AudioError(f"{name} must be a positive number, got {sr!r}")
  if not np.isfinite(sr) or sr <= 0:
    raise AudioError(f"{name} must be positive, got {sr!r}")
  return sr


def to_mono(y) -> np.ndarray:
  """Down-mixes ``[channels, samples]`` to ``[samples]`` by averaging the channels.

  Args:
    y: ``[samples]`` (returned unchanged) or ``[channels, samples]``.

  Returns:
    float32 ``[samples]``, the mean over channels.
  """
  arr = validate(y)
  return arr if arr.ndim == 1 else arr.mean(axis=0, dtype=np.float32)


def resample(y, orig_sr: float, target_sr: float) -> np.ndarray:
  """Resamples over the last axis with librosa's default band-limited soxr filter.

  Args:
    y: floating-point samples, ``[..., samples]`` (any leading axes).
    orig_sr: sample rate of ``y``.
    target_sr: wanted sample rate.

  Returns:
    float32 ``[..., ceil(samples * target_sr / orig_sr)]``.
  """
  check_sample_rate(orig_sr, name="orig_sr")
  check_sample_rate(target_sr, name="target_sr")
  arr = np.asarray(y)
  if arr.ndim == 0:
    raise AudioError("resample needs an array with a samples axis, got a scalar")
  # validate() on a 1-D view of the data gives the same dtype/emptiness/NaN checks
  # for any number of leading axes.
  validate(arr.reshape(-1), name="audio to resample")
  if orig_sr == target_sr:
    return arr.astype(np.float32)
  out = librosa.resample(
    arr, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1
  )
  return out.astype(np.float32, copy=False)


def load(
  source: Source,
  *,
  sr: int | None = None,
  mono: bool = True,
  max_seconds: float = 3600.0,
  dtype=np.float32,
) -> tuple[np.ndarray, int]:
  """Decodes an audio file (any format libsndfile reads: WAV, FLAC, OGG, MP3, ...).

  Args:
    source: a path, the file's bytes, or a seekable binary file object (read from
      its start).
    sr: resample to this rate; ``None`` keeps the file's rate.
    mono: average the channels into ``[samples]``; otherwise return
      ``[channels, samples]`` (also for a mono file, so the rank is predictable).
    max_seconds: longest accepted duration, checked from the header before reading.
    dtype: ``np.float32`` or ``np.float64``.

  Returns:
    ``(y, sr)``: samples in [-1, 1] and their sample rate.

  Raises:
    AudioError: on empty, truncated, non-audio, non-finite or too long input.
    FileNotFoundError: if ``source`` is a path that does not exist.
  """
  if np.dtype(dtype) not in (np.float32, np.float64):
    raise AudioError(f"load dtype must be float32 or float64, got {np.dtype(dtype)}")
  if sr is not None and int(check_sample_rate(sr, name="target sample rate")) != sr:
    raise AudioError(f"target sample rate must be an integer, got {sr!r}")
  check_sample_rate(max_seconds, name="max_seconds")
  fileobj, name, owned = _open(source)
  try:
    _check_not_truncated_riff(fileobj, name)
    fileobj.seek(0)
    try:
      f = sf.SoundFile(fileobj)
    except sf.LibsndfileError as e:
      raise AudioError(f"{name} is not audio: {_describe(fileobj, e)}") from e
    with f:
      if f.samplerate <= 0 or f.channels <= 0:
        raise AudioError(
          f"{name} has a malformed header: sample rate {f.samplerate}, "
          f"{f.channels} channels"
        )
      if f.frames <= 0:
        raise AudioError(f"{name} is empty (0 samples)")
      seconds = f.frames / f.samplerate
      if seconds > max_seconds:
        raise AudioError(
          f"{name} is {seconds:.2f} s long ({f.frames} frames at {f.samplerate} "
          f"Hz), more than max_seconds={max_seconds}"
        )
      try:
        data = f.read(dtype="float32", always_2d=True)
      except sf.LibsndfileError as e:
        raise AudioError(
          f"{name} is truncated or corrupt: libsndfile: {e.error_string}"
        ) from e
      native_sr = f.samplerate
      if len(data) < f.frames:
        raise AudioError(
          f"{name} is truncated: its header promises {f.frames} frames, only "
          f"{len(data)} could be decoded"
        )
  finally:
    if owned:
      fileobj.close()
  # soundfile gives [frames, channels]: the layout is known, even for 1 frame.
  y = _validate(data.T, sr=None, name=name, check_layout=False)
  if mono:
    y = y.mean(axis=0, dtype=np.float32)
  if sr is not None and sr != native_sr:
    y = resample(y, native_sr, sr)
  return y.astype(dtype, copy=False), int(sr if sr is not None else native_sr)


def save(path, y, sr: int, *, subtype: str = "PCM_16", format: str | None = None):
  """Writes a waveform with soundfile (format from the file suffix unless given).

  Integer subtypes such as PCM_16 clip samples outside [-1, 1] (libsndfile's
  behaviour); a warning is logged when that happens.

  Args:
    path: destination path, or a binary file object together with ``format``.
    y: ``[samples]`` or ``[channels, samples]`` floating-point samples.
    sr: integer sample rate.
    subtype: libsndfile subtype, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``.
    format: libsndfile format (``"WAV"``, ``"FLAC"``, ...); ``None`` infers it.

  Raises:
    AudioError: for invalid samples, rate, subtype or format.
  """
  arr = validate(y, sr=sr)
  if int(sr) != sr:
    raise AudioError(f"save needs an integer sample rate, got {sr!r}")
  peak = float(np.abs(arr).max())
  if peak > 1.0 and subtype.upper().startswith("PCM"):
    logging.warning("save(%s): peak %.3f > 1 is clipped by %s", path, peak, subtype)
  try:
    sf.write(path, arr.T, int(sr), subtype=subtype, format=format)
  except (sf.LibsndfileError, TypeError, ValueError) as e:
    raise AudioError(f"cannot write {path} ({subtype=}, {format=}): {e}") from e


def _open(source: Source) -> tuple[BinaryIO, str, bool]:
  """Returns a seekable file over ``source``, a name for errors, whether to close it."""
  if isinstance(source, bytes | bytearray | memoryview):
    data = bytes(source)
    if not data:
      raise AudioError("audio bytes are empty (0 bytes)")
    return io.BytesIO(data), f"<{len(data)} bytes>", True
  if isinstance(source, str | os.PathLike):
    path = os.fspath(source)
    if not os.path.isfile(path):
      raise FileNotFoundError(f"no audio file at {path!r}")
    if os.path.getsize(path) == 0:
      raise AudioError(f"{path} is empty (0 bytes)")
    return open(path, "rb"), path, True
  if hasattr(source, "read"):
    name = getattr(source, "name", None) or f"<{type(source).__name__}>"
    owned = not (hasattr(source, "seekable") and source.seekable())
    fileobj = io.BytesIO(source.read()) if owned else source
    fileobj.seek(0, io.SEEK_END)
    if fileobj.tell() == 0:
      raise AudioError(f"{name} is empty (0 bytes)")
    fileobj.seek(0)
    return fileobj, str(name), owned
  raise AudioError(
    f"audio source must be a path, bytes or a binary file, got {type(source)}"
  )


def _check_not_truncated_riff(fileobj: BinaryIO, name: str) -> None:
  """Raises if a RIFF/WAVE file ends before its header or ``data`` chunk does."""
  fileobj.seek(0, io.SEEK_END)
  size = fileobj.tell()
  fileobj.seek(0)
  head = fileobj.read(12)
  if head[:4] not in (b"RIFF", b"RIFX") or (len(head) == 12 and head[8:] != b"WAVE"):
    return
  if len(head) < 12:
    raise AudioError(f"{name} is truncated: the WAV header is cut at byte {size}")
  endian = "<" if head[:4] == b"RIFF" else ">"
  offset = 12
  while True:
    fileobj.seek(offset)
    chunk = fileobj.read(8)
    if len(chunk) < 8:
      raise AudioError(
        f"{name} is truncated: the WAV header is cut at byte {size} before the "
        "'data' chunk"
      )
    chunk_id = chunk[:4].decode("latin-1")
    chunk_size = struct.unpack(endian + "I", chunk[4:])[0]
    available = size - offset - 8
    if chunk_id == "data":
      if chunk_size not in _RIFF_UNKNOWN_SIZES and chunk_size > available:
        raise AudioError(
          f"{name} is truncated: its 'data' chunk should hold {chunk_size} bytes, "
          f"the file has {available}"
        )
      return
    if chunk_size > available:
      raise AudioError(
        f"{name} is truncated: its '{chunk_id}' chunk should hold {chunk_size} "
        f"bytes, the file has {available}"
      )
    offset += 8 + chunk_size + (chunk_size & 1)  # chunks are word aligned


def _describe(fileobj: BinaryIO, error: sf.LibsndfileError) -> str:
  """Says what a file that libsndfile cannot open looks like."""
  fileobj.seek(0)
  head = fileobj.read(256)
  reason = f"libsndfile: {error.error_string}"
  for magic, kind in _NOT_AUDIO_MAGIC.items():
    if head.startswith(magic):
      return f"it looks like {kind} ({reason})"
  text = head.decode("utf-8", errors="replace")
  if "\ufffd" not in text and all(c.isprintable() or c.isspace() for c in text):
    return f"it looks like text starting {text[:24]!r} ({reason})"
  return reason
