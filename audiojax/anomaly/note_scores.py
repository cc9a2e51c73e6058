"""Scoring note annotations against a transcriber's frame probabilities, and the
benchmark that measures it: the scores and evaluation of :mod:`audiojax.anomaly.notes`
(whose docstring describes the errors, the evidence and the decoys).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from audiojax.anomaly import metrics
from audiojax.anomaly.notes import (
  EPS,
  NOTE_ERRORS,
  ONSET_WINDOW,
  ClipSpan,
  as_notes,
  check_rate,
  corrupt_notes,
  free_pitches,
)
from audiojax.data import pipeline
from audiojax.features import fix_length
from audiojax.transcription import rolls

# Scores.


def _log_odds(frame_probs: np.ndarray, eps: float) -> np.ndarray:
  """``L = logit(p)``, ``p`` clipped to ``[eps, 1 - eps]``, float64."""
  probs = np.asarray(frame_probs, np.float64)
  if probs.ndim != 2 or not probs.size:
    raise ValueError(f"frame_probs must be [frames, pitches], got {probs.shape}")
  if not np.all(np.isfinite(probs)):
    raise ValueError("frame_probs must be finite")
  if not 0 < eps < 0.5:
    raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
  probs = np.clip(probs, eps, 1.0 - eps)
  return np.log(probs) - np.log1p(-probs)


def _evidence(
  frame_probs,
  annotated,
  notes,
  frame_rate,
  min_pitch,
  onset_window,
  eps,
  *,
  candidate: bool,
) -> np.ndarray:
  """``(body + onset) / 2`` per note (module doc); for a ``candidate``, cells the
  annotation covers count 0."""
  log_odds = _log_odds(frame_probs, eps)
  count, pitches = log_odds.shape
  annotated = as_notes(annotated, "annotated notes")
  notes = as_notes(notes)
  if not float(frame_rate) > 0:
    raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
  if not float(onset_window) > 0:
    raise ValueError(f"onset_window must be > 0 seconds, got {onset_window}")
  roll = rolls.notes_to_roll(annotated, count, frame_rate, min_pitch, pitches) > 0.5
  times = rolls.frame_times(count, frame_rate)
  window = max(1, int(np.rint(onset_window * frame_rate)))
  out = np.full(len(notes), np.nan)
  for i, (pitch, onset, offset) in enumerate(notes):
    column = int(np.rint(pitch)) - int(min_pitch)
    if not 0 <= column < pitches:
      continue  # outside the grid: no evidence either way.
    line, covered = log_odds[:, column], roll[:, column]
    if candidate:  # what the annotation covers already, adding the note leaves be
      line = np.where(covered, 0.0, line)
    body = np.flatnonzero((times >= onset) & (times < offset))
    if not len(body):  # shorter than a frame: its onset's nearest frame
      body = np.array([int(np.clip(np.rint(onset * frame_rate), 0, count - 1))])
    before = np.arange(max(body[0] - window, 0), body[0])
    before = before[~covered[before]]
    body_term = np.mean(line[body])
    # The onset against the likelier of its moves: earlier (the frames before it
    # sound) or later (its first frames are silent); no frames before: no evidence.
    earlier = -np.mean(line[before]) if len(before) else 0.0
    onset_term = min(np.mean(line[body[:window]]), earlier)
    out[i] = 0.5 * (body_term + onset_term)
  # Means of equal numbers differ in their last bits; equal evidence should tie.
  return np.round(out, 9)


def note_scores(
  frame_probs: np.ndarray,
  notes: np.ndarray,
  frame_rate: float,
  *,
  min_pitch: int = rolls.MIN_PITCH,
  onset_window: float = ONSET_WINDOW,
  eps: float = EPS,
) -> np.ndarray:
  """How likely each annotated note is wrong: ``-(body + onset) / 2`` (module doc).

  Args:
    frame_probs: ``[frames, pitches]`` probabilities of the clip.
    notes: the clip's annotation, ``[n, 3]``; a frame before an onset that another
      annotated note of the pitch covers (a repeated note) is not onset evidence.
    frame_rate: frames per second of ``frame_probs``.
    min_pitch: MIDI pitch of column 0.
    onset_window: seconds of the onset's windows (``round(onset_window *
      frame_rate)`` frames, at least 1).
    eps: probabilities are clipped to ``[eps, 1 - eps]``.

  Returns:
    float64 ``[n]``, in ``[-log((1 - eps) / eps), log((1 - eps) / eps)]``; NaN for a
    note outside the grid's pitches.
  """
  evidence = _evidence(
    frame_probs,
    notes,
    notes,
    frame_rate,
    min_pitch,
    onset_window,
    eps,
    candidate=False,
  )
  return -evidence + 0.0  # no -0.0


def missing_scores(
  frame_probs: np.ndarray,
  annotated_notes: np.ndarray,
  candidates: np.ndarray,
  frame_rate: float,
  *,
  min_pitch: int = rolls.MIN_PITCH,
  onset_window: float = ONSET_WINDOW,
  eps: float = EPS,
) -> np.ndarray:
  """How strongly the transcriber hears each candidate where the annotation has
  nothing: ``(body + onset) / 2`` with covered body cells counting 0 (module doc).

  Args:
    frame_probs: ``[frames, pitches]`` probabilities of the clip.
    annotated_notes: the clip's annotation, ``[n, 3]``.
    candidates: ``[k, 3]`` notes the annotation may lack.
    frame_rate, min_pitch, onset_window, eps: as for :func:`note_scores`.

  Returns:
    float64 ``[k]``; NaN for a candidate outside the grid's pitches.
  """
  return _evidence(
    frame_probs,
    annotated_notes,
    candidates,
    frame_rate,
    min_pitch,
    onset_window,
    eps,
    candidate=True,
  )


def candidates_from_probs(
  frame_probs: np.ndarray,
  annotated_notes: np.ndarray,
  frame_rate: float,
  threshold: float = 0.5,
  *,
  min_frames: int = 2,
  min_pitch: int = rolls.MIN_PITCH,
) -> np.ndarray:
  """Notes the transcriber hears where the annotation has none.

  Each run of at least ``min_frames`` frames of one pitch with ``p >= threshold``
  and no annotated note becomes a candidate (the run ``a .. b-1`` is the note ``[a,
  b) / frame_rate``, as :func:`~audiojax.transcription.rolls.roll_to_notes`). Rank
  them with :func:`missing_scores`.

  Returns:
    float32 ``[k, 3]`` (pitch, onset, offset), sorted by onset, then pitch.
  """
  probs = np.asarray(frame_probs, np.float64)
  if probs.ndim != 2:
    raise ValueError(f"frame_probs must be [frames, pitches], got {probs.shape}")
  annotated = as_notes(annotated_notes, "annotated notes")
  roll = rolls.notes_to_roll(
    annotated, len(probs), frame_rate, min_pitch, probs.shape[1]
  )
  free = np.where(roll > 0.5, 0.0, probs)
  intervals, pitches = rolls.roll_to_notes(
    free, frame_rate, threshold, min_frames, min_pitch
  )
  return np.concatenate([pitches[:, None], intervals], axis=1).astype(np.float32)


# Evaluation.


def _decoys(kept, occupied, rng, clip: ClipSpan) -> np.ndarray:
  """Each kept note moved to a pitch where no note of ``occupied`` sounds (notes
  with no such pitch are left out)."""
  out = []
  for row in kept:
    targets = free_pitches(occupied, row, clip)
    if targets:
      out.append([targets[rng.integers(len(targets))], row[1], row[2]])
  return np.asarray(out, np.float64).reshape(-1, 3)


def _auroc(positive: np.ndarray, negative: np.ndarray) -> float:
  """``sklearn.metrics.roc_auc_score`` (:func:`audiojax.anomaly.metrics.auroc`);
  NaN when a class is empty."""
  if not len(positive) or not len(negative):
    return float("nan")
  return metrics.auroc(negative, positive)


def evaluate(
  frame_probs_per_clip: Sequence[np.ndarray],
  notes_per_clip: Sequence[np.ndarray],
  frame_rate: float,
  kinds: Sequence[str],
  rate: float,
  seed: int,
  *,
  duration: float | None = None,
  min_pitch: int = rolls.MIN_PITCH,
  onset_window: float = ONSET_WINDOW,
  eps: float = EPS,
) -> dict[str, dict[str, float | int]]:
  """The AUROC of the scores at telling each kind of error from true notes.

  Each clip is corrupted once per kind (seed ``(seed, crc32(kind), clip)``) and
  scored; positives are the corrupted or added rows (:func:`note_scores`) or the
  removed notes (:func:`missing_scores`), negatives the untouched true notes, or for
  ``missing`` the decoys of the kept notes (module doc); both are pooled over clips.

  Args:
    frame_probs_per_clip: ``[frames, pitches]`` per clip.
    notes_per_clip: the true ``[n, 3]`` notes per clip.
    frame_rate: frames per second.
    kinds: names of :data:`NOTE_ERRORS`.
    rate: as for :func:`corrupt_notes`.
    seed: the benchmark's seed.
    duration: the clips' length; default ``(frames - 1) / frame_rate``, the time of
      the last frame (2.0 s for 126 frames at 62.5 frames/s).
    min_pitch, onset_window, eps: as for :func:`note_scores`.

  Returns:
    ``{kind: {"auroc", "num_errors", "num_notes"}}``: ``num_errors`` positives of
    ``num_notes`` scored; the AUROC is NaN if either class is empty.
  """
  if len(frame_probs_per_clip) != len(notes_per_clip):
    raise ValueError(
      f"{len(frame_probs_per_clip)} clips of probabilities but "
      f"{len(notes_per_clip)} of notes"
    )
  for kind in kinds:
    NOTE_ERRORS.get(kind)
  check_rate(rate)
  options = dict(min_pitch=min_pitch, onset_window=onset_window, eps=eps)
  results = {}
  for kind in kinds:
    positive, negative = [], []
    for i, (probs, notes) in enumerate(
      zip(frame_probs_per_clip, notes_per_clip, strict=True)
    ):
      probs = np.asarray(probs)
      length = (len(probs) - 1) / frame_rate if duration is None else duration
      clip_seed = (int(seed), zlib.crc32(kind.encode()), i)
      bad = corrupt_notes(
        notes,
        kind,
        rate,
        clip_seed,
        duration=length,
        min_pitch=min_pitch,
        num_pitches=probs.shape[1],
      )
      if kind == "missing":
        clip = ClipSpan(length, int(min_pitch), probs.shape[1])
        rng = np.random.default_rng((*clip_seed, 1))
        decoys = _decoys(bad.notes, as_notes(notes), rng, clip)
        positive.append(
          missing_scores(probs, bad.notes, bad.removed, frame_rate, **options)
        )
        negative.append(missing_scores(probs, bad.notes, decoys, frame_rate, **options))
      else:
        scores = note_scores(probs, bad.notes, frame_rate, **options)
        positive.append(scores[bad.is_error])
        negative.append(scores[~bad.is_error])
    pos = np.concatenate(positive) if positive else np.zeros(0)
    neg = np.concatenate(negative) if negative else np.zeros(0)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    results[kind] = {
      "auroc": _auroc(pos, neg),
      "num_errors": len(pos),
      "num_notes": len(pos) + len(neg),
    }
  return results


@functools.cache
def _probs_step(apply_fn):
  """``jit(sigmoid(apply_fn(params, audio)))``, one per model: a second call with the
  same batch shape does not compile again."""
  return jax.jit(lambda params, audio: jax.nn.sigmoid(apply_fn(params, audio)))


def transcriber_probs(
  run: Any, audio: np.ndarray, *, batch_size: int = 32, mesh: Any = None
) -> np.ndarray:
  """The frame probabilities of a restored transcriber over clips.

  Args:
    run: ``audiojax.train.restore(workdir)`` of a ``transcriber`` run (its model
      carries the ``grid``).
    audio: ``[clips, samples]`` waveforms in [-1, 1], fit to the grid's clip length
      (cropped or zero-padded at the end, as the transcription data are).
    batch_size: clips per call; the last batch is padded, so one shape compiles.
      Must divide over the mesh's devices.
    mesh: a data mesh (default: every device).

  Returns:
    float32 ``[clips, frames, pitches]``: ``sigmoid(run.model.apply(run.params,
    audio))``, on ``run.model.grid``.
  """
  grid = getattr(run.model, "grid", None)
  if grid is None:
    raise ValueError("transcriber_probs needs a transcriber run (a model with a grid)")
  audio = np.asarray(audio, np.float32)
  if audio.ndim != 2:
    raise ValueError(f"audio must be [clips, samples], got {audio.shape}")
  audio = fix_length(audio, size=grid.clip_samples)
  mesh = mesh or pipeline.make_mesh()
  step = _probs_step(run.model.apply)
  out = []
  for start in range(0, len(audio), batch_size):
    chunk = audio[start : start + batch_size]
    real = len(chunk)
    if real < batch_size:
      chunk = np.concatenate(
        [chunk, np.zeros((batch_size - real, chunk.shape[1]), np.float32)]
      )
    probs = step(run.params, pipeline.shard_batch({"audio": chunk}, mesh)["audio"])
    out.append(np.asarray(jax.device_get(probs))[:real])
  if not out:
    return np.zeros((0, grid.num_frames, grid.num_pitches), np.float32)
  return np.concatenate(out).astype(np.float32)
