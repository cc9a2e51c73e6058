"""Generator training data: the embedded music set as mel images with their conditions.

Each example becomes ``{"image": [frames, n_mels, 1], "family": int, "collection": int,
"tokens": [L] int}``. Labels are shifted by +1 because id 0 is the classifier-free-
guidance null (``audiojax.generate.unet``); the caption vocabulary comes from the
training split only.

An :class:`OptOut` request (``collection:palestrina``, ``pieces:ID,ID``) names the
clips a rights holder withdraws: the forget set of generator unlearning, and what a
retrained generator leaves out (``config.exclude``).
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
from audiojax.data.source import ArraySource, DataError
from audiojax.generate import melimage
from audiojax.generate.captions import Vocabulary


@dataclasses.dataclass(frozen=True)
class ImageSplit:
  """One split as arrays: ``source`` for batching, ``audio`` kept for metrics."""

  source: ArraySource
  audio: np.ndarray  # [N, samples] the real clips, fit to the image length.
  family_names: tuple[str, ...]
  collection_names: tuple[str, ...]
  pieces: np.ndarray  # [N] str, the piece each clip was cut from.

  def __len__(self) -> int:
    return len(self.source)

  def subset(self, indices: np.ndarray) -> ImageSplit:
    """The clips at ``indices``, in that order."""
    indices = np.asarray(indices, np.int64)
    arrays = {k: v[indices] for k, v in self.source.arrays.items()}
    return dataclasses.replace(
      self,
      source=ArraySource(arrays),
      audio=self.audio[indices],
      pieces=self.pieces[indices],
    )

  def concat(self, other: ImageSplit) -> ImageSplit:
    """This split's clips, then ``other``'s (the same label spaces)."""
    arrays = {
      k: np.concatenate([v, other.source.arrays[k]])
      for k, v in self.source.arrays.items()
    }
    return dataclasses.replace(
      self,
      source=ArraySource(arrays),
      audio=np.concatenate([self.audio, other.audio]),
      pieces=np.concatenate([self.pieces, other.pieces]),
    )


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
  raw = _read(fam, ("audio", "family", "collection", "caption", "piece"))
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
  pieces = np.asarray([_text(p) for p in raw["piece"]], dtype=object)
  return ImageSplit(
    ArraySource(arrays),
    audio,
    tuple(fam.class_names),
    tuple(col.class_names),
    pieces,
  ), vocab


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def conditions(split: ImageSplit, indices: np.ndarray) -> dict[str, np.ndarray]:
  """The (shifted) conditions of some examples, as a generator input."""
  a = split.source.arrays
  return {k: a[k][indices] for k in ("family", "collection", "tokens")}


OPT_OUT_KINDS = ("collection", "pieces")


@dataclasses.dataclass(frozen=True)
class OptOut:
  """A rights holder's request: every clip of some collections, or of some pieces.

  Attributes:
    kind: ``"collection"`` or ``"pieces"``.
    names: collection names (``music_render.COLLECTIONS`` keys) or piece ids.
  """

  kind: str
  names: tuple[str, ...]

  @classmethod
  def parse(cls, text: str) -> OptOut:
    """``"collection:NAME[,NAME]"`` or ``"pieces:ID[,ID]"``.

    Raises:
      DataError: for any other form.
    """
    kind, sep, rest = str(text).partition(":")
    names = tuple(n.strip() for n in rest.split(",") if n.strip())
    if not sep or kind not in OPT_OUT_KINDS or not names:
      raise DataError(
        f"opt-out request {text!r}: expected collection:NAME[,NAME] or pieces:ID[,ID]"
      )
    return cls(kind, names)

  def __str__(self) -> str:
    return f"{self.kind}:{','.join(self.names)}"

  def covers(self, split: ImageSplit) -> np.ndarray:
    """``[N]`` bool: the clips of ``split`` the request withdraws."""
    if self.kind == "collection":
      unknown = sorted(set(self.names) - set(split.collection_names))
      if unknown:
        raise DataError(
          f"opt-out names collections {unknown}; the data set has "
          f"{list(split.collection_names)}"
        )
      ids = [split.collection_names.index(n) + 1 for n in self.names]  # shifted
      return np.isin(split.source.arrays["collection"], ids)
    return np.isin(split.pieces, list(self.names))

  def collections(self, split: ImageSplit) -> np.ndarray:
    """The (shifted) collection ids the request's clips belong to in ``split``."""
    return np.unique(split.source.arrays["collection"][self.covers(split)])

  def check(self, train: ImageSplit) -> np.ndarray:
    """:meth:`covers` on the training split, which must hold every named piece and
    must keep some clips.

    Raises:
      DataError: a piece id absent from the training data, or nothing left to keep.
    """
    covered = self.covers(train)
    if self.kind == "pieces":
      missing = sorted(set(self.names) - set(train.pieces[covered]))
      if missing:
        raise DataError(
          f"opt-out names pieces {missing} that no training clip comes from "
          f"(e.g. {sorted(set(train.pieces))[:3]})"
        )
    if covered.all():
      raise DataError(f"opt-out {self} covers every training clip")
    return covered
