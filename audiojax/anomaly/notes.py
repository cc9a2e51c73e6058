"""Wrong note annotations, found where they disagree with a transcriber's frames.

A clip's annotation is ``[n, 3]`` rows of (MIDI pitch, onset s, offset s), the notes
of :mod:`audiojax.transcription.rolls`; a transcriber's ``frame_probs [frames,
pitches]`` (the sigmoid of its logits) live on the same frame grid: frame ``t`` is
centred at ``t / frame_rate`` and a note covers the frames ``onset <= t / frame_rate
< offset`` at its pitch.

**Benchmark errors** (:func:`corrupt_notes`, the registry :data:`NOTE_ERRORS`),
exactly ``num_affected(n, rate)`` of a clip's ``n`` notes, seeded:

* ``onset_shift``: the whole note (onset and offset together) moves ±60..200 ms,
  its onset kept in the clip; a note pushed past the clip's end is cut there, as
  the data sets cut notes at clip boundaries.
* ``wrong_pitch``: the pitch moves ±1..12 semitones, octaves included (octave
  errors are the commonest pitch errors of annotators and transcribers alike), onto
  a pitch of the grid where no true or already corrupted note overlaps it in time
  (else the "wrong" note could be sounding, and right).
* ``extra``: a spurious note at a random pitch of the clip's annotated pitch span
  widened by :data:`PITCH_MARGIN` semitones (the instrument's range, as far as the
  annotation shows it), a random time, and the length of a random annotated note;
  it overlaps no annotated note of its pitch. Added rows come last.
* ``missing``: true notes removed; they are returned in ``removed``.

**Scores** (higher = more likely wrong). ``L = logit(clip(p, eps, 1 - eps))`` per
cell is, under the transcriber's independent Bernoulli cells and a flat prior, the
log-likelihood ratio of the cell sounding against it being silent. A note's
*evidence*, at its pitch, with ``w = round(onset_window * frame_rate)`` frames:

* ``body``: the mean ``L`` over its frames: does it sound at all?
* ``onset``: ``min(mean L over its first w frames, -mean L over the w frames before
  it that the annotation leaves silent)``: the log-likelihood ratio of the annotated
  onset against the likelier of its two ways of being wrong, an earlier start (the
  frames before sound) or a later one (its first frames are silent); a generalised
  likelihood-ratio test. With no frame before to judge by (a note at the clip's
  start, a repeated note), the second part is 0: no evidence.
* ``evidence = (body + onset) / 2``: equal weight, so a long note's body does not
  drown its onset (a 60-ms shift of a 500-ms note changes about 4 of its 31
  frames, but the whole onset window).

:func:`note_scores` of an annotated note is ``-evidence``. :func:`missing_scores`
of a candidate is ``+evidence`` with the cells of the note that the annotation
already covers counting 0 (the annotation explains them; adding the note changes
nothing there), so a candidate the annotation holds scores 0: how strongly the
transcriber hears a note where the annotation has none.
Uninformative probabilities, any constant ``p <= 0.5``, give every note of a kind the
same score (scores are rounded to 1e-9, so floating-point noise does not break the
ties) and an AUROC of exactly 0.5.

Offsets are left out on purpose: a decaying note fades out of a transcriber's
frames before its annotated offset, so offset evidence is noise for true notes.

**Evaluation** (:func:`evaluate`): per clip and kind, corrupt, score, and pool
positives against negatives for one ``sklearn.metrics.roc_auc_score``. Negatives are
the untouched true notes, except for ``missing``: the kept true notes, each moved
to a pitch where nothing sounds (a *decoy* with the timing and length of a true
note), scored by :func:`missing_scores` like the removed notes. Scoring the kept
notes where they are would rank by whether the annotation covers them, which gives
AUROC 1 for any probabilities at all; the decoys ask the real question, whether the
transcriber tells a note the annotation lacks from a place where none sounds.

The scores, the candidates, the benchmark (``evaluate``) and ``transcriber_probs``
are in :mod:`audiojax.anomaly.note_scores`. On a real data set, where the missing
notes are unknown, the candidates are
:func:`candidates_from_probs`; :func:`transcriber_probs` gives a restored run's
probabilities::

  run = train.restore("runs/transcriber")
  split = tdata.load_split(run.config.dataset, "test", run.model.grid)
  probs = transcriber_probs(run, split.source.arrays["audio"])
  fr = run.model.grid.frame_rate
  for p, notes in zip(probs, split.notes):
    suspicious = note_scores(p, notes, fr)          # one per annotated note
    candidates = candidates_from_probs(p, notes, fr, threshold=0.5)
    unheard = missing_scores(p, notes, candidates, fr)  # one per candidate
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from audiojax.registry import Registry
from audiojax.transcription import rolls

SHIFT_SECONDS = (0.060, 0.200)  # onset_shift: |shift| range.
MAX_INTERVAL = 12  # wrong_pitch: |semitones| in 1..MAX_INTERVAL.
PITCH_MARGIN = 3  # extra: semitones beyond the clip's annotated pitch span.
MIN_SECONDS = 0.03  # the shortest note a corruption leaves or adds.
ONSET_WINDOW = 0.048  # seconds each side of an onset (3 frames at 62.5 frames/s).
EPS = 1e-3  # probabilities are clipped to [EPS, 1 - EPS]: |L| <= 6.9.
_TRIES = 200  # random placements tried per extra note.

Seed = int | Sequence[int]


class Corruption(NamedTuple):
  """An annotation with errors.

  Attributes:
    notes: float32 ``[m, 3]`` (pitch, onset, offset): the corrupted annotation. Rows
      of the input keep their order (``missing`` drops some); ``extra`` appends.
    is_error: bool ``[m]``: the rows an error made or moved (all False for
      ``missing``, whose errors are absences).
    removed: float32 ``[r, 3]``: the true notes ``missing`` removed (else ``[0, 3]``).
  """

  notes: np.ndarray
  is_error: np.ndarray
  removed: np.ndarray


class ClipSpan(NamedTuple):
  duration: float
  min_pitch: int
  num_pitches: int


ErrorFn = Callable[[np.ndarray, int, np.random.Generator, ClipSpan], Corruption]

NOTE_ERRORS: Registry[ErrorFn] = Registry("note error")


def num_affected(n: int, rate: float) -> int:
  """Notes an error rate affects: ``round(rate * n)`` (Python's, half to even, as
  :func:`audiojax.anomaly.mislabels.inject_label_noise`), at least 1 when ``n > 0``
  and ``rate > 0``."""
  if n <= 0 or rate <= 0:
    return 0
  return max(1, round(rate * n))


def as_notes(notes: Any, name: str = "notes") -> np.ndarray:
  notes = np.asarray(notes, np.float64)
  if notes.size == 0:
    return notes.reshape(0, 3)
  if notes.ndim != 2 or notes.shape[1] != 3:
    raise ValueError(f"{name} must be [n, 3] (pitch, onset, offset), got {notes.shape}")
  if not np.all(np.isfinite(notes)):
    raise ValueError(f"{name} must be finite")
  return notes


def check_rate(rate: float) -> float:
  if not isinstance(rate, numbers.Real) or not 0.0 <= rate <= 1.0:  # rejects NaN
    raise ValueError(f"rate must be a number in [0, 1], got {rate!r}")
  return float(rate)


def _overlaps(notes: np.ndarray, pitch: float, onset: float, offset: float) -> bool:
  """Whether a note of ``notes`` at ``pitch`` overlaps ``[onset, offset)``."""
  hit = (
    (np.rint(notes[:, 0]) == np.rint(pitch))
    & (notes[:, 1] < offset)
    & (notes[:, 2] > onset)
  )
  return bool(np.any(hit))


def free_pitches(notes: np.ndarray, row: np.ndarray, clip: ClipSpan) -> list[int]:
  """The pitches ``row`` can move to by 1..MAX_INTERVAL semitones: on the grid and
  overlapping no note of ``notes`` of that pitch."""
  pitch = int(np.rint(row[0]))
  top = clip.min_pitch + clip.num_pitches - 1
  out = []
  for step in range(1, MAX_INTERVAL + 1):
    for target in (pitch - step, pitch + step):
      if clip.min_pitch <= target <= top and not _overlaps(
        notes, target, row[1], row[2]
      ):
        out.append(target)
  return sorted(out)


def _corrupt_in_turn(notes, count, rng, kind, change) -> Corruption:
  """Applies ``change(out, i) -> bool`` to the notes in a seeded random order until
  ``count`` have taken the error."""
  out, is_error = notes.copy(), np.zeros(len(notes), bool)
  for i in rng.permutation(len(notes)):
    if is_error.sum() == count:
      break
    is_error[i] = change(out, int(i))
  if is_error.sum() < count:
    raise ValueError(
      f"only {int(is_error.sum())} of {len(notes)} notes can take a {kind!r} error, "
      f"{count} were asked for"
    )
  return Corruption(out, is_error, np.zeros((0, 3)))


@NOTE_ERRORS.register("onset_shift")
def onset_shift(notes, count, rng, clip: ClipSpan) -> Corruption:
  """Moves whole notes by ±SHIFT_SECONDS, onsets kept inside the clip."""
  low, high = SHIFT_SECONDS

  def change(out, i):
    onset, offset = out[i, 1], out[i, 2]
    room = {-1: min(high, onset), 1: min(high, clip.duration - MIN_SECONDS - onset)}
    signs = [s for s, r in room.items() if r >= low]
    if not signs:
      return False
    sign = signs[rng.integers(len(signs))]
    shift = sign * rng.uniform(low, room[sign])
    out[i, 1] = onset + shift
    out[i, 2] = min(offset + shift, clip.duration)
    return True

  return _corrupt_in_turn(notes, count, rng, "onset_shift", change)


@NOTE_ERRORS.register("wrong_pitch")
def wrong_pitch(notes, count, rng, clip: ClipSpan) -> Corruption:
  """Moves pitches by ±1..MAX_INTERVAL semitones onto free pitches of the grid."""

  def change(out, i):
    # Free in the true annotation too: not where a moved note still sounds.
    occupied = np.concatenate([notes, np.delete(out, i, axis=0)])
    targets = free_pitches(occupied, out[i], clip)
    if not targets:
      return False
    out[i, 0] = targets[rng.integers(len(targets))]
    return True

  return _corrupt_in_turn(notes, count, rng, "wrong_pitch", change)


@NOTE_ERRORS.register("extra")
def extra(notes, count, rng, clip: ClipSpan) -> Corruption:
  """Appends ``count`` spurious notes in the clip's pitch span (± PITCH_MARGIN)."""
  top = clip.min_pitch + clip.num_pitches - 1
  pitches = np.rint(notes[:, 0])
  low = int(max(clip.min_pitch, pitches.min() - PITCH_MARGIN))
  high = int(min(top, pitches.max() + PITCH_MARGIN))
  if low > high:
    raise ValueError(
      f"the notes lie outside the grid's pitches {clip.min_pitch}..{top}"
    )
  lengths = np.clip(notes[:, 2] - notes[:, 1], MIN_SECONDS, clip.duration)
  out = notes
  for _ in range(count):
    for _ in range(_TRIES):
      pitch = int(rng.integers(low, high + 1))
      length = float(lengths[rng.integers(len(lengths))])
      onset = float(rng.uniform(0.0, clip.duration - length))
      if not _overlaps(out, pitch, onset, onset + length):
        out = np.concatenate([out, [[pitch, onset, onset + length]]])
        break
    else:
      raise ValueError(
        f"found no free place for an extra note in {_TRIES} tries (pitches "
        f"{low}..{high}, {clip.duration} s)"
      )
  is_error = np.arange(len(out)) >= len(notes)
  return Corruption(out, is_error, np.zeros((0, 3)))


