"""The owner's key: exact poison rates, bit-for-bit reproduction from a saved key,
typed errors for malformed key files, and the protected set as a tfds data set."""

import json

import jax
import numpy as np
import pytest

from audiojax import data
from audiojax.data.source import DataError
from audiojax.registry import UnknownNameError
from audiojax.unlearnable import UnlearnableError, dataset, keys

KNOBS = dict(patch_samples=100, num_patches=2, kernel_size=5, blur=0.5)


def _set(n=37, samples=1000, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  audio = rng.uniform(-0.8, 0.8, (n, samples)).astype(np.float32)
  return audio, np.arange(n) % classes


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.8, 1.0, 1 / 3])
def test_the_poison_rate_is_honoured_exactly(rate):
  audio, labels = _set()
  key = keys.ProtectionKey.generate("poscuda", 0, poison_rate=rate, **KNOBS)
  out, poisoned = key.protect(audio, labels, batch_size=8)
  assert poisoned.sum() == round(rate * len(audio))
  changed = np.any(out != audio, axis=1)
  np.testing.assert_array_equal(changed, poisoned)  # every protected clip changed
  np.testing.assert_array_equal(out[~poisoned], audio[~poisoned])


def test_protect_is_the_perturbation_of_each_poisoned_clip_in_any_batching():
  audio, labels = _set()
  key = keys.ProtectionKey.generate("cuda", 4, poison_rate=0.5, kernel_size=5)
  a, poisoned = key.protect(audio, labels, batch_size=8)
  b, again = key.protect(audio, labels, batch_size=5)
  np.testing.assert_array_equal(poisoned, again)
  np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
  idx = np.flatnonzero(poisoned)
  direct = np.asarray(key.perturb(audio[idx], labels[idx].astype(np.int32)))
  np.testing.assert_allclose(a[idx], direct, rtol=0, atol=1e-7)


def test_clips_of_any_lengths_are_protected_at_their_own_length():
  rng = np.random.default_rng(3)
  clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (900, 1200, 900, 1200)]
  labels = np.array([0, 0, 1, 1])
  key = keys.ProtectionKey.generate("poscuda", 2, **KNOBS)
  out, poisoned = key.protect(clips, labels)
  assert isinstance(out, list) and poisoned.all()
  assert [len(c) for c in out] == [900, 1200, 900, 1200]
  for i, clip in enumerate(clips):
    alone = np.asarray(key.perturb(clip[None], labels[i : i + 1].astype(np.int32)))[0]
    np.testing.assert_allclose(out[i], alone, rtol=0, atol=1e-7)
    assert 0 < np.mean(out[i] != clip) < 0.5  # 2 patches of 100 samples
  empty, none = key.protect(np.zeros((0, 10), np.float32), np.zeros(0, int))
  assert empty.shape == (0, 10) and none.shape == (0,)


def test_a_saved_key_reproduces_the_protected_set_bit_for_bit(tmp_path):
  audio, labels = _set()
  key = keys.ProtectionKey.generate("poscuda", poison_rate=0.6, **KNOBS)  # OS seed
  path = str(tmp_path / "owner.key")
  key.save(path)
  loaded = keys.load(path)
  assert loaded == key
  a, pa = key.protect(audio, labels)
  b, pb = loaded.protect(audio, labels)
  assert a.tobytes() == b.tobytes() and pa.tobytes() == pb.tobytes()
  other = keys.ProtectionKey.generate("poscuda", poison_rate=0.6, **KNOBS)
  assert other.key_data != key.key_data  # fresh keys differ
  assert not np.array_equal(other.protect(audio, labels)[0], a)


@pytest.mark.parametrize(
  "content, match",
  [
    ("not json", "cannot read"),
    ("[1, 2]", "not a protection key"),
    (json.dumps({"format": "other"}), "not a protection key"),
    (json.dumps({"format": keys.FORMAT, "method": "poscuda"}), "malformed"),
    (
      json.dumps({"format": keys.FORMAT, "method": "blur", "key_data": [0, 1]}),
      "malformed",
    ),
    (
      json.dumps({"format": keys.FORMAT, "method": "cuda", "key_data": [-1, 1]}),
      "malformed",
    ),
    (
      json.dumps(
        {
          "format": keys.FORMAT,
          "method": "cuda",
          "key_data": [0, 1],
          "poison_rate": 1.5,
        }
      ),
      "malformed",
    ),
  ],
)
def test_a_malformed_key_file_raises_a_typed_error_naming_it(tmp_path, content, match):
  path = tmp_path / "bad.key"
  path.write_text(content)
  with pytest.raises(UnlearnableError, match=match) as info:
    keys.load(str(path))
  assert str(path) in str(info.value)
  with pytest.raises(UnlearnableError, match="cannot read"):
    keys.load(str(tmp_path / "missing.key"))


def test_bad_arguments_are_refused():
  with pytest.raises(UnknownNameError):
    keys.ProtectionKey.generate("blur")
  for rate in (-0.1, 1.1, float("nan"), True):
    with pytest.raises(UnlearnableError, match="poison_rate"):
      keys.ProtectionKey.generate("cuda", 0, poison_rate=rate)
  key = keys.ProtectionKey.generate("cuda", 0)
  audio, labels = _set()
  with pytest.raises(UnlearnableError):
    key.protect(audio, labels[:-1])
  with pytest.raises(UnlearnableError):
    keys.poison_mask(jax.random.key(0), 10, 2.0)


def test_the_protected_set_round_trips_through_tfds(tmp_path):
  audio, labels = _set(n=12)
  key = keys.ProtectionKey.generate("poscuda", 1, poison_rate=0.5, **KNOBS)
  protected, poisoned = key.protect(audio, labels)
  clean_test = (audio[:3], labels[:3], np.zeros(3, bool))
  data_dir = str(tmp_path / "protected")
  dataset.write(
    data_dir,
    {"train": (protected, labels, poisoned), "test": clean_test},
    class_names=["a", "b", "c", "d"],
    sample_rate=16000,
    clip_samples=1000,
    protection=key.describe(),
  )
  train = data.load("audiojax_protected", "train", data_dir=data_dir)
  assert len(train) == 12 and train.class_names == ("a", "b", "c", "d")
  assert train.sample_rate == 16000 and train.clip_samples == 1000
  for i in range(12):  # in the order written, bit for bit
    ex = train.source[i]
    np.testing.assert_array_equal(ex["audio"], protected[i])
    assert ex["label"] == labels[i] and bool(ex["poisoned"]) == poisoned[i]
  assert "key_data" not in json.dumps(dict(dataset.info(data_dir).metadata))
  test = data.load("audiojax_protected", "test", data_dir=data_dir)
  np.testing.assert_array_equal(test.source[2]["audio"], audio[2])
  with pytest.raises(DataError, match="no split"):
    data.load("audiojax_protected", "validation", data_dir=data_dir)
  with pytest.raises(DataError, match="already holds"):
    dataset.write(
      data_dir,
      {"train": clean_test},
      class_names=["a", "b", "c", "d"],
      sample_rate=16000,
      clip_samples=1000,
      protection={},
    )
  with pytest.raises(DataError, match="no audiojax_protected"):
    data.load("audiojax_protected", "train", data_dir=str(tmp_path / "none"))
  with pytest.raises(DataError, match="label"):
    data.load("audiojax_protected", "train", data_dir=data_dir, label="family")
