"""Transcription over a whole split: frame BCE, note F1 (mir_eval) and frame F1.

The run's model is a transcriber (``audiojax.transcription.model``): waveform ->
per-frame pitch logits on its ``grid``. Each clip's probabilities become notes by
:func:`audiojax.transcription.rolls.roll_to_notes` (frames with ``p >= threshold``,
runs of at least ``min_frames``) and are scored against the clip's reference notes
by :mod:`audiojax.transcription.metrics`. Streamed batch by batch: the frame BCE as
sums, the note scores as per-clip sums (their mean over clips is reported, as
basic-pitch and MAESTRO papers report per-track means), the frame counts pooled.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks.losses import frame_bce
from audiojax.data import pipeline
from audiojax.transcription import data as tdata
from audiojax.transcription import metrics, rolls


@functools.cache
def _eval_step(apply_fn, threshold: float):
  @jax.jit
  def step(params, batch):
    logits = apply_fn(params, batch["audio"])
    probs = jax.nn.sigmoid(logits)
    mask = batch["mask"][:, None, None]
    ref = batch["roll"] > 0.5
    est = probs >= threshold
    counts = jnp.stack(
      [
        jnp.sum(ref & est & mask),
        jnp.sum(~ref & est & mask),
        jnp.sum(ref & ~est & mask),
      ]
    )
    bce = jnp.sum(jnp.where(batch["mask"], frame_bce(logits, batch["roll"]), 0.0))
    return probs, bce, counts

  return step


class TranscriptionEvaluator:
  """Frame BCE, note and frame precision / recall / F1 of a transcriber on a split.

  Args:
    name: the evaluator's name (prefix of its metrics).
    context: the run (``model`` is a transcriber with a ``grid``; ``dataset`` the
      config of a data set with ``notes``).
    split: which split of ``context.dataset``.
    batch_size: clips per evaluation batch.
    threshold: a frame is active where its probability is ``>= threshold``.
    min_frames: shorter runs of active frames are not notes.
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    split: str,
    batch_size: int,
    threshold: float,
    min_frames: int,
  ):
    self.name = name
    self.grid = context.model.grid
    self.split = tdata.load_split(context.dataset, split, self.grid)
    self.batch_size = batch_size
    self.threshold = float(threshold)
    self.min_frames = int(min_frames)
    self.apply_fn = context.model.apply
    self.mesh = context.mesh or pipeline.make_mesh()

  def transcribe(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The notes ``(intervals, midi pitches)`` of one clip's probabilities."""
    return rolls.roll_to_notes(
      probs, self.grid.frame_rate, self.threshold, self.min_frames, self.grid.min_pitch
    )

  def run(self, params: Any) -> dict[str, Any]:
    step = _eval_step(self.apply_fn, self.threshold)
    bce_sum, counts = 0.0, np.zeros(3, np.int64)
    note_sums = np.zeros(4)  # precision, recall, F1 onset-only; F1 with offsets.
    seen = 0
    for batch in pipeline.eval_batches(self.split.source, self.batch_size):
      real = int(batch["mask"].sum())
      probs, bce, batch_counts = jax.device_get(
        step(params, pipeline.shard_batch(batch, self.mesh))
      )
      bce_sum += float(bce)
      counts += np.asarray(batch_counts, np.int64)
      for i in range(real):
        intervals, pitches = self.transcribe(probs[i])
        ref = self.split.notes[seen + i]
        onset = metrics.note_scores(ref, intervals, pitches, onset_only=True)
        offset = metrics.note_scores(ref, intervals, pitches, onset_only=False)
        note_sums += np.array([*onset, offset[2]])
      seen += real
    frames = metrics.f1_from_counts(counts)
    note_p, note_r, note_f, note_offset_f = (note_sums / seen).tolist()
    return {
      "loss": bce_sum / seen,
      "note_precision": note_p,
      "note_recall": note_r,
      "note_f1": note_f,
      "note_with_offset_f1": note_offset_f,
      "frame_precision": frames["precision"],
      "frame_recall": frames["recall"],
      "frame_f1": frames["f1"],
      "num_examples": seen,
    }
