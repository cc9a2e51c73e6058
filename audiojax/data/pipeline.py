"""Deterministic, resumable batching of a random-access split, placed on a device mesh.

The order of examples is a pure function of ``(seed, epoch)``: epoch ``e`` visits
``permutation(seed, e)`` of the split's indices, so the batch at any position can be
produced without replaying the ones before it. The iterator's whole state is its
position (a count of batches), saved in every checkpoint and checked on restore
(grain's ``get_state`` / ``set_state`` idea, without a worker pool we do not need).

Batches are dicts of numpy arrays; ``shard_batch`` puts them on a ``jax.sharding.Mesh``
split along the leading (batch) axis, the data-parallel layout of big_vision. In a
multi-process run (:mod:`audiojax.distributed`) ``next_global_batch`` has each
process read only the rows its devices hold.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from audiojax.data.source import ArraySource, AudioSplit, DataError, RandomAccess
from audiojax.features import fix_length

DATA_AXIS = "data"


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The visiting order of epoch ``epoch``: a pure function of its arguments."""
  rng = np.random.default_rng([seed, epoch])
  return rng.permutation(num_examples)


def fetch(source: Any, indices: Sequence[int]) -> list[Mapping[str, Any]]:
  """Examples ``indices`` of a random-access source (batched when it can)."""
  getitems = getattr(source, "__getitems__", None)
  if getitems is not None:
    return list(getitems(list(indices)))
  return [source[int(i)] for i in indices]


def collate_audio(
  examples: Sequence[Mapping[str, Any]],
  split: AudioSplit,
) -> dict[str, np.ndarray]:
  """Stacks examples into ``{"audio": [B, clip_samples] f32, "label": [B] i32}``."""
  audio = np.stack(
    [
      fix_length(np.asarray(ex["audio"], np.float32), size=split.clip_samples)
      for ex in examples
    ]
  )
  label = np.asarray([int(ex[split.label_key]) for ex in examples], np.int32)
  return {"audio": audio, "label": label}


def stack_examples(examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
  """Stacks every field of equally shaped examples along a new leading axis."""
  return {k: np.stack([np.asarray(ex[k]) for ex in examples]) for k in examples[0]}


Collate = Callable[[Sequence[Mapping[str, Any]]], dict[str, np.ndarray]]


def _collate_for(data: AudioSplit | RandomAccess, collate: Collate | None) -> Collate:
  if collate is not None:
    return collate
  if isinstance(data, AudioSplit):
    return functools.partial(collate_audio, split=data)
  return stack_examples


def load_in_memory(split: AudioSplit, chunk: int = 256) -> AudioSplit:
  """Reads a whole split into an ``ArraySource`` (fast random access afterwards)."""
  audio, label = [], []
  for start in range(0, len(split), chunk):
    batch = collate_audio(
      fetch(split.source, range(start, min(start + chunk, len(split)))), split
    )
    audio.append(batch["audio"])
    label.append(batch["label"])
  if not audio:
    raise DataError("cannot load an empty split into memory")
  arrays = {"audio": np.concatenate(audio), split.label_key: np.concatenate(label)}
  return dataclasses.replace(split, source=ArraySource(arrays))


def split_arrays(
  split: AudioSplit, fields: Sequence[str] | None = None, chunk: int = 256
) -> dict[str, np.ndarray]:
  """Fields of every example of ``split`` stacked (text fields as object arrays),
  the class label also under ``"label"``.

  Args:
    split: the split.
    fields: the fields to read (default: all; ragged ones like a clip's notes
      cannot be stacked, so name the others).
    chunk: examples per read.
  """
  rows = []
  for start in range(0, len(split), chunk):
    rows.extend(fetch(split.source, range(start, min(start + chunk, len(split)))))
  if not rows:
    raise DataError("cannot read an empty split")
  names = list(rows[0]) if fields is None else [*fields, split.label_key]
  out = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in dict.fromkeys(names)}
  out["label"] = out[split.label_key].astype(np.int32)
  out["audio"] = out["audio"].astype(np.float32)
  return out