@NOTE_ERRORS.register("missing")
def missing(notes, count, rng, clip: ClipSpan) -> Corruption:
  """Removes ``count`` true notes (returned in ``removed``)."""
  del clip
  gone = np.zeros(len(notes), bool)
  gone[rng.choice(len(notes), count, replace=False)] = True
  kept = notes[~gone]
  return Corruption(kept, np.zeros(len(kept), bool), notes[gone])


def corrupt_notes(
  notes: np.ndarray,
  kind: str,
  rate: float,
  seed: Seed,
  *,
  duration: float,
  min_pitch: int = rolls.MIN_PITCH,
  num_pitches: int = rolls.NUM_PITCHES,
) -> Corruption:
  """Puts ``num_affected(len(notes), rate)`` errors of one ``kind`` into a clip.

  Args:
    notes: ``[n, 3]`` (MIDI pitch, onset s, offset s); ``n`` may be 0.
    kind: a name of :data:`NOTE_ERRORS` (``onset_shift``, ``wrong_pitch``,
      ``extra``, ``missing``; see the module docstring).
    rate: the fraction of the ``n`` notes affected (``extra``: notes added per true
      note), in ``[0, 1]``.
    seed: an int or a sequence of ints for ``np.random.default_rng``; the result is a
      function of the inputs and the seed.
    duration: the clip's length in seconds; shifted and added notes stay in
      ``[0, duration]``.
    min_pitch: the grid's lowest MIDI pitch.
    num_pitches: the grid's pitches; wrong and added pitches stay on the grid.

  Returns:
    A :class:`Corruption` ``(notes, is_error, removed)``, float32 notes.

  Raises:
    UnknownNameError: for a kind not in :data:`NOTE_ERRORS` (it lists the names).
    ValueError: for a rate outside ``[0, 1]``, notes not ``[n, 3]``, a duration
      ``<= 0``, or a clip in which fewer notes can take the error than asked for.
  """
  error = NOTE_ERRORS.get(kind)
  rate = check_rate(rate)
  notes = as_notes(notes)
  if not float(duration) > 0:
    raise ValueError(f"duration must be > 0 seconds, got {duration}")
  clip = ClipSpan(float(duration), int(min_pitch), int(num_pitches))
  count = num_affected(len(notes), rate)
  if count == 0:
    out = Corruption(notes, np.zeros(len(notes), bool), np.zeros((0, 3)))
  else:
    out = error(notes, count, np.random.default_rng(seed), clip)
  return Corruption(
    out.notes.astype(np.float32).reshape(-1, 3),
    out.is_error.astype(bool),
    out.removed.astype(np.float32).reshape(-1, 3),
  )
