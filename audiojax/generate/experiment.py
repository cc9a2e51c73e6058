"""The ``music_generator`` experiment: train the spectrogram generator, measure it.

1. A probe classifier (the ``classifier`` experiment on instrument family, real clips)
   is trained as its own resumable sub-run in ``WORKDIR/probe``.
2. The music set becomes mel images with conditions (``generate.data``).
3. The conditional U-Net is trained by the shared loop (flow matching or DDPM, with
   condition dropout for guidance and an EMA of the params in the optimizer state).
4. The EMA params generate one clip per real test clip, conditioned like it; clips go
   to audio by Griffin-Lim and are scored by ``generate.metrics``. Real test clips sent
   through the same image -> Griffin-Lim route give the ceiling each metric can reach.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from audiojax import audio as audio_lib
from audiojax.data import pipeline
from audiojax.generate import data as gen_data
from audiojax.generate import diffusion, figures, melimage, metrics, sampling
from audiojax.generate.captions import Vocabulary
from audiojax.generate.unet import GENERATORS, UNet, drop_condition, null_condition
from audiojax.train import classification, loop, report
from audiojax.train.ema import ema_params, track_ema


def build_generator(
  config: ml_collections.ConfigDict,
  num_families: int,
  num_collections: int,
  vocab_size: int,
) -> UNet:
  return GENERATORS.get(config.generator.name)(
    num_families=num_families + 1,
    num_collections=num_collections + 1,
    vocab_size=vocab_size,
    **config.generator.get("kwargs", {}),
  )


def make_loss_fn(
  objective: diffusion.Objective,
  apply_fn,
  cond_dropout: float,
  t_schedule: str = "uniform",
):
  """Objective loss with the condition dropped per example (for guidance).

  The loss is the mean over the batch, or, when the batch has a ``"weight"`` field
  (reward-weighted regression, ``audiojax.evolve.session``), the weighted mean.
  """

  def loss_fn(params, batch, key):
    drop_key, loss_key = jax.random.split(key)
    cond = drop_condition(
      {k: batch[k] for k in ("family", "collection", "tokens")}, drop_key, cond_dropout
    )
    model_fn = lambda x, t: apply_fn(params, x, t, cond)
    losses = diffusion.loss(
      objective, model_fn, batch["image"], loss_key, t_schedule=t_schedule
    )
    if "weight" not in batch:
      return losses.mean(), {}
    w = batch["weight"].astype(losses.dtype)
    return jnp.sum(w * losses) / jnp.maximum(jnp.sum(w), 1e-12), {}

  return loss_fn


def make_sampler(
  config: ml_collections.ConfigDict,
  model: UNet,
  spec: melimage.MelImageSpec,
  sampling_config: ml_collections.ConfigDict | None = None,
) -> sampling.Sampler:
  s = sampling_config or config.sampling
  return sampling.Sampler(
    diffusion.OBJECTIVES.get(config.objective)(),
    lambda p, x, t, c, a: model.apply(p, x, t, c, adapter=a),
    spec.image_shape,
    steps=s.steps,
    guidance=s.guidance,
    eta=s.get("eta", 0.0),
    clip_x0=1.0,
  )


def _probe(config: ml_collections.ConfigDict, workdir: str):
  probe_cfg = ml_collections.ConfigDict(config.probe.to_dict())
  probe_cfg.dataset = config.dataset
  probe_cfg.seed = config.seed
  probe_dir = os.path.join(workdir, "probe")
  model, params, results = classification.train(probe_cfg, probe_dir)
  report.write_results(probe_dir, results, title="probe classifier (real clips)")
  logits = jax.jit(lambda y: model.apply(params, y))
  embed = jax.jit(lambda y: model.apply(params, y, method="embed"))
  return logits, embed, results


def _batched(fn, x: np.ndarray, size: int) -> np.ndarray:
  return np.concatenate(
    [np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)]
  )


def _render(sampler, params, cond, key, spec, batch_size) -> tuple[np.ndarray, ...]:
  """Images and audio for ``cond``; returns (images, audio, sample s, griffin-lim s)."""
  n = len(cond["family"])
  to_audio = jax.jit(lambda img, k: melimage.image_to_audio(img, spec, k))
  first = {k: v[:batch_size] for k, v in cond.items()}
  jax.block_until_ready(sampler(params, first, key))  # Compile outside the clock.
  jax.block_until_ready(
    to_audio(jnp.zeros((min(n, batch_size), *spec.image_shape)), key)
  )
  images, clips, t_sample, t_audio = [], [], 0.0, 0.0
  for start in range(0, n, batch_size):
    part = {k: v[start : start + batch_size] for k, v in cond.items()}
    t0 = time.perf_counter()
    img = jax.block_until_ready(sampler(params, part, jax.random.fold_in(key, start)))
    t1 = time.perf_counter()
    if len(img) < batch_size:  # Keep Griffin-Lim at its compiled batch size.
      pad = jnp.zeros((batch_size - len(img), *img.shape[1:]), img.dtype)
      y = to_audio(jnp.concatenate([img, pad]), key)[: len(img)]
    else:
      y = to_audio(img, key)
    y = jax.block_until_ready(y)
    t_sample += t1 - t0
    t_audio += time.perf_counter() - t1
    images.append(np.asarray(img))
    clips.append(np.asarray(y))
  return np.concatenate(images), np.concatenate(clips), t_sample / n, t_audio / n


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A trained generator and what it was trained on.

  Attributes:
    model: the U-Net.
    params: its EMA params (the ones to sample with).
    spec: the mel image layout of its training data.
    vocab: the caption vocabulary of its training split.
    train: the training split as images with conditions.
    steps: optimizer steps taken.
    train_seconds: training time of this invocation (0 when resumed finished).
  """

  model: UNet
  params: Any
  spec: melimage.MelImageSpec
  vocab: Vocabulary
  train: gen_data.ImageSplit
  steps: int
  train_seconds: float


