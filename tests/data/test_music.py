"""Tests of the embedded music data set (audiojax/data/music.py, music_render.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from audiojax.data import DATASETS, load, music, music_instruments, music_render
from audiojax.data.source import DataError

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPLITS = ("train", "validation", "test")

# Small enough to build twice in a few seconds; two collections, two families a piece.
_REPEAT = dict(
  name="repeat",
  collections=("bach", "oneills"),
  pieces_per_collection=3,
  renderings_per_piece=2,
  clips_per_rendering=1,
)


def _examples(builder, split):
  source = builder.as_data_source(split=split)
  return [source[i] for i in range(len(source))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("music"))
  builder = music.AudiojaxMusic(config="tiny", data_dir=data_dir)
  builder.download_and_prepare()
  return data_dir, builder, {split: _examples(builder, split) for split in _SPLITS}


def test_splits_are_nonempty_and_piece_disjoint(tiny):
  _, _, examples = tiny
  pieces = {s: {e["piece"].decode() for e in examples[s]} for s in _SPLITS}
  assert all(len(examples[s]) > 0 for s in _SPLITS)
  assert not pieces["train"] & pieces["validation"]
  assert not pieces["train"] & pieces["test"]
  assert not pieces["validation"] & pieces["test"]
  # tiny: 3 pieces of each of the 5 collections, one per split.
  assert [len(pieces[s]) for s in _SPLITS] == [5, 5, 5]


def test_every_family_is_in_train_and_labels_agree(tiny):
  _, builder, examples = tiny
  names = builder.info.features["family"].names
  assert len(names) >= 8
  train_families = {names[e["family"]] for e in examples["train"]}
  assert train_families == set(music_instruments.FAMILIES)
  for e in examples["train"] + examples["test"]:
    family, _, _, _ = music_render.instrument(int(e["program"]))
    assert family == names[e["family"]]
    assert int(e["transpose"]) in music.CONFIGS["tiny"].transpositions
    assert float(e["tempo_bpm"]) in music.CONFIGS["tiny"].tempos


def test_audio_is_normalised_finite_and_not_silent(tiny):
  _, _, examples = tiny
  for e in examples["train"] + examples["validation"] + examples["test"]:
    audio = e["audio"]
    assert audio.shape == (32000,) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    np.testing.assert_allclose(np.max(np.abs(audio)), 0.9, rtol=1e-6)
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 0.01


def test_captions_name_instrument_family_and_tempo(tiny):
  _, builder, examples = tiny
  families = builder.info.features["family"].names
  collections = builder.info.features["collection"].names
  for e in examples["train"]:
    caption = e["caption"].decode()
    family, name, _, _ = music_render.instrument(int(e["program"]))
    assert family == families[e["family"]]
    assert f"played on {name} ({family.replace('_', ' ')})" in caption
    assert f"{float(e['tempo_bpm']):g} bpm" in caption
    collection = collections[e["collection"]]
    assert caption.startswith(music_render.COLLECTIONS[collection][1] + " in ")
    assert caption.split(" in ")[1].split(",")[0].split()[1] in ("major", "minor")


def test_notes_lie_inside_the_clip_and_the_instrument_range(tiny):
  _, _, examples = tiny
  for e in examples["train"] + examples["test"]:
    notes = e["notes"]
    _, _, lo, hi = music_render.instrument(int(e["program"]))
    assert notes.ndim == 2 and notes.shape[1] == 3 and len(notes) > 0
    assert np.all((notes[:, 1] >= 0) & (notes[:, 1] <= notes[:, 2]))
    assert np.all(notes[:, 2] <= 2.0)
    assert np.all((notes[:, 0] >= lo) & (notes[:, 0] <= hi))


def test_same_config_builds_identical_examples_in_another_process(tmp_path, tiny):
  """Builds in-process and in a fresh interpreter; also checks lazy imports there."""
  here = music.AudiojaxMusic(
    config=music.MusicConfig(**_REPEAT), data_dir=str(tmp_path / "a")
  )
  here.download_and_prepare()
  tiny_dir, _, _ = tiny
  script = f"""
import json, sys
from audiojax.data import music
split = music.load_split("train", data_dir={tiny_dir!r}, config="tiny")
split.source[0]
lazy = not ({{"music21", "tinysoundfont"}} & set(sys.modules))
b = music.AudiojaxMusic(config=music.MusicConfig(**{_REPEAT!r}),
                        data_dir={str(tmp_path / "b")!r})
