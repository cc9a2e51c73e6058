"""Generator training data: the embedded music set as mel images with their conditions.

Each example becomes ``{"image": [frames, n_mels, 1], "family": int, "collection": int,
"tokens": [L] int}``. Labels are shifted by +1 because id 0 is the classifier-free-
guidance null (``audiojax.generate.unet``); the caption vocabulary comes from the
training split only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import numpy as np

from audiojax import data as data_lib
from audiojax import features
from audiojax.data import pipeline
from audiojax.data.source import ArraySource
from audiojax.generate import melimage
from audiojax.generate.captions import Vocabulary


@dataclasses.dataclass(frozen=True)
class ImageSplit:
  """One split as arrays: ``source`` for batching, ``audio`` kept for metrics."""

  source: ArraySource
  audio: np.ndarray  # [N, samples] the real clips, fit to the image length.
  family_names: tuple[str, ...]
  collection_names: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.source)


def _read(
  split: data_lib.AudioSplit, fields: tuple[str, ...], chunk: int = 256
) -> dict[str, list[Any]]:
  out: dict[str, list[Any]] = {f: [] for f in fields}
  for start in range(0, len(split), chunk):
    for ex in pipeline.fetch(
      split.source, range(start, min(start + chunk, len(split)))
    ):
      for f in fields:
        out[f].append(ex[f])
  return out


def load_split(
  dataset: ml_collections.ConfigDict,
  split: str,
  spec: melimage.MelImageSpec,
  vocab: Vocabulary | None,
  caption_length: int,
) -> tuple[ImageSplit, Vocabulary]:
  """Reads ``split`` of the configured music set and renders its mel images.

  Args:
    dataset: ``config.dataset`` of a ``music_generator`` config.
    split: "train", "validation" or "test".
    spec: the mel image layout.
    vocab: caption vocabulary; None builds it from this split (use for "train").
    caption_length: token positions per caption.
  """
  fam = data_lib.load_split(dataset, split, label="family")
  col = data_lib.load_split(dataset, split, label="collection")
  raw = _read(fam, ("audio", "family", "collection", "caption"))
  audio = np.stack([np.asarray(a, np.float32) for a in raw["audio"]])
  audio = features.fix_length(audio, size=spec.samples)
  vocab = vocab or Vocabulary.build(raw["caption"])
  to_image = jax.jit(lambda y: melimage.audio_to_image(y, spec))
  images = np.concatenate(
    [np.asarray(to_image(audio[i : i + 64])) for i in range(0, len(audio), 64)]
  )
  arrays = {
    "image": images.astype(np.float32),
    "family": np.asarray(raw["family"], np.int32) + 1,
    "collection": np.asarray(raw["collection"], np.int32) + 1,
    "tokens": np.stack([vocab.encode(c, caption_length) for c in raw["caption"]]),
  }
  return ImageSplit(
    ArraySource(arrays), audio, tuple(fam.class_names), tuple(col.class_names)
  ), vocab


def conditions(split: ImageSplit, indices: np.ndarray) -> dict[str, np.ndarray]:
  """The (shifted) conditions of some examples, as a generator input."""
  a = split.source.arrays
  return {k: a[k][indices] for k in ("family", "collection", "tokens")}
