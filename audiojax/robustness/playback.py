"""The channel tables of the ``attacks`` experiment: codecs and over the air.

* Codecs: PGD examples crafted on the bare model, then re-encoded (*static*: does
  the attack survive MP3?), and PGD through the codec with its straight-through
  gradient (*through*: BPDA, Athalye et al., 2018). A success rate counts the clips
  the model still gets right after the codec alone.
* Over the air: plain PGD vs expectation over transformation (EOT) through random
  rooms, microphone noise, gain and shifts (Qin et al., 2019, "Imperceptible, robust,
  and targeted adversarial examples for automatic speech recognition"), judged in
  rooms drawn from another seed, never seen while attacking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.attacks.eot import eot_pgd
from audiojax.channel import codecs, rooms
from audiojax.robustness import models, sections
from audiojax.robustness.models import LogitsFn


def eot_fn(fn: LogitsFn, transform, *, steps: int, samples: int, rel_step=0.25):
  """A jitted ``(x, y, key, eps) -> x_adv``: EOT-PGD through ``transform``."""

  @jax.jit
  def attack(x, y, key, eps):
    return eot_pgd(
      fn,
      transform,
      x,
      y,
      key,
      eps=eps,
      step_size=eps * rel_step,
      steps=steps,
      samples=samples,
    )

  return attack


def codec_table(
  fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  *,
  names: Sequence[str],
  eps: float,
  steps: int,
  batch_size: int,
  sample_rate: int,
) -> tuple[dict[str, dict[str, float]], dict[str, jax.Array]]:
  """``{codec: {clean_accuracy, static_success, through_success}}`` and the
  through-codec sets (for their quality)."""
  y_np = np.asarray(y)
  adv = sections.attack_batches(
    sections.pgd_fn(fn, steps=steps), x, y, key, eps, batch_size
  )
  table = {
    "none": {
      "clean_accuracy": float(np.mean(models.predictions(fn, x, batch_size) == y_np)),
      "static_success": models.success_rate(
        fn, adv, y, models.predictions(fn, x, batch_size) == y_np, batch_size
      ),
    }
  }
  sets = {}
  for name in names:
    layer = codecs.codec_layer(name, sample_rate)
    coded = jax.jit(lambda v, layer=layer: fn(layer(v)))
    correct = models.predictions(coded, x, batch_size) == y_np
    through = sections.attack_batches(
      eot_fn(fn, lambda v, k, layer=layer: layer(v), steps=steps, samples=1),
      x,
      y,
      key,
      eps,
      batch_size,
    )
    sets[f"through_{name}"] = through
    table[name] = {
      "clean_accuracy": float(np.mean(correct)),
      "static_success": models.success_rate(coded, adv, y, correct, batch_size),
      "through_success": models.success_rate(coded, through, y, correct, batch_size),
    }
  return table, sets


def room_channel(rirs: np.ndarray, cfg: Mapping[str, Any]):
  """``(x, key) -> x'``: one random room of ``rirs`` per clip, noise, gain, shift."""
  bank = jnp.asarray(rirs)
  return lambda v, k: rooms.over_the_air(
    v,
    k,
    bank,
    snr_db_range=tuple(cfg["snr_db"]),
    gain_db_range=tuple(cfg["gain_db"]),
    max_shift=int(cfg["max_shift"]),
  )


def over_the_air_table(
  fn: LogitsFn,
  x: jax.Array,
  y: jax.Array,
  key: jax.Array,
  cfg: Mapping[str, Any],
  *,
  seed: int,
  batch_size: int,
  sample_rate: int,
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
  """Plain PGD vs EOT-PGD, both judged in unseen rooms (``cfg.draws`` per clip)."""

  def bank(s, n):
    return rooms.random_rirs(
      s,
      n,
      sample_rate,
      rt60_range=tuple(cfg["rt60"]),
      max_order=int(cfg["max_order"]),
    )

  seen = room_channel(bank(seed, int(cfg["train_rooms"])), cfg)
  unseen = room_channel(bank(seed + 1, int(cfg["test_rooms"])), cfg)
  eps, steps = float(cfg["eps"]), int(cfg["steps"])
  plain = sections.attack_batches(
    sections.pgd_fn(fn, steps=steps), x, y, key, eps, batch_size
  )
  eot = sections.attack_batches(
    eot_fn(fn, seen, steps=steps, samples=int(cfg["samples"])),
    x,
    y,
    key,
    eps,
    batch_size,
  )
  y_np = np.asarray(y)
  rates = {"clean": [], "pgd": [], "eot": []}
  for d in range(int(cfg["draws"])):
    k = jax.random.fold_in(jax.random.key(seed + 2), d)
    played = jax.jit(lambda v, k=k: fn(unseen(v, k)))
    correct = models.predictions(played, x, batch_size) == y_np
    rates["clean"].append(float(np.mean(correct)))
    rates["pgd"].append(models.success_rate(played, plain, y, correct, batch_size))
    rates["eot"].append(models.success_rate(played, eot, y, correct, batch_size))
  return {
    "eps": eps,
    "seen_rooms": int(cfg["train_rooms"]),
    "unseen_rooms": int(cfg["test_rooms"]),
    "draws": int(cfg["draws"]),
    "clean_accuracy_unseen_rooms": float(np.mean(rates["clean"])),
    "pgd_success_unseen_rooms": float(np.mean(rates["pgd"])),
    "eot_success_unseen_rooms": float(np.mean(rates["eot"])),
    "pgd_success_direct": models.success_rate(
      fn, plain, y, models.predictions(fn, x, batch_size) == y_np, batch_size
    ),
  }, {"eot_over_the_air": eot}