b.download_and_prepare()
print(json.dumps({{"lazy": lazy}}))
"""
  env = dict(os.environ, PYTHONHASHSEED="123", PYTHONPATH=_REPO)
  result = subprocess.run(
    [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
  )
  assert json.loads(result.stdout.strip().splitlines()[-1]) == {"lazy": True}
  there = music.AudiojaxMusic(
    config=music.MusicConfig(**_REPEAT), data_dir=str(tmp_path / "b")
  )
  for split in _SPLITS:
    a, b = _examples(here, split), _examples(there, split)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
      assert x.keys() == y.keys()
      for key in x:
        assert np.asarray(x[key]).tobytes() == np.asarray(y[key]).tobytes(), key


def test_load_split_family_and_collection_labels(tiny):
  data_dir, builder, examples = tiny
  split = load("audiojax_music", "train", data_dir=data_dir, config="tiny")
  assert "audiojax_music" in DATASETS
  assert split.label_key == "family"
  assert split.class_names == music_instruments.FAMILIES
  assert (split.sample_rate, split.clip_samples) == (16000, 32000)
  assert len(split) == len(examples["train"])
  labels = sorted(int(split.source[i]["family"]) for i in range(len(split)))
  assert labels == sorted(int(e["family"]) for e in examples["train"])
  by_collection = music.load_split(
    "test", data_dir=data_dir, config="tiny", label="collection"
  )
  assert by_collection.class_names == tuple(music_render.COLLECTIONS)
  assert by_collection.num_classes == 5
  assert {int(by_collection.source[i]["collection"]) for i in range(5)} <= set(range(5))


def test_load_split_rejects_bad_label_config_and_split(tiny):
  data_dir, _, _ = tiny
  with pytest.raises(DataError, match="'caption'.*collection.*family"):
    music.load_split("train", data_dir=data_dir, config="tiny", label="caption")
  with pytest.raises(DataError, match="huge"):
    music.load_split("train", data_dir=data_dir, config="huge", label=None)
  with pytest.raises(DataError, match="dev"):
    music.load_split("dev", data_dir=data_dir, config="tiny", label=None)


def test_select_pieces_skips_unreadable_pieces_and_splits_80_10_10(monkeypatch):
  ids = [f"piece{i:03d}" for i in range(60)]
  monkeypatch.setattr(music_render, "list_pieces", lambda collection: ids)

  def parse(piece_id, collection):
    if piece_id.endswith("7"):
      raise music_instruments.RenderError(f"{piece_id} is unreadable")
    return music_render.Piece(piece_id, collection, np.array([[60.0, 0.0, 1.0, 0.0]]))

  monkeypatch.setattr(music_render, "parse_piece", parse)
  cfg = music.MusicConfig(name="fake", collections=("bach",), pieces_per_collection=40)
  first = music.select_pieces(cfg)
  again = music.select_pieces(cfg)
  chosen = [p.piece_id for s in _SPLITS for p in first[s]]
  assert [len(first[s]) for s in _SPLITS] == [32, 4, 4]
  assert len(set(chosen)) == 40 and not any(i.endswith("7") for i in chosen)
  assert {s: [p.piece_id for p in first[s]] for s in _SPLITS} == {
    s: [p.piece_id for p in again[s]] for s in _SPLITS
  }
  with pytest.raises(DataError, match="fewer than pieces_per_collection=60"):
    music.select_pieces(
      music.MusicConfig(name="fake", collections=("bach",), pieces_per_collection=60)
    )


def test_estimate_key_finds_scales():
  c_major = np.array([60, 62, 64, 65, 67, 69, 71, 72, 60, 67, 64])
  a_minor = np.array([57, 59, 60, 62, 64, 65, 68, 69, 57, 64, 60, 57])
  assert music_render.estimate_key(c_major, np.ones(len(c_major))) == "c major"
  assert music_render.estimate_key(a_minor, np.ones(len(a_minor))) == "a minor"
  assert music_render.estimate_key(c_major + 7, np.ones(len(c_major))) == "g major"


def test_place_pitches_keeps_pitch_classes_inside_the_range():
  pitches = np.array([40, 52, 64, 76, 88])
  placed = music_render.place_pitches(pitches, 2, 28, 55)
  assert np.all((placed >= 28) & (placed <= 55))
  np.testing.assert_array_equal(placed % 12, (pitches + 2) % 12)
