"""Tests for the tfds catalog loaders (audiojax/data/catalog.py) on tfds mock data."""

import importlib.util

import numpy as np
import pytest

from audiojax.data import DATASETS, catalog, load
from audiojax.data.source import ArraySource, DataError

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("tensorflow")  # tfds' Audio feature and mock_data need it.

_NUM = 6
_CASES = {
  # name: (tfds splits, our split to read, rate, clip_samples, first class names)
  "speech_commands": (
    ["train", "validation", "test"],
    "validation",
    16000,
    16000,
    ("down", "go", "left"),
  ),
  "gtzan": (["train"], "test", 22050, 30 * 22050, ("blues", "classical")),
  "nsynth": (
    ["train", "valid", "test"],
    "validation",
    16000,
    64000,
    ("bass", "brass", "flute"),
  ),
}


def _prepare(data_dir, name, file_format):
  """Writes the metadata tfds leaves after download_and_prepare, without the data.

  `mock_data` then serves random examples through whichever of `as_data_source`
  (array_record) or `as_dataset` (tfrecord) the recorded file format selects.
  """
  builder = tfds.builder(name, data_dir=str(data_dir), file_format=file_format)
  builder.info.set_splits(
    tfds.core.SplitDict(
      [
        tfds.core.SplitInfo(name=s, shard_lengths=[_NUM], num_bytes=0)
        for s in _CASES[name][0]
      ]
    )
  )
  # nsynth's Beam metadata cannot be saved without apache_beam; we never read it.
  builder.info._metadata = None
  builder.data_path.mkdir(parents=True)
  builder.info.write_to_directory(builder.data_path)
  return builder


@pytest.mark.parametrize(
  "name, file_format",
  [
    ("speech_commands", "array_record"),
    ("speech_commands", "tfrecord"),
    ("gtzan", "tfrecord"),
    ("nsynth", "array_record"),
  ],
)
def test_mock_split_is_normalised(tmp_path, name, file_format):
  _, split, rate, clip, first_names = _CASES[name]
  builder = _prepare(tmp_path, name, file_format)
  label = catalog.SPECS[name].label
  names = catalog._feature(builder.info.features, label).names
  with tfds.testing.mock_data(num_examples=_NUM, data_dir=str(tmp_path)):
    data = load(name, split, data_dir=str(tmp_path))
    # tfrecord has no random access, so it is the as_dataset path, read to memory.
    assert isinstance(data.source.raw, ArraySource) == (file_format == "tfrecord")
    examples = [data.source[i] for i in range(len(data))]
    raw = [data.source.raw[i] for i in range(len(data))]
    if file_format == "tfrecord":
      # (tfds' mock ArrayRecord source breaks on batched reads, so only here.)
      batch = data.source.__getitems__([2, 0])
      for got, want in zip(batch, (examples[2], examples[0]), strict=True):
        np.testing.assert_array_equal(got["audio"], want["audio"])
  assert len(data) == _NUM and data.label_key == label
  assert (data.sample_rate, data.clip_samples) == (rate, clip)
  assert (
    data.class_names == tuple(names)
    and data.class_names[: len(first_names)] == first_names
  )
  for ex, stored in zip(examples, raw, strict=True):
    assert set(ex) == {"audio", label}
    audio = ex["audio"]
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert -1.0 <= audio.min() and audio.max() <= 1.0
    assert 0 <= ex[label] < data.num_classes
    stored_audio = np.asarray(stored["audio"])
    scale = 32768.0 if np.issubdtype(stored_audio.dtype, np.integer) else 1.0
    np.testing.assert_array_equal(audio, stored_audio.astype(np.float32) / scale)


def test_speech_commands_has_twelve_classes_with_silence_and_unknown():
  builder = tfds.builder("speech_commands", data_dir="/nonexistent")
  names = catalog._feature(builder.info.features, "label").names
  assert len(names) == 12 and names[-2:] == ["_silence_", "_unknown_"]


