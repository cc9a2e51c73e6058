"""Rendering a population: each genome's adapter on the base generator, in batches.

A genome row becomes the U-Net's FiLM adapter (:class:`~audiojax.evolve.genome.Genome`);
the sampler draws its mel image from its own noise key and a session condition, and
Griffin-Lim (``generate.melimage.image_to_audio``) turns the image into audio. All
rows of a batch go through one ``jax.vmap`` of the sampler with per-image adapters.
Batches follow :func:`batch_plan`, so a new generation's first clips can be published
while the rest renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.evolve.genome import Genome
from audiojax.generate import melimage, sampling


def batch_plan(
  n: int, batch_size: int, first: int | None = None
) -> list[tuple[int, int]]:
  """``(start, size)`` of the sampling batches that render ``n`` clips.

  A first batch of ``first`` clips (default ``batch_size``) is published before the
  rest renders, so raters of a new generation wait for ``first`` clips, not for a
  whole batch; then batches of ``batch_size``. A remainder goes in ``first``-sized
  batches when they pad fewer rows than one more ``batch_size`` batch. On this CPU
  a clip costs the same at batch 1 to 8, so a small first batch is free there.
  """
  if batch_size < 1 or (first is not None and first < 1):
    raise ValueError(f"batch sizes must be positive, got {batch_size}, {first}")
  first = min(first or batch_size, batch_size)
  plan, start = [(0, first)], first
  while start < n:
    rest = n - start
    small = -(-rest // first) * first
    size = batch_size if rest >= batch_size or small >= batch_size else first
    plan.append((start, size))
    start += size
  return plan


class Renderer:
  """Images and audio of genomes under fixed conditions.

  Args:
    sampler: the generator's sampler (``sample_with_keys`` with adapters).
    genome: genome rows <-> adapters.
    spec: the mel images' layout (frames may exceed the generator's own).
    conditions: ``[k]`` per-slot condition arrays; image ``i`` takes slot ``i % k``.
    sampling: config with ``batch_size`` and ``first_batch_size``, read at
      every call.
    audio_key: the Griffin-Lim phase key, the same for every clip.
  """

  def __init__(
    self,
    sampler: sampling.Sampler,
    genome: Genome,
    spec: melimage.MelImageSpec,
    conditions: dict[str, np.ndarray],
    sampling_config: ml_collections.ConfigDict,
    audio_key: jax.Array,
  ):
    self.sampler = sampler
    self.genome = genome
    self.spec = spec
    self.conditions = conditions
    self.sampling_config = sampling_config
    self.audio_key = audio_key
    self._to_audio = jax.jit(lambda img, k: melimage.image_to_audio(img, spec, k))

  def __call__(
    self,
    params: Any,
    genomes: jax.Array,
    keys: jax.Array,
    on_batch: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
  ) -> tuple[np.ndarray, np.ndarray]:
    """Images and audio of ``genomes[i]`` with ``keys[i]`` on base ``params``.

    Batches follow :func:`batch_plan` (at most two compiled shapes), padded with the
    last row; ``on_batch(start, images, audio)`` sees each batch as soon as it is
    ready.
    """
    n = genomes.shape[0]
    if n == 0:
      return np.zeros((0, *self.spec.image_shape), np.float32), np.zeros(
        (0, self.spec.samples), np.float32
      )
    k = len(next(iter(self.conditions.values())))
    sc = self.sampling_config
    slot = np.arange(n) % k
    cond = {name: v[slot] for name, v in self.conditions.items()}
    images, waves = [], []
    for start, bs in batch_plan(n, sc.batch_size, sc.first_batch_size):
      stop = min(start + bs, n)
      rows = np.minimum(np.arange(start, start + bs), n - 1)  # Pad with the last.
      take = lambda a, rows=rows: jnp.asarray(a)[rows]
      img = self.sampler.sample_with_keys(
        params,
        {name: take(v) for name, v in cond.items()},
        take(keys),
        self.genome.to_adapters(take(genomes)),
        adapter_per_image=True,
      )
      y = self._to_audio(img, self.audio_key)
      img, y = np.asarray(img)[: stop - start], np.asarray(y)[: stop - start]
      images.append(img)
      waves.append(y)
      if on_batch is not None:
        on_batch(start, img, y)
    return np.concatenate(images), np.concatenate(waves)
