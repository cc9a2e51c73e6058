"""One program on many processes (multi-host JAX): joining, who writes, gathering.

A multi-host GPU or TPU slice runs the same launcher once per host. Each process
calls :func:`initialize` before anything touches a device; from then on
``jax.devices()`` lists every process's devices, the mesh of
:func:`audiojax.data.pipeline.make_mesh` spans them all and a jitted step is one
SPMD program whose collectives cross hosts. What stays per process is the host
side: each process reads only its rows of every global batch
(:func:`audiojax.data.pipeline.next_global_batch`), and only the primary process
(index 0) writes the run's records (``metrics.jsonl``, ``results.json``, figures).
Orbax checkpoints are written by all processes together, to a directory every
process sees.

On CPU the cross-process collectives are gloo's (TCP), so two processes on one
machine over loopback run the same code path a cluster does; the tests do that.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


class DistributedError(ValueError):
  """The multi-process options are incomplete or inconsistent."""


def initialize(
  coordinator: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  *,
  from_cluster: bool = False,
  timeout_seconds: int = 300,
) -> bool:
  """Joins this process to a multi-process JAX program, if asked to.

  Args:
    coordinator: ``HOST:PORT`` of process 0's coordination service.
    num_processes: how many processes the program has.
    process_id: this process's index, in ``[0, num_processes)``.
    from_cluster: let jax find all three in the environment (SLURM, Open MPI,
      Kubernetes, Cloud TPU, or ``JAX_COORDINATOR_ADDRESS`` and friends).
    timeout_seconds: how long to wait for every process to join.

  Returns:
    Whether the process joined a multi-process program (``False``: nothing was
    asked, the process runs alone as before).

  Raises:
    DistributedError: if only some of the three are given, or they disagree.
  """
  given = {
    "coordinator": coordinator,
    "num_processes": num_processes,
    "process_id": process_id,
  }
  if all(v is None for v in given.values()):
    if not from_cluster and not os.environ.get("JAX_COORDINATOR_ADDRESS"):
      return False
  else:
    missing = [k for k, v in given.items() if v is None]
    if missing:
      raise DistributedError(f"a multi-process run needs {missing} as well as the rest")
    if not re.fullmatch(r"[^\s:]+:\d{1,5}", coordinator):
      raise DistributedError(f"coordinator must be HOST:PORT, got {coordinator!r}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise DistributedError(
        f"process_id={process_id} is not in [0, num_processes={num_processes})"
      )
  # Only the CPU backend reads it; GPU (NCCL) and TPU (ICI) have their own.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
    coordinator, num_processes, process_id, initialization_timeout=timeout_seconds
  )
  return True


def define_flags() -> dict[str, Any]:
  """Declares a launcher's ``--coordinator --num_processes --process_id
  --multihost`` flags; pass the result to :func:`initialize_from_flags` in main."""
  from absl import flags

  return {
    "coordinator": flags.DEFINE_string(
      "coordinator", None, "HOST:PORT of process 0, for a multi-process run."
    ),
    "num_processes": flags.DEFINE_integer(
      "num_processes", None, "Processes in a multi-process run."
    ),
    "process_id": flags.DEFINE_integer(
      "process_id", None, "This process's index in a multi-process run."
    ),
    "from_cluster": flags.DEFINE_bool(
      "multihost",
      False,
      "Join a multi-process run described by the cluster's environment (SLURM, "
      "Open MPI, Kubernetes, Cloud TPU, JAX_COORDINATOR_ADDRESS...).",
    ),
  }


def initialize_from_flags(holders: dict[str, Any]) -> bool:
  """:func:`initialize` with the values of :func:`define_flags`' flags."""
  return initialize(**{name: holder.value for name, holder in holders.items()})


def is_primary() -> bool:
  """Whether this process writes the run's records (process 0; always, alone)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches ``name`` (nothing to wait for alone)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def from_primary(fn: Callable[[], Any]) -> Any:
  """``fn()`` as the primary process computes it, on every process (JSON values).

  For decisions read from shared files (is there a checkpoint to resume?) that the
  processes must agree on: each reading the directory itself could see another
  process's later writes and take another branch of the program.
  """
  if jax.process_count() == 1:
    return fn()
  from jax.experimental import multihost_utils

  raw = json.dumps(fn()).encode() if is_primary() else b""
  size = int(multihost_utils.broadcast_one_to_all(np.int64(len(raw))))
  buf = np.zeros(size, np.uint8)
  if is_primary():
    buf[:] = np.frombuffer(raw, np.uint8)
  return json.loads(bytes(multihost_utils.broadcast_one_to_all(buf)).decode())


def process_share(count: int) -> slice:
  """This process's contiguous share of ``count`` items split evenly over processes.

  Raises:
    DistributedError: if ``count`` does not split evenly.
  """
  n, i = jax.process_count(), jax.process_index()
  if count % n:
    raise DistributedError(f"{count} items do not split evenly over {n} processes")
  per = count // n
  return slice(i * per, (i + 1) * per)


def allgather(tree: Any) -> Any:
  """Every process's host arrays concatenated on their leading axis, in process
  order (each process's own ``tree`` alone)."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  from jax.experimental import multihost_utils

  return multihost_utils.process_allgather(tree, tiled=True)


def to_host(tree: Any) -> Any:
  """Host copies of arrays; those spread over processes are gathered first."""

  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
      from jax.experimental import multihost_utils

      return multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)

  return jax.tree.map(one, tree)
