"""Notes <-> piano rolls on one frame grid, and the pitch range of the transcribers.

The frame-time convention, stated once for the whole package: frame ``t`` of a clip
is centred at ``t / frame_rate`` seconds, with ``frame_rate = sample_rate /
hop_length``. That is librosa's ``center=True`` framing, the framing of the ``mel``
front end (:mod:`audiojax.frontends`), so a 2-s clip at 16 kHz with hop 256 has
``1 + 32000 // 256 = 126`` frames at 62.5 frames/s.

* :func:`notes_to_roll`: a note ``(pitch, onset, offset)`` makes frame ``t`` active
  iff ``onset <= t / frame_rate < offset``.
* :func:`roll_to_notes`: a run of active frames ``a .. b-1`` of one pitch becomes the
  note ``[a / frame_rate, b / frame_rate)``.

So roll -> notes -> roll is exact (for runs of at least ``min_frames``), and notes ->
roll -> notes moves each onset later by less than one frame (16 ms at 62.5 frames/s,
inside mir_eval's 50 ms onset tolerance). Two notes of one pitch that touch (a
repeated note) make one run, and come back as one note: a frame roll cannot tell
them apart.
"""

from __future__ import annotations

import numpy as np

# The 88 keys of a piano, A0 (MIDI 21) to C8 (MIDI 108): basic-pitch's range, and
# wide enough for every program of the embedded music set (MIDI 28..108).
MIN_PITCH = 21
NUM_PITCHES = 88


def num_frames(num_samples: int, hop_length: int) -> int:
  """Frames of a centred framing: ``1 + num_samples // hop_length``."""
  return 1 + int(num_samples) // int(hop_length)


def frame_times(count: int, frame_rate: float) -> np.ndarray:
  """The centre of each frame, ``t / frame_rate`` seconds, float64 ``[count]``."""
  return np.arange(count, dtype=np.float64) / float(frame_rate)


def notes_to_roll(
  notes: np.ndarray,
  num_frames: int,
  frame_rate: float,
  min_pitch: int = MIN_PITCH,
  num_pitches: int = NUM_PITCHES,
) -> np.ndarray:
  """The piano roll of ``notes``: frame ``t`` is active while ``t / frame_rate`` lies
  in ``[onset, offset)``.

  Args:
    notes: ``[n, 3]`` rows of (MIDI pitch, onset s, offset s); ``n`` may be 0.
    num_frames: frames of the roll.
    frame_rate: frames per second.
    min_pitch: the MIDI pitch of column 0.
    num_pitches: columns; notes outside ``[min_pitch, min_pitch + num_pitches)``
      are left out.

  Returns:
    float32 ``[num_frames, num_pitches]`` of 0 and 1.
  """
  notes = np.asarray(notes, np.float64).reshape(-1, 3)
  column = np.rint(notes[:, 0]).astype(np.int64) - int(min_pitch)
  keep = (column >= 0) & (column < num_pitches)
  column, onset, offset = column[keep], notes[keep, 1], notes[keep, 2]
  t = frame_times(num_frames, frame_rate)
  active = (t[None, :] >= onset[:, None]) & (t[None, :] < offset[:, None])
  pitch = np.eye(num_pitches, dtype=np.float32)[column]  # [n, pitches]
  return (active.T.astype(np.float32) @ pitch > 0).astype(np.float32)


def roll_to_notes(
  probs: np.ndarray,
  frame_rate: float,
  threshold: float = 0.5,
  min_frames: int = 2,
  min_pitch: int = MIN_PITCH,
) -> tuple[np.ndarray, np.ndarray]:
  """Notes of a roll: each run of frames with ``probs >= threshold`` in one pitch.

  Args:
    probs: ``[frames, pitches]`` activations (probabilities, or a 0/1 roll).
    frame_rate: frames per second.
    threshold: a frame is active where ``probs >= threshold``.
    min_frames: shorter runs are dropped.
    min_pitch: the MIDI pitch of column 0.

  Returns:
    ``(intervals, pitches)``: float64 ``[k, 2]`` onset and offset in seconds (a run
    of frames ``a .. b-1`` is ``[a, b) / frame_rate``) and int64 MIDI pitches
    ``[k]``, sorted by onset, then pitch.
  """
  probs = np.asarray(probs)
  if probs.ndim != 2:
    raise ValueError(f"probs must be [frames, pitches], got shape {probs.shape}")
  active = (probs >= threshold).astype(np.int8)
  padded = np.pad(active.T, ((0, 0), (1, 1)))  # [pitches, frames + 2]
  change = np.diff(padded, axis=1)
  # Row-major order: by pitch, then frame; in each pitch starts and ends alternate,
  # so the i-th start and the i-th end are one run.
  start_pitch, start = np.nonzero(change == 1)
  _, end = np.nonzero(change == -1)
  keep = end - start >= min_frames
  start_pitch, start, end = start_pitch[keep], start[keep], end[keep]
  order = np.lexsort((start_pitch, start))
  intervals = np.stack([start[order], end[order]], axis=1) / float(frame_rate)
  return intervals.astype(np.float64).reshape(-1, 2), (
    start_pitch[order].astype(np.int64) + int(min_pitch)
  )


def regrid(
  roll: np.ndarray, frame_rate: float, new_frame_rate: float, new_num_frames: int
) -> np.ndarray:
  """A roll ``[..., frames, pitches]`` on another frame grid.

  Each new frame takes the old frame whose centre is nearest to its own (the first
  and last old frames extend past the ends).
  """
  roll = np.asarray(roll)
  times = frame_times(new_num_frames, new_frame_rate)
  source = np.clip(np.rint(times * frame_rate).astype(np.int64), 0, roll.shape[-2] - 1)
  return np.take(roll, source, axis=-2)