def test_nested_label_and_config_options(tmp_path):
  _prepare(tmp_path, "nsynth", "array_record")
  with tfds.testing.mock_data(num_examples=_NUM, data_dir=str(tmp_path)):
    data = load(
      "nsynth",
      "test",
      data_dir=str(tmp_path),
      label="instrument/source",
      config="sr=8000,crop_s=1",
    )
    ex = data.source[0]
    stored = np.asarray(data.source.raw[0]["audio"])
  assert data.class_names == ("acoustic", "electronic", "synthetic")
  assert (data.sample_rate, data.clip_samples) == (8000, 8000)
  assert ex["audio"].shape == (8000,) and 0 <= ex["instrument/source"] < 3
  assert len(stored) == 64000


def test_crop_takes_the_middle_and_resampling_keeps_pitch():
  rate, seconds = 22050, 3
  t = np.arange(rate * seconds) / rate
  tone = (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
  tone[0] = -32768
  raw = ArraySource({"audio": tone[None], "label": np.array([3])})
  cropped = catalog.NormalisedSource(raw, "label", rate, rate, crop=rate)[0]
  np.testing.assert_array_equal(cropped["audio"], tone[rate : 2 * rate] / 32768.0)
  full = catalog.NormalisedSource(raw, "label", rate, rate)[0]["audio"]
  assert full[0] == -1.0 and full.max() < 1.0
  resampled = catalog.NormalisedSource(raw, "label", rate, 16000)[0]["audio"]
  assert len(resampled) == 16000 * seconds
  spectrum = np.abs(np.fft.rfft(resampled))
  assert np.argmax(spectrum) / seconds == pytest.approx(1000, abs=1)


def test_integer_audio_beyond_16_bit_raises():
  raw = ArraySource({"audio": np.array([[0, 40000]]), "label": np.array([0])})
  with pytest.raises(DataError, match="40000"):
    catalog.NormalisedSource(raw, "label", 16000, 16000)[0]


@pytest.mark.parametrize("name", sorted(catalog.SPECS))
def test_unprepared_data_dir_says_how_to_prepare(tmp_path, name):
  assert name in DATASETS
  with pytest.raises(DataError, match="not prepared") as err:
    load(name, "train", data_dir=str(tmp_path))
  message = str(err.value)
  assert str(tmp_path) in message and "download_and_prepare" in message
  assert "file_format='array_record'" in message


def test_missing_tensorflow_is_named(tmp_path, monkeypatch):
  find_spec = importlib.util.find_spec
  monkeypatch.setattr(
    importlib.util,
    "find_spec",
    lambda n, *a: None if n == "tensorflow" else find_spec(n, *a),
  )
  with pytest.raises(DataError, match="requirements-dev.txt"):
    load("speech_commands", "train", data_dir=str(tmp_path))


def test_unknown_split_and_label_raise(tmp_path):
  _prepare(tmp_path, "speech_commands", "array_record")
  with tfds.testing.mock_data(num_examples=_NUM, data_dir=str(tmp_path)):
    with pytest.raises(DataError, match="no split 'valid'"):
      load("speech_commands", "valid", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="not a ClassLabel"):
      load("speech_commands", "train", data_dir=str(tmp_path), label="audio")
    with pytest.raises(DataError, match="no feature 'speaker'"):
      load("speech_commands", "train", data_dir=str(tmp_path), label="speaker")


@pytest.mark.parametrize(
  "config, expected",
  [
    (None, (None, {})),
    ("gansynth_subset", ("gansynth_subset", {})),
    (
      "gansynth_subset,sr=8000,crop_s=2.5",
      ("gansynth_subset", {"sr": 8000.0, "crop_s": 2.5}),
    ),
  ],
)
def test_parse_config(config, expected):
  assert catalog.parse_config("nsynth", config) == expected


@pytest.mark.parametrize(
  "config, message",
  [
    ("rate=8000", "unknown"),
    ("sr=fast", "not a number"),
    ("crop_s=0", "positive"),
    ("full,gansynth_subset", "two tfds configs"),
  ],
)
def test_parse_config_rejects(config, message):
  with pytest.raises(DataError, match=message):
    catalog.parse_config("nsynth", config)
