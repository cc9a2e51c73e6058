"""Tests for the spoken-keyword tfds builder (audiojax/data/keywords.py)."""

import collections
import os
import tempfile

import numpy as np
import pytest

from audiojax.data import DATASETS, keywords, load, tts
from audiojax.data.source import DataError


def _examples(split):
  return [split.source[i] for i in range(len(split))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("keywords"))
  return {
    s: load("audiojax_keywords", s, data_dir=data_dir, config="tiny")
    for s in keywords.SPLITS
  }


def test_registered():
  assert DATASETS.get("audiojax_keywords") is keywords.load_split


def test_clips_are_one_second_peak_normalised_and_padded(tiny):
  starts = []
  for split in tiny.values():
    assert split.class_names == keywords.WORDS
    assert (split.sample_rate, split.clip_samples) == (16000, 16000)
    for ex in _examples(split):
      audio = ex["audio"]
      assert audio.dtype == np.float32 and audio.shape == (16000,)
      np.testing.assert_allclose(np.abs(audio).max(), 0.9, rtol=1e-6)
      assert 0 <= ex["label"] < 10
      # The whole word fits: the window starts or ends with padding.
      nonzero = np.flatnonzero(audio)
      assert nonzero[0] > 0 or nonzero[-1] < 15999
      starts.append(nonzero[0])
  # Seeded random placement, not a fixed offset.
  assert len(set(starts)) > len(starts) // 2


def test_splits_are_speaker_disjoint_and_cover_every_word(tiny):
  speakers = {}
  for name, split in tiny.items():
    examples = _examples(split)
    speakers[name] = {ex["speaker"] for ex in examples}
    assert {ex["engine"] for ex in examples} == {b"flite", b"espeak-ng"}
    per_voice = collections.Counter(
      (ex["speaker"], int(ex["label"])) for ex in examples
    )
    # tiny has one take per voice and word.
    assert set(per_voice.values()) == {1}
    assert len(per_voice) == 10 * len(speakers[name])
  assert not speakers["train"] & speakers["validation"]
  assert not speakers["train"] & speakers["test"]
  assert not speakers["validation"] & speakers["test"]
  # tiny: 4 flite voices and 3 espeak-ng accents, 10 words each.
  assert sum(len(s) for s in tiny.values()) == (4 + 3) * 10


def test_rebuild_is_byte_identical(tiny, tmp_path):
  again = load("audiojax_keywords", "test", data_dir=str(tmp_path), config="tiny")
  first = {
    (ex["speaker"], int(ex["label"])): ex["audio"].tobytes()
    for ex in _examples(tiny["test"])
  }
  second = {
    (ex["speaker"], int(ex["label"])): ex["audio"].tobytes() for ex in _examples(again)
  }
  assert first == second


def test_takes_of_one_word_differ():
  voice = tts.Voice("flite", "slt")
  with tempfile.TemporaryDirectory() as workdir:
    takes = [
      keywords.render(keywords.Utterance(voice, 0, r), 0, workdir) for r in range(3)
    ]
    again = keywords.render(keywords.Utterance(voice, 0, 1), 0, workdir)
  spans = {int(np.ptp(np.flatnonzero(t))) for t in takes}
  assert len(spans) == 3  # tempo and speed vary per take
  np.testing.assert_array_equal(again, takes[1])


def test_trim_matches_librosa():
  librosa = pytest.importorskip("librosa")
  rng = np.random.default_rng(0)
  envelope = np.r_[
    np.zeros(2000), np.linspace(0, 1, 3000), np.ones(4000) * 0.3, np.full(3000, 1e-4)
  ]
  y = (rng.standard_normal(len(envelope)) * envelope).astype(np.float32)
  expected, _ = librosa.effects.trim(y, top_db=40, frame_length=512, hop_length=128)
  np.testing.assert_array_equal(tts.trim(y), expected)


def test_voices_of_one_person_share_a_split():
  recorded = [tts.Voice("flite", n) for n in ("kal16", "awb", "rms", "slt")]
  recorded += [
    tts.Voice("festival", n)
    for n in ("kal_diphone", "cmu_us_slt_arctic_hts", "cmu_us_awb_cg", "ked_diphone")
  ]
  formant = [
    tts.Voice("espeak-ng", a, v) for a in ("en-us", "en-gb") for v in ("", "m1", "f2")
  ]
  assert [v.speaker for v in recorded[4:7]] == ["kal", "slt", "awb"]
  assignments = [keywords.assign_splits(recorded + formant, seed) for seed in range(6)]
  assert keywords.assign_splits(recorded + formant, 0) == assignments[0]
  assert len({tuple(sorted(a.items())) for a in assignments}) > 1
  for split_of in assignments:
    by_speaker = collections.defaultdict(set)
    for v in recorded + formant:
      by_speaker[v.speaker].add(split_of[v.id])
    assert all(len(s) == 1 for s in by_speaker.values())
    for kind in (recorded, formant):
      assert {split_of[v.id] for v in kind} == set(keywords.SPLITS)


def test_default_plan_is_a_few_thousand_speaker_disjoint_clips():
  config = keywords.AudiojaxKeywords.builder_configs["default"]
  splits = keywords.plan(config)
  voices = {s: {u.voice for u in utts} for s, utts in splits.items()}
  engines = collections.Counter(v.engine for vs in voices.values() for v in vs)
  assert engines["flite"] == 4 and engines["espeak-ng"] == 8 * 6
  expected = 10 * (
    engines["flite"] * config.flite_repeats
    + engines["espeak-ng"] * config.espeak_repeats
    + engines["festival"] * config.festival_repeats
  )
  assert sum(len(u) for u in splits.values()) == expected >= 2000
  speakers = {s: {v.speaker for v in vs} for s, vs in voices.items()}
  assert not (
    speakers["train"] & speakers["validation"]
    or speakers["train"] & speakers["test"]
    or speakers["validation"] & speakers["test"]
  )
  assert all(any(v.engine == "flite" for v in vs) for vs in voices.values())


def test_missing_binaries_raise_with_apt_hint(tmp_path, monkeypatch):
  monkeypatch.setenv("PATH", str(tmp_path / "empty"))
  data_dir = tmp_path / "data"
  with pytest.raises(DataError, match="apt-get install flite espeak-ng") as err:
    load("audiojax_keywords", "train", data_dir=str(data_dir), config="tiny")
  assert "flite" in str(err.value) and "espeak-ng" in str(err.value)
  assert not os.path.exists(data_dir / "audiojax_keywords" / "tiny" / "1.0.0")


@pytest.mark.parametrize(
  "kwargs, message",
  [
    ({"label": "speaker"}, "no label field 'speaker'"),
    ({"config": "huge"}, "no config 'huge'"),
    ({"split": "valid"}, "no split 'valid'"),
  ],
)
def test_bad_requests_raise(tmp_path, kwargs, message):
  kwargs = {"split": "train", "config": "tiny", **kwargs}
  with pytest.raises(DataError, match=message):
    keywords.load_split(data_dir=str(tmp_path), **kwargs)
