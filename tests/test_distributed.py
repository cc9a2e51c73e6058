"""The single-process side of audiojax.distributed: a bad multi-process request is
refused before jax.distributed is touched, and alone everything is the identity."""

import jax
import numpy as np
import pytest

from audiojax import distributed
from audiojax.data import pipeline
from audiojax.data.source import DataError


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(coordinator="127.0.0.1:1234"), "needs"),
    (dict(coordinator="127.0.0.1:1234", num_processes=2), r"\['process_id'\]"),
    (dict(coordinator="localhost", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(coordinator="h:1", num_processes=2, process_id=2), "not in"),
    (dict(coordinator="h:1", num_processes=0, process_id=0), "not in"),
  ],
)
def test_incomplete_or_inconsistent_requests_are_refused(kwargs, match):
  with pytest.raises(distributed.DistributedError, match=match):
    distributed.initialize(**kwargs)


def test_nothing_asked_is_a_single_process_run(monkeypatch):
  monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
  assert distributed.initialize() is False
  assert distributed.is_primary() and jax.process_count() == 1


def test_alone_the_helpers_are_the_identity():
  assert distributed.from_primary(lambda: {"a": [1, 2]}) == {"a": [1, 2]}
  assert distributed.process_share(6) == slice(0, 6)
  tree = {"x": jax.numpy.arange(3.0)}
  np.testing.assert_array_equal(distributed.allgather(tree)["x"], [0.0, 1.0, 2.0])
  np.testing.assert_array_equal(distributed.to_host(tree)["x"], [0.0, 1.0, 2.0])
  distributed.barrier("alone")  # Returns at once.


def test_one_process_reads_every_row_of_a_global_batch():
  mesh = pipeline.make_mesh()
  n = mesh.devices.size
  assert pipeline.process_rows(mesh, 4 * n) == slice(0, 4 * n)
  if n > 1:
    with pytest.raises(DataError, match="does not split"):
      pipeline.process_rows(mesh, 4 * n + 1)
  source = {"audio": np.arange(8 * n * 3, dtype=np.float32).reshape(8 * n, 3)}
  source["label"] = np.arange(8 * n, dtype=np.int32)
  from audiojax.data.source import ArraySource

  it = pipeline.TrainIterator(ArraySource(source), 2 * n, seed=1)
  again = pipeline.TrainIterator(ArraySource(source), 2 * n, seed=1)
  batch = pipeline.next_global_batch(it, mesh)
  expected = next(again)
  for k in expected:
    np.testing.assert_array_equal(np.asarray(batch[k]), expected[k])
  assert it.position == again.position == 1
