"""Spotify's basic-pitch (Bittner et al., ICASSP 2022, "A lightweight instrument-
agnostic model for polyphonic note transcription and multipitch estimation") as a
black-box peer transcriber, through its ONNX export and its own note creation.

:class:`BasicPitch` runs ``saved_models/icassp_2022/nmp.onnx`` of the installed
``basic-pitch`` package with ``onnxruntime`` and reproduces
``basic_pitch.inference.run_inference`` on in-memory batches: resample to 22050 Hz
as ``librosa.load`` does there (``librosa.resample``, ``soxr_hq``), prepend half the
30-frame overlap, cut windows of ``AUDIO_N_SAMPLES`` every ``AUDIO_N_SAMPLES -
overlap`` samples (zero-padding the last), run every window of the batch in batched
ONNX calls, drop 15 overlapping frames at each end of each window, concatenate and
trim to ``floor(samples * ANNOTATIONS_FPS / 22050)`` frames (172 for a 2-s clip).
Notes come from ``basic_pitch.note_creation.model_output_to_notes`` with
``basic_pitch.inference.predict``'s defaults.

A black-box attack on it ascends :meth:`BasicPitch.objective` with
:func:`audiojax.attacks.spsa.spsa_maximize`::

  bp = BasicPitch(sample_rate=16000)
  refs = bp.reference_rolls(notes, audio.shape[1])      # the clean reference notes
  adv = spsa_maximize(lambda a, i: bp.objective(a, refs[i]), audio, eps=0.005)

Its frames follow the same convention as :mod:`audiojax.transcription.rolls`: frame
``t`` is centred at ``t * 256 / 22050`` s (basic-pitch's ``model_frames_to_time``
inside one window), i.e. :data:`FRAME_RATE` = 86.13 frames/s, over the 88 keys.

Importing basic-pitch's package imports TensorFlow if it is installed (about 7 s,
for a path this module never takes). When TensorFlow is not already imported, the
import here hides it (``sys.modules["tensorflow"] = None`` for the duration), so
``basic_pitch`` sees no TensorFlow and only mir_eval, resampy and librosa load
(about 1 s). Nothing is imported until the first :class:`BasicPitch` is built.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import sys
import types
import warnings
from collections.abc import Sequence

import numpy as np

from audiojax.transcription import rolls

# basic_pitch.constants, repeated so this module imports nothing: checked against the
# package by the tests.
SAMPLE_RATE = 22050  # AUDIO_SAMPLE_RATE
FFT_HOP = 256
FRAME_RATE = SAMPLE_RATE / FFT_HOP  # frames per second of its outputs
# basic_pitch.inference.predict's defaults.
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MINIMUM_NOTE_LENGTH_MS = 127.70
N_OVERLAPPING_FRAMES = 30  # run_inference's window overlap.


def package_dir() -> str:
  """The installed ``basic_pitch`` package's folder (found without importing it)."""
  spec = importlib.util.find_spec("basic_pitch")
  if spec is None or not spec.submodule_search_locations:
    raise ImportError("basic-pitch is not installed (pip install basic-pitch)")
  return list(spec.submodule_search_locations)[0]


def default_model_path() -> str:
  """``saved_models/icassp_2022/nmp.onnx`` of the installed package."""
  return os.path.join(package_dir(), "saved_models", "icassp_2022", "nmp.onnx")


@contextlib.contextmanager
def _quiet_import_without_tensorflow():
  hide = "tensorflow" not in sys.modules
  if hide:
    sys.modules["tensorflow"] = None  # ``import tensorflow`` raises ImportError.
  previous = logging.root.manager.disable
  logging.disable(logging.WARNING)  # "coremltools is not installed", ...
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", UserWarning)  # resampy's pkg_resources.
      yield
  finally:
    logging.disable(previous)
    if hide and sys.modules.get("tensorflow", 0) is None:
      del sys.modules["tensorflow"]


@functools.cache
def load(module: str) -> types.ModuleType:
  """A module of basic-pitch (``"basic_pitch.note_creation"``), imported without
  TensorFlow unless it is imported already, and without its install warnings."""
  with _quiet_import_without_tensorflow():
    return importlib.import_module(module)


