"""What every data set hands the pipeline: one random-access split and its label space.

A split's ``source`` is anything with ``len()`` and ``__getitem__(i) -> dict`` of numpy
arrays (a ``tfds`` ArrayRecord data source, or :class:`ArraySource` over in-memory
arrays). The pipeline only indexes it, so shuffling is a permutation of indices and a
resumed run can seek straight to its position.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class DataError(ValueError):
  """A data set is missing, malformed, or asked for in a way it cannot serve."""


class RandomAccess(Protocol):
  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> Mapping[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class AudioSplit:
  """One split of a labelled audio data set.

  Attributes:
    source: random-access examples; each a dict with at least ``"audio"`` (float32
      waveform in [-1, 1], shape ``[num_samples]``) and ``label_key`` (int).
    label_key: the example field that holds the class index.
    class_names: names of the classes, indexed by label.
    sample_rate: samples per second of ``"audio"``.
    clip_samples: the length every clip is cut or padded to by the pipeline.
  """

  source: RandomAccess
  label_key: str
  class_names: tuple[str, ...]
  sample_rate: int
  clip_samples: int

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def __len__(self) -> int:
    return len(self.source)


class ArraySource:
  """Random access over a dict of equally long numpy arrays (one row per example)."""

  def __init__(self, arrays: Mapping[str, np.ndarray]):
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
      raise DataError(f"ArraySource fields differ in length: {lengths}")
    self.arrays = dict(arrays)
    self._len = next(iter(lengths.values()))

  def __len__(self) -> int:
    return self._len

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    if not -self._len <= index < self._len:
      raise IndexError(f"index {index} out of range for {self._len} examples")
    return {k: v[index] for k, v in self.arrays.items()}

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, np.ndarray]]:
    return [self[i] for i in indices]


def default_data_dir() -> str:
  """Where built data sets live: ``$AUDIOJAX_DATA_DIR`` or ~/tensorflow_datasets."""
  return os.path.expanduser(
    os.environ.get("AUDIOJAX_DATA_DIR", "~/tensorflow_datasets")
  )
