"""Deterministic, resumable batching and placement on a mesh."""

import jax
import numpy as np
import pytest

from audiojax.data import pipeline
from audiojax.data.source import ArraySource, AudioSplit, DataError


def _split(n=23, samples=10, classes=3):
  audio = np.arange(n * samples, dtype=np.float32).reshape(n, samples) / (n * samples)
  label = np.arange(n) % classes
  return AudioSplit(
    source=ArraySource({"audio": audio, "label": label}),
    label_key="label",
    class_names=tuple("abc"),
    sample_rate=8,
    clip_samples=samples,
  )


def _ids(batch):
  # Each row's first sample identifies the example it came from.
  return np.rint(batch["audio"][:, 0] * 230 / 10).astype(int)


def test_epochs_visit_every_example_once_in_a_seeded_order():
  it = pipeline.TrainIterator(_split(), 5, seed=3)
  assert it.steps_per_epoch == 4
  epoch0 = np.concatenate([_ids(next(it)) for _ in range(4)])
  epoch1 = np.concatenate([_ids(next(it)) for _ in range(4)])
  assert len(set(epoch0)) == 20 and len(set(epoch1)) == 20
  assert not np.array_equal(epoch0, epoch1)
  again = pipeline.TrainIterator(_split(), 5, seed=3)
  np.testing.assert_array_equal(
    np.concatenate([_ids(next(again)) for _ in range(4)]), epoch0
  )
  other = pipeline.TrainIterator(_split(), 5, seed=4)
  assert not np.array_equal(
    np.concatenate([_ids(next(other)) for _ in range(4)]), epoch0
  )


def test_resume_from_state_continues_the_same_sequence():
  it = pipeline.TrainIterator(_split(), 5, seed=0)
  straight = [_ids(next(it)) for _ in range(11)]
  first = pipeline.TrainIterator(_split(), 5, seed=0)
  for _ in range(6):
    next(first)
  resumed = pipeline.TrainIterator(_split(), 5, seed=0)
  resumed.set_state(first.get_state())
  for expected in straight[6:]:
    np.testing.assert_array_equal(_ids(next(resumed)), expected)


@pytest.mark.parametrize(
  "field,value", [("seed", 9), ("num_examples", 99), ("batch_size", 4)]
)
def test_resume_refuses_a_state_of_other_data(field, value):
  it = pipeline.TrainIterator(_split(), 5, seed=0)
  state = it.get_state() | {field: value}
  with pytest.raises(DataError, match=field):
    it.set_state(state)


def test_labels_travel_with_their_audio():
  batch = next(pipeline.TrainIterator(_split(), 7, seed=1))
  np.testing.assert_array_equal(batch["label"], _ids(batch) % 3)
  assert batch["audio"].dtype == np.float32 and batch["label"].dtype == np.int32


def test_eval_batches_cover_each_example_once_with_a_mask():
  batches = list(pipeline.eval_batches(_split(), 10))
  assert [b["mask"].sum() for b in batches] == [10, 10, 3]
  ids = np.concatenate([_ids(b)[b["mask"]] for b in batches])
  np.testing.assert_array_equal(ids, np.arange(23))
  assert np.all(batches[-1]["audio"][3:] == 0)


def test_collate_crops_and_pads_audio_to_the_clip_length():
  x = np.arange(6, dtype=np.float32)
  examples = [{"audio": x, "label": 0}, {"audio": x[:2], "label": 1}]
  audio = pipeline.collate_audio(examples, _split(samples=4))["audio"]
  assert type(audio) is np.ndarray and audio.dtype == np.float32  # Stays on the host.
  np.testing.assert_array_equal(audio, [[0, 1, 2, 3], [0, 1, 0, 0]])


def test_too_small_split_and_bad_batch_size_raise():
  with pytest.raises(DataError, match="fewer than one batch"):
    pipeline.TrainIterator(_split(n=3), 5, seed=0)
  with pytest.raises(DataError, match="positive"):
    pipeline.TrainIterator(_split(), 0, seed=0)


def test_shard_batch_places_rows_on_the_mesh():
  mesh = pipeline.make_mesh()
  batch = pipeline.shard_batch({"x": np.ones((4, 3), np.float32)}, mesh)
  assert batch["x"].sharding.spec == jax.sharding.PartitionSpec("data")
  with pytest.raises(ValueError, match="available"):
    pipeline.make_mesh(len(jax.devices()) + 1)


def test_load_in_memory_keeps_every_example():
  split = _split()
  mem = pipeline.load_in_memory(split, chunk=4)
  for i in (0, 5, 22):
    np.testing.assert_array_equal(mem.source[i]["audio"], split.source[i]["audio"])
    assert mem.source[i]["label"] == split.source[i]["label"]


def test_any_random_access_source_batches_all_its_fields():
  source = ArraySource(
    {"image": np.arange(40.0).reshape(10, 2, 2), "cond": np.arange(10) * 10}
  )
  batch = next(pipeline.TrainIterator(source, 4, seed=0))
  assert batch["image"].shape == (4, 2, 2)
  np.testing.assert_array_equal(batch["cond"], batch["image"][:, 0, 0] / 4 * 10)
  last = list(pipeline.eval_batches(source, 4))[-1]
  assert last["mask"].tolist() == [True, True, False, False]
