"""Transcription data: clips of a data set with notes, their rolls and their notes.

The pipeline's default collate keeps only ``audio`` and a class label, and a split
read into memory drops the variable-length ``notes``. Here each split is read once:
the waveform is fit to the clip length, its notes become a roll on the model's frame
grid (:func:`audiojax.transcription.rolls.notes_to_roll`, in numpy, per example),
and the notes themselves are kept for the note metrics. Batches are then
``{"audio": [B, samples], "roll": [B, frames, pitches]}`` by the pipeline's
``stack_examples``.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

from audiojax import data
from audiojax.data import pipeline
from audiojax.data.source import ArraySource, AudioSplit, DataError
from audiojax.features import fix_length
from audiojax.transcription import rolls


@dataclasses.dataclass(frozen=True)
class FrameGrid:
  """The frames a transcriber's output lives on (see :mod:`.rolls`).

  Attributes:
    sample_rate: Hz of the waveform.
    clip_samples: samples of a clip.
    hop_length: samples between frames.
    min_pitch: MIDI pitch of the first output column.
    num_pitches: output columns.
  """

  sample_rate: int
  clip_samples: int
  hop_length: int
  min_pitch: int = rolls.MIN_PITCH
  num_pitches: int = rolls.NUM_PITCHES

  @property
  def frame_rate(self) -> float:
    return self.sample_rate / self.hop_length

  @property
  def num_frames(self) -> int:
    return rolls.num_frames(self.clip_samples, self.hop_length)

  def roll(self, notes: np.ndarray) -> np.ndarray:
    """``notes`` ``[n, 3]`` as a roll ``[num_frames, num_pitches]`` on this grid."""
    return rolls.notes_to_roll(
      notes, self.num_frames, self.frame_rate, self.min_pitch, self.num_pitches
    )


@dataclasses.dataclass(frozen=True)
class NoteSplit:
  """One split in memory.

  Attributes:
    source: ``audio`` ``[N, samples]`` float32 and ``roll`` ``[N, frames,
      pitches]`` float32, for :class:`~audiojax.data.pipeline.TrainIterator` and
      :func:`~audiojax.data.pipeline.eval_batches`.
    notes: the reference notes of each example, ``[n_i, 3]`` (pitch, onset, offset).
    grid: the frame grid of the rolls.
  """

  source: ArraySource
  notes: tuple[np.ndarray, ...]
  grid: FrameGrid

  def __len__(self) -> int:
    return len(self.source)


def load_audio_split(dataset: ml_collections.ConfigDict, split: str) -> AudioSplit:
  """The ``AudioSplit`` of ``config.dataset`` (``name``, ``config``, ``data_dir``).

  Not ``data.load_split``: its in-memory copy keeps only audio and a class label.
  """
  return data.load(
    dataset.name, split, data_dir=dataset.data_dir, config=dataset.config
  )


def load_split(
  dataset: ml_collections.ConfigDict, split: str, grid: FrameGrid
) -> NoteSplit:
  """Reads ``split`` of ``config.dataset`` with its notes and rolls on ``grid``."""
  return read_split(load_audio_split(dataset, split), grid)


def read_split(audio_split: AudioSplit, grid: FrameGrid, chunk: int = 256) -> NoteSplit:
  """Reads a whole ``AudioSplit`` into memory with its notes and rolls on ``grid``.

  Raises:
    DataError: if the examples have no ``notes``, the split is empty, or its sample
      rate is not the grid's.
  """
  if audio_split.sample_rate != grid.sample_rate:
    raise DataError(
      f"the split is at {audio_split.sample_rate} Hz, the grid at {grid.sample_rate} Hz"
    )
  audio, roll, notes = [], [], []
  for start in range(0, len(audio_split), chunk):
    stop = min(start + chunk, len(audio_split))
    for ex in pipeline.fetch(audio_split.source, range(start, stop)):
      if "notes" not in ex:
        raise DataError("the split's examples have no 'notes' to transcribe")
      clip_notes = np.asarray(ex["notes"], np.float32).reshape(-1, 3)
      wave = np.asarray(ex["audio"], np.float32)
      audio.append(fix_length(wave, size=grid.clip_samples))
      roll.append(grid.roll(clip_notes))
      notes.append(clip_notes)
  if not audio:
    raise DataError("cannot transcribe an empty split")
  arrays = {"audio": np.stack(audio), "roll": np.stack(roll)}
  return NoteSplit(ArraySource(arrays), tuple(notes), grid)
