"""Many models from one function: the seed axis sharded over the device mesh.

The forget score compares, per forget example, the distribution over many runs of
an unlearning method with the distribution over many retrained models (the NeurIPS
2023 challenge used 512 of each). :func:`over_seeds` runs ``fn(key, *args)`` for
every key as one jitted program: the keys are split over the mesh's devices with
``jax.shard_map`` (an accelerator pod runs its share of the seeds on each chip with
this same code), and each device runs its share as one ``jax.vmap`` (``inner="vmap"``)
or one after the other (``inner="map"``, a ``lax.map``). Both trace the run, so its
steps become a ``lax.scan``; on XLA's CPU backend convolutions inside a loop, and
vmapped convolutions over stacked weights, run several times slower than the same
convolutions one by one (:mod:`audiojax.unlearning.fit`;
``benchmarks/fold_models.py`` measured 8x for vmap). So on CPU the default is
``inner="loop"``: the seeds one after the other on the host, each run a host loop
over one jitted step. All three give the same numbers.

In a multi-process run (:mod:`audiojax.distributed`) the mesh spans every process,
so ``"map"`` and ``"vmap"`` split the seeds over all hosts' devices, and ``"loop"``
runs each process's share of the seeds on its own devices; either way every process
gets all the seeds' outputs back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from audiojax import distributed
from audiojax.data import pipeline
from audiojax.unlearning.fit import UnlearningError

INNER = ("loop", "map", "vmap")


def default_inner() -> str:
  return "loop" if jax.default_backend() == "cpu" else "vmap"


def over_seeds(
  fn: Callable[..., Any],
  keys: jax.Array,
  *,
  args: Sequence[Any] = (),
  mesh: Mesh | None = None,
  inner: str | None = None,
) -> Any:
  """``[fn(k, *args) for k in keys]`` stacked on a leading seed axis.

  Args:
    fn: ``(key, *args) -> pytree``, traceable (e.g. an unlearning run and the
      forget-set logits it gives).
    keys: ``[S]`` typed keys; ``S`` must divide evenly over the mesh.
    args: arrays every seed shares (data, the original params), replicated on each
      device rather than baked into the program as constants.
    mesh: a 1-D mesh (default: every device, ``audiojax.data.pipeline.make_mesh``).
    inner: ``"loop"``, ``"map"`` or ``"vmap"``: how the seeds run (default:
      :func:`default_inner`; ``"loop"`` ignores ``mesh`` and splits the seeds over
      processes).

  Returns:
    The pytree of ``fn``'s outputs with a leading ``[S]`` axis (sharded over the
    mesh for ``"map"``/``"vmap"`` in one process; host arrays of every seed when
    the run has several processes).
  """
  inner = inner or default_inner()
  if inner not in INNER:
    raise UnlearningError(f"inner must be one of {INNER}, got {inner!r}")
  multi = jax.process_count() > 1
  if inner == "loop":
    if multi:  # This process's seeds, on its own devices, then everyone's.
      keys = keys[distributed.process_share(keys.shape[0])]
      args = distributed.to_host(args)
    outs = [fn(k, *args) for k in keys]
    stacked = jax.tree.map(lambda *xs: jax.numpy.stack(xs), *outs)
    return distributed.allgather(stacked) if multi else stacked
  mesh = mesh or pipeline.make_mesh()
  (axis,) = mesh.axis_names
  count, devices = keys.shape[0], mesh.devices.size
  if count % devices:
    raise UnlearningError(f"{count} seeds do not split over {devices} devices")

  def local(local_keys, *shared):
    one = lambda k: fn(k, *shared)  # noqa: E731
    if inner == "vmap":
      return jax.vmap(one)(local_keys)
    return jax.lax.map(one, local_keys)

  sharded = jax.shard_map(
    local,
    mesh=mesh,
    in_specs=(PartitionSpec(axis), *[PartitionSpec()] * len(args)),
    out_specs=PartitionSpec(axis),
    check_vma=False,
  )
  keys = pipeline.put_global(keys, NamedSharding(mesh, PartitionSpec(axis)))
  if multi:  # Host copies, placed whole on the global mesh.
    args = pipeline.replicate(distributed.to_host(args), mesh)
  out = jax.jit(sharded)(keys, *args)
  return distributed.to_host(out) if multi else out
