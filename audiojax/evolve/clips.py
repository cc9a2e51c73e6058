"""A generation's clips on disk: ids, WAVs published to raters, the mel-image archive.

Layout under a session's ``clips/`` folder: ``gNNN/<clip id>.wav`` for every clip
raters hear, and ``gNNN/images.npz`` with the mel images of the whole population (the
data of fine-tuning and the surrogate). Files are written to a temporary name and
renamed, so a reader (a rater's browser, a restarted session) never sees half a file;
publishing the same clip twice is a no-op in the store, so a resumed session can
republish what it rendered before a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from audiojax import audio as audio_lib
from audiojax.ratings.store import RatingStore


def pick_conditions(
  generator: Any, family: str, n: int, seed: int
) -> dict[str, np.ndarray]:
  """``n`` training conditions of one instrument family: what a session renders.

  One family per session (``family``, or a seeded choice when empty) keeps the clips
  comparable: across families brightness differs by octaves, which would drown the
  differences between individuals that raters should judge.

  Args:
    generator: a restored generator run (its ``conditions`` and family names).
    family: a family name, or "" for a seeded pick.
    n: conditions to draw (with replacement if the family has fewer clips).
    seed: the session's seed.

  Raises:
    ValueError: for a family the generator was not trained on.
  """
  names = generator.model.family_names
  rng = np.random.default_rng(seed)
  families = generator.conditions["family"]  # Shifted by +1 (0 is the null).
  if family:
    if family not in names:
      raise ValueError(f"unknown condition_family {family!r}; valid: {list(names)}")
    chosen = names.index(family) + 1
  else:
    chosen = int(rng.choice(np.unique(families)))
  pool = np.flatnonzero(families == chosen)
  idx = np.sort(rng.choice(pool, n, replace=len(pool) < n))
  return {k: v[idx] for k, v in generator.conditions.items()}


def clip_id(generation: int, individual: int | str, slot: int) -> str:
  """``gGGG-iII-sS`` (or ``gGGG-base-sS`` for a named individual such as the base)."""
  who = individual if isinstance(individual, str) else f"i{individual:02d}"
  return f"g{generation:03d}-{who}-s{slot}"


def generation_dir(clips_dir: str, generation: int) -> str:
  return os.path.join(clips_dir, f"g{generation:03d}")


def publisher(
  store: RatingStore,
  directory: str,
  sample_rate: int,
  generation: int,
  ids: Sequence[str],
  individuals: Sequence[int],
  seeds: Sequence[int],
  publish: Callable[[int], bool] = lambda i: True,
) -> Callable[[int, np.ndarray, np.ndarray], None]:
  """An ``on_batch(start, images, audio)`` callback that writes clip ``start + j``
  as a WAV in ``directory`` and registers it in ``store`` (when ``publish(i)``)."""
  os.makedirs(directory, exist_ok=True)

  def on_batch(start: int, images: np.ndarray, audio: np.ndarray) -> None:
    del images
    for j in range(len(audio)):
      i = start + j
      if not publish(i):
        continue
      path = os.path.join(directory, f"{ids[i]}.wav")
      tmp = f"{path}.tmp"
      audio_lib.save(tmp, audio[j], sample_rate, format="WAV")
      os.replace(tmp, path)  # Raters never see half a file.
      store.add_clip(ids[i], generation, individuals[i], seeds[i], path)

  return on_batch


def save_images(directory: str, images: np.ndarray, ids: Sequence[str]) -> None:
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, "images.npz")
  with open(f"{path}.tmp", "wb") as f:
    np.savez(f, images=images, ids=np.asarray(ids))
  os.replace(f"{path}.tmp", path)


def load_images(directory: str) -> tuple[np.ndarray, list[str]]:
  """``(images, ids)`` saved by :func:`save_images` in ``directory``."""
  with np.load(os.path.join(directory, "images.npz")) as z:
    return z["images"], [str(i) for i in z["ids"]]