class TrainIterator:
  """Endless shuffled batches; its state is the number of batches served.

  Epochs drop their last partial batch, so every batch has ``batch_size`` examples and
  each step of a run compiles to one shape.

  Args:
    data: the examples: an ``AudioSplit`` (batches of ``audio`` and ``label``) or any
      random-access source.
    batch_size: examples per batch (global, across all devices).
    seed: fixes the order of every epoch.
    shuffle: visit each epoch in a fresh permutation (else in index order).
    collate: examples -> batch; by default ``collate_audio`` for an ``AudioSplit``,
      else ``stack_examples``.
  """

  def __init__(
    self,
    data: AudioSplit | RandomAccess,
    batch_size: int,
    *,
    seed: int,
    shuffle: bool = True,
    collate: Collate | None = None,
  ):
    if batch_size <= 0:
      raise DataError(f"batch_size must be positive, got {batch_size}")
    if len(data) < batch_size:
      raise DataError(
        f"data has {len(data)} examples, fewer than one batch of {batch_size}"
      )
    self.data = data
    self._collate = _collate_for(data, collate)
    self._source = data.source if isinstance(data, AudioSplit) else data
    self.batch_size = batch_size
    self.seed = int(seed)
    self.shuffle = shuffle
    self.steps_per_epoch = len(data) // batch_size
    self.position = 0
    self._order_epoch = -1
    self._order: np.ndarray | None = None

  def _indices(self, position: int) -> np.ndarray:
    epoch, within = divmod(position, self.steps_per_epoch)
    if epoch != self._order_epoch:
      n = len(self.data)
      self._order = (
        epoch_permutation(self.seed, epoch, n) if self.shuffle else np.arange(n)
      )
      self._order_epoch = epoch
    start = within * self.batch_size
    return self._order[start : start + self.batch_size]

  def batch_at(self, position: int, rows: slice = slice(None)) -> dict[str, np.ndarray]:
    """The batch served at ``position`` (only ``rows`` of it), without moving."""
    return self._collate(fetch(self._source, self._indices(position)[rows]))

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return self.next_rows(slice(None))

  def next_rows(self, rows: slice) -> dict[str, np.ndarray]:
    """``rows`` of the next global batch (a process's share); moves one batch on."""
    batch = self.batch_at(self.position, rows)
    self.position += 1
    return batch

  def get_state(self) -> dict[str, int]:
    return {
      "position": self.position,
      "seed": self.seed,
      "num_examples": len(self.data),
      "batch_size": self.batch_size,
    }

  def set_state(self, state: Mapping[str, int]) -> None:
    """Seeks to a saved position; refuses a state saved for other data or order."""
    mine = self.get_state()
    for field in ("seed", "num_examples", "batch_size"):
      if int(state[field]) != mine[field]:
        raise DataError(
          f"cannot resume the data iterator: saved {field}={state[field]} but this "
          f"run has {field}={mine[field]} (did the data set or config change?)"
        )
    self.position = int(state["position"])


def eval_batches(
  data: AudioSplit | RandomAccess, batch_size: int, *, collate: Collate | None = None
) -> Iterator[dict[str, np.ndarray]]:
  """Every example once, in order; ``mask`` marks the real rows of the padded end."""
  n = len(data)
  collate_fn = _collate_for(data, collate)
  source = data.source if isinstance(data, AudioSplit) else data
  for start in range(0, n, batch_size):
    idx = np.arange(start, min(start + batch_size, n))
    batch = collate_fn(fetch(source, idx))
    real = len(idx)
    mask = np.zeros(batch_size, bool)
    mask[:real] = True
    if real < batch_size:
      batch = {
        k: np.concatenate([v, np.zeros((batch_size - real, *v.shape[1:]), v.dtype)])
        for k, v in batch.items()
      }
    batch["mask"] = mask
    yield batch


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D data-parallel mesh over the first ``num_devices`` devices (default: all)."""
  devices = jax.devices()
  n = len(devices) if num_devices is None else num_devices
  if not 1 <= n <= len(devices):
    raise ValueError(f"asked for {n} devices; {len(devices)} are available")
  return jax.make_mesh(
    (n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n]
  )


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Places each array on ``mesh``, split along its leading axis."""
  n = mesh.devices.size
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  out = {}
  for name, value in batch.items():
    if value.shape[0] % n:
      raise DataError(
        f"batch field {name!r} has {value.shape[0]} rows, not divisible by the "
        f"{n} devices of the mesh"
      )
    out[name] = jax.device_put(value, sharding)
  return out


@functools.lru_cache(maxsize=64)  # Asked once per training step.
def process_rows(mesh: Mesh, global_rows: int) -> slice:
  """The rows of a ``global_rows`` batch split over ``mesh`` that this process's
  devices hold (all of them in a single-process run).

  Raises:
    DataError: if the rows do not split over the mesh, or this process's devices
      hold rows that are not one contiguous block (a mesh whose devices are not
      grouped by process).
  """
  n = mesh.devices.size
  if global_rows % n:
    raise DataError(
      f"a batch of {global_rows} rows does not split over the {n} devices of the mesh"
    )
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  spans = sorted(
    {
      (s[0].start or 0, s[0].stop or global_rows)
      for s in sharding.addressable_devices_indices_map((global_rows,)).values()
    }
  )
  if any(a[1] != b[0] for a, b in zip(spans, spans[1:], strict=False)):
    raise DataError(f"this process's devices hold rows {spans}: not one block")
  return slice(spans[0][0], spans[-1][1])


def next_global_batch(data: TrainIterator, mesh: Mesh) -> dict[str, jax.Array]:
  """The next batch of ``data`` as global arrays split over ``mesh``.

  Each process reads and collates only its own rows of the global batch
  (``jax.make_array_from_process_local_data``), so the global batch, and the order
  of batches, are the same for any number of processes.
  """
  rows = process_rows(mesh, data.batch_size)
  local = data.next_rows(rows)
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  return {
    name: jax.make_array_from_process_local_data(
      sharding, value, (data.batch_size, *value.shape[1:])
    )
    for name, value in local.items()
  }


def put_global(tree: Any, sharding: NamedSharding) -> Any:
  """Places a pytree that every process holds alike on ``sharding`` (a global
  mesh): each process puts its copy's pieces on its own devices. Alone, a
  ``device_put``."""
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sharding)  # Global already: a reshard.
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      data = one(jax.random.key_data(x))
      return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda i: host[i])

  return jax.tree.map(one, tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree (params, optimizer state) whole on every device of ``mesh``.

  In a multi-process run every process holds the same values (the same seed made
  them) and places its copy on its own devices of the global mesh.
  """
  return put_global(tree, NamedSharding(mesh, PartitionSpec()))
