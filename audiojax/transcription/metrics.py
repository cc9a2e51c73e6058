"""Transcription scores: note precision, recall and F1 (mir_eval) and frame F1.

* Notes: ``mir_eval.transcription.precision_recall_f1_overlap`` (Raffel et al.,
  2014, "mir_eval: a transparent implementation of common MIR metrics"), the metric
  of MAPS / MAESTRO papers and of basic-pitch (Bittner et al., 2022). A reference
  note is found if an estimate of the same pitch (within 50 cents) starts within 50
  ms of it; ``onset_only=False`` also asks the offset to lie within 20 % of the
  note's length (at least 50 ms). Pitches go to mir_eval in Hz.
* Frames: true and false positives and negatives of two rolls on one grid, pooled
  (micro-averaged) over every frame and pitch of a split, as in Bay et al., 2009.

Empty sets, defined here (mir_eval would warn and return zeros): a clip with no
reference notes and no estimated ones scores P = R = F1 = 1 (nothing to find,
nothing false); otherwise an empty reference gives recall 1 and an empty estimate
precision 1, and F1 is 0 whenever either side is empty but not both.
Reference notes of zero length (possible after cutting a clip) are dropped, as
mir_eval rejects them; so are estimates of zero length.
"""

from __future__ import annotations

from collections.abc import Sequence

import mir_eval
import numpy as np

ONSET_TOLERANCE = 0.05  # seconds, mir_eval's default.
PITCH_TOLERANCE = 50.0  # cents.
OFFSET_RATIO = 0.2  # of the reference note's length, when offsets count.


def midi_to_hz(pitch: np.ndarray) -> np.ndarray:
  """Equal temperament, A4 = MIDI 69 = 440 Hz."""
  return 440.0 * 2.0 ** ((np.asarray(pitch, np.float64) - 69.0) / 12.0)


def _valid(intervals: np.ndarray, pitches: np.ndarray):
  intervals = np.asarray(intervals, np.float64).reshape(-1, 2)
  pitches = np.asarray(pitches, np.float64).reshape(-1)
  if len(intervals) != len(pitches):
    raise ValueError(f"{len(intervals)} intervals but {len(pitches)} pitches")
  keep = intervals[:, 1] > intervals[:, 0]
  return intervals[keep], pitches[keep]


def note_scores(
  ref_notes: np.ndarray,
  est_intervals: np.ndarray,
  est_pitches_midi: np.ndarray,
  *,
  onset_only: bool = True,
  onset_tolerance: float = ONSET_TOLERANCE,
) -> tuple[float, float, float]:
  """Note precision, recall and F1 of one clip (empty sets as the module says).

  Args:
    ref_notes: ``[n, 3]`` rows of (MIDI pitch, onset s, offset s).
    est_intervals: ``[k, 2]`` onset and offset of each estimated note, seconds.
    est_pitches_midi: ``[k]`` MIDI pitches (may be fractional).
    onset_only: match onsets and pitches only (else offsets too).
    onset_tolerance: seconds.

  Returns:
    ``(precision, recall, f1)``.
  """
  ref = np.asarray(ref_notes, np.float64).reshape(-1, 3)
  ref_intervals, ref_pitches = _valid(ref[:, 1:], ref[:, 0])
  est_intervals, est_pitches = _valid(est_intervals, est_pitches_midi)
  if not len(ref_intervals) or not len(est_intervals):
    precision = 1.0 if not len(est_intervals) else 0.0
    recall = 1.0 if not len(ref_intervals) else 0.0
    return precision, recall, float(precision == recall == 1.0)
  precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
    ref_intervals,
    midi_to_hz(ref_pitches),
    est_intervals,
    midi_to_hz(est_pitches),
    onset_tolerance=onset_tolerance,
    pitch_tolerance=PITCH_TOLERANCE,
    offset_ratio=None if onset_only else OFFSET_RATIO,
  )
  return float(precision), float(recall), float(f1)


def note_f1(
  ref_notes: np.ndarray,
  est_intervals: np.ndarray,
  est_pitches_midi: np.ndarray,
  onset_only: bool = True,
) -> float:
  """Note F1 of one clip (see :func:`note_scores`)."""
  scores = note_scores(
    ref_notes, est_intervals, est_pitches_midi, onset_only=onset_only
  )
  return scores[2]


def mean_note_f1(
  ref_notes: Sequence[np.ndarray],
  estimates: Sequence[tuple[np.ndarray, np.ndarray]],
  onset_only: bool = True,
) -> float:
  """The mean over clips of :func:`note_f1`.

  Args:
    ref_notes: one ``[n, 3]`` reference per clip.
    estimates: one ``(intervals, pitches_midi)`` per clip.
    onset_only: as for :func:`note_scores`.
  """
  if len(ref_notes) != len(estimates):
    raise ValueError(f"{len(ref_notes)} references but {len(estimates)} estimates")
  if not len(ref_notes):
    raise ValueError("mean_note_f1 of no clips")
  scores = [
    note_f1(ref, intervals, pitches, onset_only=onset_only)
    for ref, (intervals, pitches) in zip(ref_notes, estimates, strict=True)
  ]
  return float(np.mean(scores))


def frame_counts(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
  """``[true positives, false positives, false negatives]`` of two 0/1 rolls."""
  ref = np.asarray(reference) > 0.5
  est = np.asarray(estimate) > 0.5
  if ref.shape != est.shape:
    raise ValueError(f"rolls differ in shape: {ref.shape} vs {est.shape}")
  return np.array([np.sum(ref & est), np.sum(~ref & est), np.sum(ref & ~est)], np.int64)


def f1_from_counts(counts: np.ndarray) -> dict[str, float]:
  """Precision, recall and F1 of pooled ``[tp, fp, fn]`` (empty sets as above)."""
  tp, fp, fn = (float(c) for c in counts)
  precision = tp / (tp + fp) if tp + fp else 1.0
  recall = tp / (tp + fn) if tp + fn else 1.0
  total = precision + recall
  f1 = 2 * precision * recall / total if total else 0.0
  return {"precision": precision, "recall": recall, "f1": f1}


def frame_f1(reference: np.ndarray, estimate: np.ndarray) -> float:
  """Frame F1 of two 0/1 rolls on one grid, pooled over frames and pitches."""
  return f1_from_counts(frame_counts(reference, estimate))["f1"]
