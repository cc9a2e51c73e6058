"""A protected data set on disk: the ``audiojax_protected`` tfds builder.

What an owner publishes, and what the experiment trains on: a ``tensorflow_datasets``
ArrayRecord data set (no TensorFlow needed) in a directory of its own, one split per
name given, each example ``audio`` (float32, any length), ``label`` (a ClassLabel)
and ``poisoned`` (whether the clip was protected). Examples keep the order they were
written in. ``info.metadata`` records the sample rate, the clip length the pipeline
cuts to, and what the protection was (method, knobs, poison rate; never the key).

It is a registered data set (``audiojax.data.DATASETS["audiojax_protected"]``), so a
classifier config trains on it with ``dataset.name = "audiojax_protected"`` and
``dataset.data_dir`` the directory :func:`write` was given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from audiojax.data.source import AudioSplit, DataError

NAME = "audiojax_protected"
VERSION = "1.0.0"


class AudiojaxProtected(tfds.core.GeneratorBasedBuilder):
  """Writes given splits of (audio, label, poisoned) as they are."""

  VERSION = tfds.core.Version(VERSION)
  name = NAME

  def __init__(
    self,
    *,
    splits: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    metadata: Mapping[str, Any],
    **kwargs,
  ):
    self._splits = splits
    self._class_names = list(class_names)
    self._metadata = dict(metadata)
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description="Audio protected by an unlearnable perturbation (audiojax).",
      features=tfds.features.FeaturesDict(
        {
          "audio": tfds.features.Tensor(shape=(None,), dtype=np.float32),
          "label": tfds.features.ClassLabel(names=self._class_names),
          "poisoned": tfds.features.Scalar(dtype=np.bool_),
        }
      ),
      metadata=tfds.core.MetadataDict(self._metadata),
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {name: self._generate_examples(name) for name in self._splits}

  def _generate_examples(self, split: str):
    audio, labels, poisoned = self._splits[split]
    for i in range(len(labels)):
      yield (
        i,
        {
          "audio": np.asarray(audio[i], np.float32),
          "label": int(labels[i]),
          "poisoned": bool(poisoned[i]),
        },
      )


def dataset_dir(data_dir: str) -> str:
  return os.path.join(data_dir, NAME, VERSION)


def write(
  data_dir: str,
  splits: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray, np.ndarray]],
  *,
  class_names: Sequence[str],
  sample_rate: int,
  clip_samples: int,
  protection: Mapping[str, Any],
) -> str:
  """Writes a protected data set into ``data_dir`` (which must not hold one yet).

  Args:
    data_dir: the directory of this data set alone.
    splits: ``{split: (audio [n] clips, labels [n], poisoned [n] bool)}``.
    class_names: the label names, indexed by label.
    sample_rate: of every clip.
    clip_samples: the length the pipeline cuts or pads clips to.
    protection: what was done (method, knobs, poison rate), stored as metadata.

  Returns:
    The data set's directory (``tfds.builder_from_directory`` reads it).
  """
  if os.path.exists(os.path.join(dataset_dir(data_dir), "dataset_info.json")):
    raise DataError(f"{data_dir} already holds a protected data set")
  for split, (audio, labels, poisoned) in splits.items():
    if not len(audio) == len(labels) == len(poisoned):
      raise DataError(
        f"split {split!r}: {len(audio)} clips, {len(labels)} labels and "
        f"{len(poisoned)} poisoned flags"
      )
  builder = AudiojaxProtected(
    splits=splits,
    class_names=class_names,
    metadata={
      "sample_rate": int(sample_rate),
      "clip_samples": int(clip_samples),
      "protection": dict(protection),
    },
    data_dir=data_dir,
    file_format="array_record",
  )
  builder.download_and_prepare()
  return builder.data_dir


def info(data_dir: str) -> tfds.core.DatasetInfo:
  """The data set's info (splits, class names, ``metadata``) in ``data_dir``."""
  path = dataset_dir(data_dir)
  if not os.path.exists(os.path.join(path, "dataset_info.json")):
    raise DataError(f"no {NAME} data set in {data_dir} (expected {path})")
  return tfds.builder_from_directory(path).info


def load_split(
  split: str, *, data_dir: str, config: str | None = None, label: str | None = None
) -> AudioSplit:
  """One split of the protected data set written into ``data_dir``.

  Raises:
    DataError: for a directory without one, an unknown split, a config or a label
      other than ``"label"``.
  """
  if config is not None:
    raise DataError(
      f"{NAME} has no configs (its data_dir is the data set), got {config!r}"
    )
  if label not in (None, "label"):
    raise DataError(f"{NAME} has one class label, 'label', not {label!r}")
  path = dataset_dir(data_dir)
  if not os.path.exists(os.path.join(path, "dataset_info.json")):
    raise DataError(f"no {NAME} data set in {data_dir} (expected {path})")
  builder = tfds.builder_from_directory(path)
  if split not in builder.info.splits:
    raise DataError(
      f"{NAME} in {data_dir} has no split {split!r}; valid: {list(builder.info.splits)}"
    )
  meta = builder.info.metadata
  return AudioSplit(
    source=builder.as_data_source(split=split),
    label_key="label",
    class_names=tuple(builder.info.features["label"].names),
    sample_rate=int(meta["sample_rate"]),
    clip_samples=int(meta["clip_samples"]),
  )
