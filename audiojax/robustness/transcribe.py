"""The transcription table of the ``attacks`` experiment.

Our frame-level transcriber (a ``transcriber`` run, trained here if the config names
none) is attacked at each SNR budget with L2 PGD on its frame BCE: untargeted (away
from the true roll) and targeted (toward the roll of the same notes ``target_shift``
semitones up). Spotify's basic-pitch, a real transcriber run through onnxruntime,
then hears the untargeted examples (*transfer*) and is attacked on its own with
SPSA on its note-posterior BCE (*black box*: it needs only basic-pitch's outputs).
Every number is a mean onset-only note F1 (``mir_eval.transcription``, 50 ms, 50
cents) against the clip's reference notes; the targeted rows also score against the
shifted notes (how often the attacker's notes are heard).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks import budget
from audiojax.attacks.gradient import pgd
from audiojax.attacks.spsa import spsa_maximize
from audiojax.train import runs
from audiojax.transcription import data as tdata
from audiojax.transcription import metrics, rolls


def _shifted(notes: np.ndarray, semitones: int) -> np.ndarray:
  out = np.array(notes, np.float32).reshape(-1, 3)
  out[:, 0] += semitones
  return out


def _clips(split: tdata.NoteSplit, n: int):
  """The first ``n`` test clips that hold at least one note."""
  keep = [i for i, notes in enumerate(split.notes) if len(notes)][:n]
  batch = split.source.__getitems__(keep)
  x = np.stack([b["audio"] for b in batch])
  return jnp.asarray(x), [split.notes[i] for i in keep]


def transcription_table(
  cfg: Mapping[str, Any], workdir: str, seed: int
) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
  """Note F1 clean / attacked for our transcriber and basic-pitch, per SNR.

  Returns:
    The table and the adversarial sets ``{name: (clean, adversarial)}``.
  """
  run = runs.train_or_restore(
    cfg["config"], cfg["workdir"] or os.path.join(workdir, "transcriber")
  )
  grid = run.model.grid
  split = tdata.load_split(run.config.dataset, "test", grid)
  x, notes = _clips(split, int(cfg["examples"]))
  params = run.params
  logits_fn = jax.jit(lambda v: run.model.apply(params, v))
  shift = int(cfg["target_shift"])
  target_notes = [_shifted(n, shift) for n in notes]
  true_rolls = jnp.asarray(np.stack([grid.roll(n) for n in notes]))
  target_rolls = jnp.asarray(np.stack([grid.roll(n) for n in target_notes]))

  # Notes are read from frame probabilities as the run's own test evaluator does.
  decode = run.config.evals.test

  def ours(v):
    probs = np.asarray(jax.nn.sigmoid(logits_fn(v)))
    return [
      rolls.roll_to_notes(
        p, grid.frame_rate, decode.threshold, decode.min_frames, grid.min_pitch
      )
      for p in probs
    ]

  def attack(v, target, key, eps, targeted):
    return pgd(
      logits_fn,
      v,
      target,
      key,
      eps=eps,
      step_size=eps / 4,
      steps=int(cfg["steps"]),
      norm="l2",
      loss="frame_bce",
      targeted=targeted,
    )

  attack = jax.jit(attack, static_argnames="targeted")
  key = jax.random.key(seed)
  clean = ours(x)
  table: dict[str, Any] = {
    "examples": len(notes),
    "transcriber": run.workdir,
    "transcriber_clean_f1": metrics.mean_note_f1(notes, clean),
    "untargeted_f1": {},
    "targeted_f1": {},
    "targeted_f1_to_target": {},
  }
  sets: dict[str, tuple[Any, Any]] = {}
  untargeted = {}
  for snr in cfg["snr_db"]:
    eps = budget.snr_radius(x, snr)
    name = f"{snr:g}"
    adv = attack(x, true_rolls, key, eps, targeted=False)
    tgt = attack(x, target_rolls, key, eps, targeted=True)
    untargeted[name] = adv
    sets[f"transcription_pgd_snr_{name}db"] = (x, adv)
    table["untargeted_f1"][name] = metrics.mean_note_f1(notes, ours(adv))
    est = ours(tgt)
    table["targeted_f1"][name] = metrics.mean_note_f1(notes, est)
    table["targeted_f1_to_target"][name] = metrics.mean_note_f1(target_notes, est)
  table["clean_f1_to_target"] = metrics.mean_note_f1(target_notes, clean)
  if cfg["basic_pitch"]:
    table["basic_pitch"], bp_sets = _basic_pitch(
      cfg, np.asarray(x), notes, untargeted, grid.sample_rate, seed
    )
    sets.update(bp_sets)
  return table, sets


def _basic_pitch(cfg, x, notes, untargeted, sample_rate, seed):
  from audiojax.transcription.basic_pitch import BasicPitch

  bp = BasicPitch(sample_rate=sample_rate)
  out: dict[str, Any] = {
    "clean_f1": metrics.mean_note_f1(notes, bp.notes(x)),
    "transfer_f1": {
      name: metrics.mean_note_f1(notes, bp.notes(np.asarray(adv)))
      for name, adv in untargeted.items()
    },
    "black_box_f1": {},
  }
  bb = cfg["black_box"]
  n = min(int(bb["examples"]), len(x))
  xb, nb = x[:n], notes[:n]
  refs = bp.reference_rolls(nb, x.shape[1])
  out["black_box_examples"] = n
  out["black_box_clean_f1"] = metrics.mean_note_f1(nb, bp.notes(xb))
  sets = {}
  for snr in cfg["snr_db"]:
    eps = np.asarray(budget.snr_radius(jnp.asarray(xb), snr))
    adv = spsa_maximize(
      lambda batch, index: bp.objective(batch, refs[index]),
      xb,
      eps=eps,
      steps=int(bb["steps"]),
      samples=int(bb["samples"]),
      delta=float(bb["delta"]),
      norm="l2",
      seed=seed,
    )
    out["black_box_f1"][f"{snr:g}"] = metrics.mean_note_f1(nb, bp.notes(adv))
    sets[f"basic_pitch_spsa_snr_{snr:g}db"] = (xb, adv)
  return out, sets
