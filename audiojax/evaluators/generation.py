"""How good a conditional music generator is, on the conditions of a held-out split.

For ``clips`` clips of the split (a seeded choice), the generator samples one clip
conditioned like each real clip (family, collection, caption); Griffin-Lim turns the
images into audio. A probe classifier trained on real clips (another run, restored
with :func:`audiojax.train.restore`) then names each generated clip's family and
embeds it; the numbers are

* ``class_probe_accuracy`` (and on the real clips, and on real clips sent through the
  same image -> Griffin-Lim route: the ceiling the representation allows),
* ``frechet_distance`` of probe embeddings, generated vs real (and real -> GL vs real),
* ``onset_ratio`` and ``continuity_ratio`` (:mod:`audiojax.generate.metrics`),
* seconds per clip of sampling and of Griffin-Lim (compiled outside the clock).

The generated images and audio of the last run are kept in ``last`` for figures.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.evaluators.frechet import class_probe_accuracy, frechet_distance
from audiojax.generate import data as gen_data
from audiojax.generate import melimage
from audiojax.generate import metrics as gen_metrics
from audiojax.train.runs import restore

_KEY_SALT = 1_000_003  # The sampling key: fold_in(key(seed), _KEY_SALT).


def _batched(fn, x: np.ndarray, size: int) -> np.ndarray:
  return np.concatenate(
    [np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)]
  )


@functools.lru_cache(maxsize=8)
def _to_audio(spec):
  return jax.jit(lambda img, k: melimage.image_to_audio(img, spec, k))


def render(
  generator: Any,
  sampling: Mapping[str, Any],
  params: Any,
  cond,
  key: jax.Array,
  *,
  sampler: Any = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
  """Images and audio for ``cond`` (shifted ids), in batches of
  ``sampling["batch_size"]``; seconds per clip of sampling and of Griffin-Lim
  (both compiled outside the clock). Pass ``sampler`` (``generator.sampler(
  sampling)``) to reuse its compiled code across calls."""
  spec, bs = generator.spec, sampling["batch_size"]
  sampler = sampler or generator.sampler(sampling)
  to_audio = _to_audio(spec)
  n = len(cond["family"])
  first = {k: v[:bs] for k, v in cond.items()}
  jax.block_until_ready(sampler(params, first, key))  # Compile outside the clock.
  jax.block_until_ready(to_audio(jnp.zeros((min(n, bs), *spec.image_shape)), key))
  images, clips, t_sample, t_audio = [], [], 0.0, 0.0
  for start in range(0, n, bs):
    part = {k: v[start : start + bs] for k, v in cond.items()}
    t0 = time.perf_counter()
    img = jax.block_until_ready(sampler(params, part, jax.random.fold_in(key, start)))
    t1 = time.perf_counter()
    if len(img) < bs:  # Keep Griffin-Lim at its compiled batch size.
      pad = jnp.zeros((bs - len(img), *img.shape[1:]), img.dtype)
      y = to_audio(jnp.concatenate([img, pad]), key)[: len(img)]
    else:
      y = to_audio(img, key)
    y = jax.block_until_ready(y)
    t_sample += t1 - t0
    t_audio += time.perf_counter() - t1
    images.append(np.asarray(img))
    clips.append(np.asarray(y))
  return np.concatenate(images), np.concatenate(clips), t_sample / n, t_audio / n


class GenerationEvaluator:
  """Probe accuracy, Fréchet distance, onsets and continuity of generated clips.

  Args:
    name: the evaluator's name.
    context: the run (``model`` a :class:`~audiojax.generate.generator.Generator`).
    split: the held-out split whose conditions (and real clips) are used.
    clips: how many (at most the split's size).
    probe: the probe classifier's run directory (relative to the run's workdir).
    probe_batch_size: probe batch size.
    sampling: ``steps``, ``guidance``, ``eta`` and ``batch_size`` of the sampler.
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    split: str,
    clips: int,
    probe: str,
    probe_batch_size: int,
    sampling: Mapping[str, Any],
  ):
    self.name = name
    self.generator = context.model
    self.seed = context.seed
    self.split, _ = gen_data.load_split(
      context.dataset,
      split,
      self.generator.spec,
      self.generator.vocab,
      self.generator.caption_length,
    )
    self.clips = clips
    self.probe_dir = os.path.join(context.workdir, probe)
    self.probe_batch_size = probe_batch_size
    self.sampling = dict(sampling)
    self.last: dict[str, np.ndarray] = {}

  def _probe(self):
    run = restore(self.probe_dir)
    logits = jax.jit(lambda y: run.model.apply(run.params, y))
    embed = jax.jit(lambda y: run.model.apply(run.params, y, method="embed"))
    return logits, embed

  def _render(self, params, cond, key) -> tuple[np.ndarray, np.ndarray, float, float]:
    return render(self.generator, self.sampling, params, cond, key)

  def run(self, params: Any) -> dict[str, Any]:
    spec, test = self.generator.spec, self.split
    rng = np.random.default_rng(self.seed)
    n = min(self.clips, len(test))
    idx = np.sort(rng.choice(len(test), n, replace=False))
    cond = gen_data.conditions(test, idx)
    key = jax.random.fold_in(jax.random.key(self.seed), _KEY_SALT)
    gen_images, gen_audio, s_sample, s_audio = self._render(params, cond, key)

    real_images = test.source.arrays["image"][idx]
    real_audio = test.audio[idx]
    to_audio = jax.jit(lambda img: melimage.image_to_audio(img, spec, key))
    resynth = _batched(to_audio, real_images, self.sampling["batch_size"])
    family = cond["family"] - 1
    logits, embed = self._probe()
    bs, sr = self.probe_batch_size, spec.sample_rate
    emb_real = _batched(embed, real_audio, bs)
    self.last = dict(
      real_images=real_images, images=gen_images, audio=gen_audio, family=family
    )
    return {
      "eval_clips": n,
      "class_probe_accuracy": class_probe_accuracy(
        _batched(logits, gen_audio, bs), family
      ),
      "class_probe_accuracy_real": class_probe_accuracy(
        _batched(logits, real_audio, bs), family
      ),
      "class_probe_accuracy_real_griffinlim": class_probe_accuracy(
        _batched(logits, resynth, bs), family
      ),
      "frechet_distance": frechet_distance(emb_real, _batched(embed, gen_audio, bs)),
      "frechet_distance_real_griffinlim": frechet_distance(
        emb_real, _batched(embed, resynth, bs)
      ),
      "onset_ratio": gen_metrics.onset_ratio(gen_audio, real_audio, sr),
      "onset_ratio_real_griffinlim": gen_metrics.onset_ratio(resynth, real_audio, sr),
      "continuity_ratio": gen_metrics.continuity_ratio(gen_images, real_images),
      "sampling_seconds_per_clip": s_sample,
      "griffinlim_seconds_per_clip": s_audio,
      "seconds_per_clip": s_sample + s_audio,
      "clip_seconds": spec.samples / sr,
    }
