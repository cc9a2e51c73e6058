"""Caption words as integer ids: the text condition of the generator.

A closed vocabulary built from the training captions (lower-cased words, sorted, so the
same captions always give the same ids). Id 0 is padding / "no caption" (the
classifier-free-guidance null), id 1 an unknown word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

import numpy as np

PAD, UNKNOWN = 0, 1
_WORD = re.compile(r"[a-z0-9]+")


def words(caption: str | bytes) -> list[str]:
  if isinstance(caption, bytes):
    caption = caption.decode("utf-8")
  return _WORD.findall(caption.lower())


class Vocabulary:
  """Word <-> id map; ``encode`` gives fixed-length id rows."""

  def __init__(self, tokens: Sequence[str]):
    if len(set(tokens)) != len(tokens):
      raise ValueError("vocabulary words must be unique")
    self.tokens = list(tokens)
    self._ids = {w: i + 2 for i, w in enumerate(self.tokens)}

  @classmethod
  def build(cls, captions: Iterable[str | bytes]) -> Vocabulary:
    return cls(sorted({w for c in captions for w in words(c)}))

  @property
  def size(self) -> int:
    """Number of ids, padding and unknown included."""
    return len(self.tokens) + 2

  def encode(self, caption: str | bytes, length: int) -> np.ndarray:
    """The first ``length`` word ids of ``caption``, padded with 0."""
    ids = [self._ids.get(w, UNKNOWN) for w in words(caption)][:length]
    return np.asarray(ids + [PAD] * (length - len(ids)), np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    out = []
    for i in ids:
      if i == PAD:
        continue
      out.append("<unk>" if i == UNKNOWN else self.tokens[i - 2])
    return " ".join(out)

  def to_json(self) -> str:
    return json.dumps({"tokens": self.tokens})

  @classmethod
  def from_json(cls, text: str) -> Vocabulary:
    return cls(json.loads(text)["tokens"])