def train_generator(
  config: ml_collections.ConfigDict, workdir: str
) -> TrainedGenerator:
  """Trains the generator of ``config`` in ``workdir``, or resumes it there.

  A workdir whose run has finished is only restored, so this also loads a trained
  generator (the human-in-the-loop GA starts from one).
  """
  spec = melimage.MelImageSpec(**config.mel.to_dict())
  length = config.caption_length
  train, vocab = gen_data.load_split(config, "train", spec, None, length)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "vocab.json"), "w") as f:
    f.write(vocab.to_json())

  model = build_generator(
    config, len(train.family_names), len(train.collection_names), vocab.size
  )
  objective = diffusion.OBJECTIVES.get(config.objective)()
  example = jnp.zeros((1, *spec.image_shape))
  tx_opt, schedule = classification.make_optimizer(config)
  tx = optax.chain(tx_opt, track_ema(config.ema_decay))
  task = loop.Task(
    init_params=lambda k: model.init(
      k, example, jnp.zeros((1,)), null_condition(1, length)
    ),
    loss_fn=make_loss_fn(
      objective, model.apply, config.cond_dropout, config.get("t_schedule", "uniform")
    ),
    train_data=pipeline.TrainIterator(
      train.source, config.batch_size, seed=config.seed
    ),
  )
  start = time.perf_counter()
  state, _ = loop.train(
    task, tx, classification.loop_config(config), workdir, schedule=schedule
  )
  return TrainedGenerator(
    model=model,
    params=ema_params(state.opt_state),
    spec=spec,
    vocab=vocab,
    train=train,
    steps=int(state.step),
    train_seconds=time.perf_counter() - start,
  )


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates the generator; returns the numbers of ``results.json``."""
  probe_logits, probe_embed, probe_results = _probe(config, workdir)
  trained = train_generator(config, workdir)
  model, params, spec, train = (
    trained.model,
    trained.params,
    trained.spec,
    trained.train,
  )
  test, _ = gen_data.load_split(
    config, config.eval_split, spec, trained.vocab, config.caption_length
  )

  rng = np.random.default_rng(config.seed)
  n = min(config.eval_clips, len(test))
  idx = np.sort(rng.choice(len(test), n, replace=False))
  cond = gen_data.conditions(test, idx)
  key = jax.random.fold_in(jax.random.key(config.seed), 1_000_003)
  sampler = make_sampler(config, model, spec)
  gen_images, gen_audio, s_sample, s_audio = _render(
    sampler, params, cond, key, spec, config.sampling.batch_size
  )

  real_images = test.source.arrays["image"][idx]
  real_audio = test.audio[idx]
  to_audio = jax.jit(lambda img: melimage.image_to_audio(img, spec, key))
  resynth = _batched(to_audio, real_images, config.sampling.batch_size)
  family = cond["family"] - 1
  probe_bs = config.probe.eval_batch_size
  emb_real = _batched(probe_embed, real_audio, probe_bs)
  sr = spec.sample_rate

  results: dict[str, Any] = {
    "objective": config.objective,
    "generator": config.generator.name,
    "num_params": sum(x.size for x in jax.tree.leaves(params)),
    "train_steps": trained.steps,
    "train_examples": len(train),
    "train_seconds_this_invocation": round(trained.train_seconds, 1),
    "sampling_steps": config.sampling.steps,
    "guidance": config.sampling.guidance,
    "eval_clips": n,
    "class_probe_accuracy": metrics.class_probe_accuracy(
      _batched(probe_logits, gen_audio, probe_bs), family
    ),
    "class_probe_accuracy_real": metrics.class_probe_accuracy(
      _batched(probe_logits, real_audio, probe_bs), family
    ),
    "class_probe_accuracy_real_griffinlim": metrics.class_probe_accuracy(
      _batched(probe_logits, resynth, probe_bs), family
    ),
    "frechet_distance": metrics.frechet_distance(
      emb_real, _batched(probe_embed, gen_audio, probe_bs)
    ),
    "frechet_distance_real_griffinlim": metrics.frechet_distance(
      emb_real, _batched(probe_embed, resynth, probe_bs)
    ),
    "onset_ratio": metrics.onset_ratio(gen_audio, real_audio, sr),
    "onset_ratio_real_griffinlim": metrics.onset_ratio(resynth, real_audio, sr),
    "continuity_ratio": metrics.continuity_ratio(gen_images, real_images),
    "sampling_seconds_per_clip": s_sample,
    "griffinlim_seconds_per_clip": s_audio,
    "seconds_per_clip": s_sample + s_audio,
    "clip_seconds": spec.samples / sr,
    "probe_test_accuracy": probe_results["test_accuracy"],
  }
  figures.real_vs_generated_png(
    os.path.join(workdir, "spectrograms.png"),
    real_images,
    gen_images,
    family,
    train.family_names,
  )
  _write_wavs(
    os.path.join(workdir, "samples"),
    gen_audio,
    family,
    train.family_names,
    sr,
    config.wavs_per_condition,
  )
  logging.info(
    "generator metrics: %s", {k: v for k, v in results.items() if isinstance(v, float)}
  )
  return results


def _write_wavs(
  directory: str,
  clips: np.ndarray,
  family: np.ndarray,
  names: tuple[str, ...],
  sr: int,
  per_condition: int,
) -> None:
  os.makedirs(directory, exist_ok=True)
  for f, name in enumerate(names):
    for j, i in enumerate(np.flatnonzero(family == f)[:per_condition]):
      audio_lib.save(os.path.join(directory, f"{name}_{j}.wav"), clips[i], sr)
