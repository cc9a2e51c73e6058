"""Catalog audio data sets read through tfds from a prepared ``data_dir``, offline.

Speech Commands (Warden 2018, arXiv:1804.03209), GTZAN (Tzanetakis & Cook 2002,
"Musical genre classification of audio signals") and NSynth (Engel et al. 2017,
arXiv:1704.01279), as the tfds catalog builders define them. Splits are served by
random access (``as_data_source``) when the data was prepared as ArrayRecord, else read
once through ``as_dataset`` into memory; both need TensorFlow, because tfds decodes its
``Audio`` feature with it. Examples come out as ``{"audio": float32 in [-1, 1],
<label>: int}``; clip lengths are left as stored (Speech Commands has clips shorter than
1 s) unless a ``crop_s`` config cuts the middle, and the pipeline pads or crops to
``clip_samples``.

``config`` is a comma-separated list: a tfds builder config (nsynth: "full",
"gansynth_subset", ...) and the options ``sr=<Hz>`` (resample on access) and
``crop_s=<seconds>``, e.g. ``"gansynth_subset,sr=8000"`` or ``"crop_s=5"``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

import librosa
import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from audiojax.data.source import ArraySource, AudioSplit, DataError, RandomAccess

_OPTIONS = ("sr", "crop_s")


@dataclasses.dataclass(frozen=True)
class CatalogSpec:
  """How one tfds catalog data set maps onto an ``AudioSplit``.

  Attributes:
    label: the default class field ("/" joins nested feature names).
    clip_seconds: the length of a full clip.
    splits: our split names that tfds calls differently.
  """

  label: str
  clip_seconds: float
  splits: Mapping[str, str] = dataclasses.field(default_factory=dict)


SPECS: dict[str, CatalogSpec] = {
  "speech_commands": CatalogSpec("label", 1.0),
  # GTZAN has no official split; these slices of tfds' (hash-shuffled) order mix
  # genres but not artists apart (Sturm 2013 lists the repeated artists).
  "gtzan": CatalogSpec(
    "label",
    30.0,
    {"train": "train[:80%]", "validation": "train[80%:90%]", "test": "train[90%:]"},
  ),
  "nsynth": CatalogSpec("instrument/family", 4.0, {"validation": "valid"}),
}


def parse_config(name: str, config: str | None) -> tuple[str | None, dict[str, float]]:
  """Splits ``config`` into the tfds builder config and our options.

  Args:
    name: the data set, for error messages.
    config: e.g. ``"gansynth_subset,sr=16000,crop_s=2"`` or None.

  Returns:
    ``(tfds_config or None, {"sr": ..., "crop_s": ...})`` with only given options.

  Raises:
    DataError: for an unknown option, a non-positive value or two tfds configs.
  """
  tfds_config, options = None, {}
  for item in filter(None, (config or "").split(",")):
    key, sep, value = item.partition("=")
    if not sep:
      if tfds_config is not None:
        raise DataError(f"{name} config {config!r} names two tfds configs")
      tfds_config = item
      continue
    if key not in _OPTIONS:
      raise DataError(f"{name} config option {key!r} is unknown; options: {_OPTIONS}")
    try:
      options[key] = float(value)
    except ValueError:
      raise DataError(f"{name} config option {item!r} is not a number") from None
    if options[key] <= 0:
      raise DataError(f"{name} config option {item!r} must be positive")
  return tfds_config, options


def _feature(features: Any, path: str) -> Any:
  """The feature at ``path``, a top-level key ("audio/filename") or "/"-nested."""
  if path in features.keys():
    return features[path]
  for part in path.split("/"):
    features = features[part]
  return features


def _value(example: Mapping[str, Any], path: str) -> Any:
  if path in example:
    return example[path]
  for part in path.split("/"):
    example = example[part]
  return example


def _not_prepared(name: str, builder: Any, data_dir: str) -> DataError:
  return DataError(
    f"{name} is not prepared in data_dir={data_dir!r} (looked for "
    f"{builder.data_path}); audiojax never downloads catalog data. On a machine "
    f"with internet run `tfds.builder({builder.info.full_name.rsplit('/', 1)[0]!r}, "
    f"data_dir=DIR).download_and_prepare(file_format='array_record')` "
    f"(array_record gives random access), copy DIR here and pass data_dir=DIR."
  )


class NormalisedSource:
  """Random access that turns stored examples into ``{"audio", <label>}``.

  Integer audio (16-bit PCM, whatever the container dtype) is divided by 32768;
  float audio is kept. Then the optional centre crop (native samples) and resampling.

  Args:
    raw: random-access tfds examples.
    label: the label field path; the output key is the same string.
    native_rate: the stored sample rate.
    rate: the sample rate to hand out.
    crop: keep at most this many native samples (the middle), or None.
  """

  def __init__(
    self,
    raw: RandomAccess,
    label: str,
    native_rate: int,
    rate: int,
    crop: int | None = None,
  ):
    self.raw, self.label = raw, label
    self.native_rate, self.rate, self.crop = native_rate, rate, crop

  def __len__(self) -> int:
    return len(self.raw)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    return self.normalise(self.raw[index])

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, np.ndarray]]:
    getitems = getattr(self.raw, "__getitems__", None)
    rows = getitems(list(indices)) if getitems else [self.raw[i] for i in indices]
    return [self.normalise(row) for row in rows]

  def normalise(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Returns the example's float32 audio in [-1, 1] and its integer label."""
    audio = np.asarray(example["audio"])
    if audio.ndim != 1:
      raise DataError(f"expected mono audio of shape [n], got {audio.shape}")
    if np.issubdtype(audio.dtype, np.integer):
      peak = int(np.abs(audio.astype(np.int64)).max(initial=0))
      if peak > 32768:
        raise DataError(f"integer audio reaches {peak}, beyond 16-bit PCM")
      audio = audio.astype(np.float32) / 32768.0
    else:
      audio = audio.astype(np.float32)
    if self.crop is not None and len(audio) > self.crop:
      start = (len(audio) - self.crop) // 2
      audio = audio[start : start + self.crop]
    if self.rate != self.native_rate:
      audio = librosa.resample(
        audio, orig_sr=self.native_rate, target_sr=self.rate, res_type="soxr_hq"
      ).astype(np.float32)
    return {"audio": audio, self.label: np.int64(_value(example, self.label))}