class BasicPitch:
  """basic-pitch on batches of clips: posteriors, notes, and an attack objective.

  Args:
    model_path: an ONNX export of basic-pitch (default: the package's own).
    sample_rate: Hz of the audio given to every method.
    max_batch: windows per ONNX call.
    threads: onnxruntime intra-op threads (None: its default, every core).
  """

  def __init__(
    self,
    model_path: str | None = None,
    *,
    sample_rate: int = 16000,
    max_batch: int = 16,
    threads: int | None = None,
  ):
    import onnxruntime

    self.constants = load("basic_pitch.constants")
    self.note_creation = load("basic_pitch.note_creation")
    options = onnxruntime.SessionOptions()
    if threads is not None:
      options.intra_op_num_threads = int(threads)
    self.session = onnxruntime.InferenceSession(
      model_path or default_model_path(), options, providers=["CPUExecutionProvider"]
    )
    self.input_name = self.session.get_inputs()[0].name
    # basic_pitch.inference.Model.predict's names for the ONNX outputs.
    self.output_names = {
      "note": "StatefulPartitionedCall:1",
      "onset": "StatefulPartitionedCall:2",
      "contour": "StatefulPartitionedCall:0",
    }
    self.sample_rate = int(sample_rate)
    self.max_batch = int(max_batch)
    self.window = int(self.constants.AUDIO_N_SAMPLES)
    self.overlap = N_OVERLAPPING_FRAMES * FFT_HOP
    self.hop = self.window - self.overlap

  def resample(self, audio: np.ndarray) -> np.ndarray:
    """``[B, T]`` at ``sample_rate`` -> ``[B, T']`` float32 at 22050 Hz."""
    import librosa

    audio = _batch(audio)
    if self.sample_rate == SAMPLE_RATE:
      return audio
    out = librosa.resample(
      audio, orig_sr=self.sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq"
    )
    return np.asarray(out, np.float32)

  def num_frames(self, num_samples: int) -> int:
    """Output frames of a clip of ``num_samples`` at ``sample_rate`` (172 for 2 s)."""
    length = int(np.ceil(num_samples * SAMPLE_RATE / self.sample_rate))
    return int(np.floor(length * self.constants.ANNOTATIONS_FPS / SAMPLE_RATE))

  def posteriors(self, audio: np.ndarray) -> dict[str, np.ndarray]:
    """basic-pitch's outputs for each clip.

    Args:
      audio: ``[B, T]`` waveforms at ``sample_rate`` (any T).

    Returns:
      ``{"note": [B, frames, 88], "onset": [B, frames, 88], "contour": [B, frames,
      264]}`` of probabilities, ``frames = num_frames(T)``.
    """
    audio = self.resample(audio)
    batch, length = audio.shape
    padded = np.concatenate(
      [np.zeros((batch, self.overlap // 2), np.float32), audio], axis=1
    )
    starts = range(0, padded.shape[1], self.hop)
    windows = np.zeros((batch, len(starts), self.window), np.float32)
    for w, start in enumerate(starts):
      piece = padded[:, start : start + self.window]
      windows[:, w, : piece.shape[1]] = piece
    flat = windows.reshape(-1, self.window, 1)
    names = list(self.output_names.values())
    chunks = [
      self.session.run(names, {self.input_name: flat[i : i + self.max_batch]})
      for i in range(0, len(flat), self.max_batch)
    ]
    keep = int(np.floor(length * self.constants.ANNOTATIONS_FPS / SAMPLE_RATE))
    half = N_OVERLAPPING_FRAMES // 2
    out = {}
    for k, key in enumerate(self.output_names):
      y = np.concatenate([c[k] for c in chunks])  # [B * windows, 172, bins]
      y = y.reshape(batch, len(starts), *y.shape[1:])[:, :, half:-half]
      out[key] = y.reshape(batch, -1, y.shape[-1])[:, :keep]
    return out

  def notes_of(
    self, posteriors: dict[str, np.ndarray]
  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Notes of :meth:`posteriors` by basic-pitch's ``model_output_to_notes``."""
    min_note_len = int(np.round(MINIMUM_NOTE_LENGTH_MS / 1000 * FRAME_RATE))
    out = []
    for i in range(len(posteriors["note"])):
      output = {k: np.array(v[i]) for k, v in posteriors.items()}
      _, events = self.note_creation.model_output_to_notes(
        output,
        onset_thresh=ONSET_THRESHOLD,
        frame_thresh=FRAME_THRESHOLD,
        min_note_len=min_note_len,
      )
      events = sorted(events, key=lambda e: (e[0], e[2]))
      intervals = np.array([[e[0], e[1]] for e in events], np.float64).reshape(-1, 2)
      pitches = np.array([e[2] for e in events], np.int64)
      out.append((intervals, pitches))
    return out

  def notes(self, audio: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each clip's notes ``(intervals [k, 2] s, MIDI pitches [k])``, by onset."""
    return self.notes_of(self.posteriors(audio))

  def reference_rolls(
    self, notes: Sequence[np.ndarray], num_samples: int
  ) -> np.ndarray:
    """Rolls ``[B, frames, 88]`` of reference notes on basic-pitch's frame grid."""
    frames = self.num_frames(num_samples)
    return np.stack(
      [rolls.notes_to_roll(n, frames, FRAME_RATE, rolls.MIN_PITCH) for n in notes]
    )

  def objective(
    self,
    audio: np.ndarray,
    reference_rolls: np.ndarray,
    frame_rate: float | None = None,
  ) -> np.ndarray:
    """The mean BCE of the note posteriors against reference rolls: ``[B]``.

    Grows as the transcription moves away from the reference (a score a black-box
    attack ascends, e.g. ``attacks.spsa.spsa_maximize``); no gradient is needed.

    Args:
      audio: ``[B, T]`` at ``sample_rate``.
      reference_rolls: ``[B, frames, 88]`` 0/1 rolls over MIDI 21..108: on
        basic-pitch's grid (:meth:`reference_rolls`), or on another grid of
        ``frame_rate`` frames per second, taken at the nearest frame.
      frame_rate: the reference grid's rate (None: basic-pitch's own).
    """
    probs = self.posteriors(audio)["note"]
    ref = np.asarray(reference_rolls, np.float32)
    if frame_rate is not None:
      ref = rolls.regrid(ref, frame_rate, FRAME_RATE, probs.shape[1])
    if ref.shape != probs.shape:
      raise ValueError(
        f"reference rolls {ref.shape} do not match the posteriors {probs.shape}"
      )
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -(ref * np.log(p) + (1 - ref) * np.log1p(-p))
    return bce.reshape(len(bce), -1).mean(axis=1)


def _batch(audio: np.ndarray) -> np.ndarray:
  audio = np.asarray(audio, np.float32)
  if audio.ndim != 2:
    raise ValueError(f"audio must be [batch, samples], got shape {audio.shape}")
  return audio