def _in_memory(builder: Any, split: str, label: str) -> ArraySource:
  """Reads a tfrecord-prepared split through ``as_dataset`` into numpy arrays."""
  logging.info(
    "%s is not in a random-access format; reading %s into memory",
    builder.info.full_name,
    split,
  )
  audio, labels = [], []
  for example in tfds.as_numpy(builder.as_dataset(split=split)):
    audio.append(example["audio"])
    labels.append(_value(example, label))
  # An object array keeps each clip's own length and stored dtype (int16 is half
  # the memory of float32); NormalisedSource converts one example at a time.
  clips = np.empty(len(audio), dtype=object)
  clips[:] = audio
  return ArraySource({"audio": clips, label: np.asarray(labels, np.int64)})


def load_catalog(
  name: str,
  split: str,
  *,
  data_dir: str,
  config: str | None = None,
  label: str | None = None,
) -> AudioSplit:
  """Returns one split of the catalog data set ``name`` from ``data_dir``.

  Args:
    name: a key of ``SPECS`` (the tfds name).
    split: "train", "validation", "test" or any tfds split string ("train[:10%]").
    data_dir: where the data set was prepared by tfds.
    config: tfds builder config and options, see the module docstring.
    label: the class field ("/" for nested), e.g. "instrument/source"; default per
      data set.

  Returns:
    The split with the native sample rate (or ``sr``) and the ClassLabel names.

  Raises:
    DataError: if TensorFlow is missing, the data is not prepared, or config,
      label or split are unknown.
  """
  spec = SPECS[name]
  tfds_config, options = parse_config(name, config)
  if importlib.util.find_spec("tensorflow") is None:
    raise DataError(
      f"{name} needs TensorFlow (tfds decodes its Audio feature with it), which "
      f"only requirements-dev.txt installs: pip install -r requirements-dev.txt"
    )
  full_name = f"{name}/{tfds_config}" if tfds_config else name
  try:
    builder = tfds.builder(full_name, data_dir=data_dir)
  except (ValueError, KeyError) as e:
    raise DataError(f"tfds cannot make {full_name!r}: {e}") from e
  if not builder.is_prepared():
    raise _not_prepared(name, builder, data_dir)
  label = label or spec.label
  try:
    feature = _feature(builder.info.features, label)
  except KeyError:
    raise DataError(f"{name} has no feature {label!r}") from None
  if not isinstance(feature, tfds.features.ClassLabel):
    raise DataError(
      f"{name} feature {label!r} is {type(feature).__name__}, not a ClassLabel"
    )
  tfds_split = spec.splits.get(split, split)
  if tfds_split.split("[")[0] not in builder.info.splits:
    raise DataError(
      f"{name} has no split {split!r}; it has "
      f"{sorted({*spec.splits, *builder.info.splits})}"
    )
  native_rate = int(builder.info.features["audio"].sample_rate)
  rate = int(options.get("sr", native_rate))
  random_access = tfds.core.FileFormat.with_random_access()
  if builder.info.available_file_formats() & set(random_access):
    raw = builder.as_data_source(split=tfds_split)
  else:
    raw = _in_memory(builder, tfds_split, label)
  crop_s = options.get("crop_s")
  crop = round(crop_s * native_rate) if crop_s else None
  return AudioSplit(
    source=NormalisedSource(raw, label, native_rate, rate, crop),
    label_key=label,
    class_names=tuple(feature.names),
    sample_rate=rate,
    clip_samples=round(min(crop_s or spec.clip_seconds, spec.clip_seconds) * rate),
  )


# The loaders ``audiojax.data.DATASETS`` lists, one per entry of ``SPECS``.
load_speech_commands = functools.partial(load_catalog, "speech_commands")
load_gtzan = functools.partial(load_catalog, "gtzan")
load_nsynth = functools.partial(load_catalog, "nsynth")
