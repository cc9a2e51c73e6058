"""How well a generator has forgotten an opt-out request, and what it kept.

  config.evals.opt_out = dict(type="opt_out", forget="collection:palestrina",
                              clips=80, family_probe="probe",
                              collection_probe="collection_probe", ...)

The forget set is the training clips the request covers
(:class:`audiojax.generate.data.OptOut`); the rest of the data is judged as in the
``generation`` evaluator (one generated clip per real clip, conditioned like it,
Griffin-Lim back to audio). Numbers:

* **forget fidelity**: ``forget_collection_accuracy`` — how often a classifier of
  collection trained on real clips (another run) names the forget clips' own
  collection for clips generated from their conditions (captions, family,
  collection); ``unlearning_accuracy`` is one minus it. ``forget_frechet``: the
  Fréchet distance of those generations to the real forget clips.
* **memorisation**: the denoising loss of each forget clip and of each held-out
  clip of the same collections (validation and test splits, never trained on),
  averaged over ``membership_draws`` fixed (time, noise) draws; ``membership_auc``
  is the AUC of a loss-threshold attack (lower loss = member; Matsumoto et al.,
  2023, "Membership inference attacks against diffusion models"). 0.5: the forget
  clips look unseen.
* **retain quality**: test clips outside the request (for a collection request,
  the other collections): ``retain_frechet``, the family probe's accuracy
  (``retain_family_accuracy``, the conditional-tag accuracy) and the collection
  probe's (``retain_collection_accuracy``).

Fréchet distances use the family probe's embeddings, as the generator's own table
does (no VGGish offline: they compare runs of this project only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from sklearn.metrics import roc_auc_score

from audiojax.evaluators.frechet import class_probe_accuracy, frechet_distance
from audiojax.evaluators.generation import render
from audiojax.generate import data as gen_data
from audiojax.generate import diffusion
from audiojax.train.runs import restore

_KEY_SALT = 1_000_033  # sampling: fold_in(key(seed), _KEY_SALT); losses: + 1


class OptOutEvaluator:
  """Forget fidelity, membership and retain quality after an opt-out request.

  Args:
    name: the evaluator's name.
    context: the run (``model`` a :class:`~audiojax.generate.generator.Generator`,
      ``dataset`` the data set it was trained on, all of it).
    forget: the opt-out request (``collection:NAME`` or ``pieces:ID,...``).
    clips: generated clips for each of the forget and retain sets (at most their
      sizes; a seeded choice).
    family_probe: a classifier run of instrument family (relative to the workdir).
    collection_probe: a classifier run of collection.
    probe_batch_size: probe batch size.
    sampling: ``steps``, ``guidance``, ``eta`` and ``batch_size`` of the sampler.
    membership_draws: (time, noise) draws each clip's loss is averaged over.
    batch_size: clips per denoising-loss batch.
  """

  def __init__(
    self,
    name: str,
    context: Any,
    *,
    forget: str,
    clips: int,
    family_probe: str,
    collection_probe: str,
    probe_batch_size: int,
    sampling: Mapping[str, Any],
    membership_draws: int = 8,
    batch_size: int = 32,
  ):
    self.name, self.seed = name, context.seed
    g = self.generator = context.model

    def load(split):
      return gen_data.load_split(
        context.dataset, split, g.spec, g.vocab, g.caption_length
      )[0]

    train = load("train")
    self.request = gen_data.OptOut.parse(forget)
    self.forget = train.subset(np.flatnonzero(self.request.check(train)))
    collections = self.request.collections(train)
    held = load("validation").concat(load("test"))
    same = np.isin(held.source.arrays["collection"], collections)
    self.heldout = held.subset(np.flatnonzero(same))
    test = load("test")
    keep = ~self.request.covers(test)
    if self.request.kind == "collection":
      keep &= ~np.isin(test.source.arrays["collection"], collections)
    self.retain = test.subset(np.flatnonzero(keep))
    if not len(self.heldout) or not len(self.retain):
      raise ValueError(
        f"opt-out {self.request}: {len(self.heldout)} held-out clips of its "
        f"collections and {len(self.retain)} retain test clips; need both"
      )
    self.clips, self.draws, self.batch_size = clips, membership_draws, batch_size
    self.probe_dirs = {
      "family": os.path.join(context.workdir, family_probe),
      "collection": os.path.join(context.workdir, collection_probe),
    }
    self.probe_batch_size = probe_batch_size
    self.sampling = dict(sampling)
    self._sampler = g.sampler(self.sampling)
    self._probes: dict[str, Any] = {}
    objective = diffusion.OBJECTIVES.get(g.objective)()
    apply = g.unet.apply

    def losses(params, batch, key):
      cond = {k: batch[k] for k in ("family", "collection", "tokens")}
      fn = lambda x, t: apply(params, x, t, cond)  # noqa: E731
      return diffusion.loss(objective, fn, batch["image"], key)

    self._losses = jax.jit(losses)
    self.last: dict[str, np.ndarray] = {}

  def _probe(self, which: str):
    if which not in self._probes:
      run = restore(self.probe_dirs[which])
      self._probes[which] = (
        jax.jit(lambda y: run.model.apply(run.params, y)),
        jax.jit(lambda y: run.model.apply(run.params, y, method="embed")),
      )
    return self._probes[which]

  def _apply(self, fn, audio: np.ndarray) -> np.ndarray:
    bs = self.probe_batch_size
    return np.concatenate(
      [np.asarray(fn(audio[i : i + bs])) for i in range(0, len(audio), bs)]
    )

  def clip_losses(self, params, split: gen_data.ImageSplit) -> np.ndarray:
    """``[N]`` denoising loss of each clip, the mean over the fixed draws."""
    key = jax.random.fold_in(jax.random.key(self.seed), _KEY_SALT + 1)
    arrays, bs, out = split.source.arrays, self.batch_size, []
    for start in range(0, len(split), bs):
      idx = np.arange(start, min(start + bs, len(split)))
      pad = np.concatenate([idx, np.zeros(bs - len(idx), np.int64)])
      batch = {k: v[pad] for k, v in arrays.items()}
      per = [
        np.asarray(
          self._losses(params, batch, jax.random.fold_in(key, d * 100_003 + start))
        )
        for d in range(self.draws)
      ]
      out.append(np.mean(per, axis=0)[: len(idx)])
    return np.concatenate(out)

  def _generate(self, params, split: gen_data.ImageSplit, salt: int):
    rng = np.random.default_rng(self.seed + salt)
    n = min(self.clips, len(split))
    idx = np.sort(rng.choice(len(split), n, replace=False))
    cond = gen_data.conditions(split, idx)
    key = jax.random.fold_in(jax.random.key(self.seed), _KEY_SALT + 2 + salt)
    images, audio, _, _ = render(
      self.generator, self.sampling, params, cond, key, sampler=self._sampler
    )
    return idx, cond, images, audio

  def run(self, params: Any) -> dict[str, Any]:
    family_logits, family_embed = self._probe("family")
    collection_logits, _ = self._probe("collection")
    f_idx, f_cond, f_images, f_audio = self._generate(params, self.forget, 0)
    r_idx, r_cond, _, r_audio = self._generate(params, self.retain, 1)
    f_real, r_real = self.forget.audio[f_idx], self.retain.audio[r_idx]
    f_collection = f_cond["collection"] - 1
    forget_acc = class_probe_accuracy(
      self._apply(collection_logits, f_audio), f_collection
    )
    member = self.clip_losses(params, self.forget)
    nonmember = self.clip_losses(params, self.heldout)
    labels = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    self.last = dict(
      forget_images=f_images,
      forget_real_images=self.forget.source.arrays["image"][f_idx],
      forget_audio=f_audio,
      retain_audio=r_audio,
    )
    return {
      "forget_clips": len(self.forget),
      "heldout_clips": len(self.heldout),
      "eval_clips": len(f_idx),
      "forget_collection_accuracy": forget_acc,
      "unlearning_accuracy": 1.0 - forget_acc,
      "forget_collection_accuracy_real": class_probe_accuracy(
        self._apply(collection_logits, f_real), f_collection
      ),
      "forget_frechet": frechet_distance(
        self._apply(family_embed, f_real), self._apply(family_embed, f_audio)
      ),
      "forget_loss": float(member.mean()),
      "heldout_loss": float(nonmember.mean()),
      "membership_auc": float(roc_auc_score(labels, -np.r_[member, nonmember])),
      "retain_frechet": frechet_distance(
        self._apply(family_embed, r_real), self._apply(family_embed, r_audio)
      ),
      "retain_family_accuracy": class_probe_accuracy(
        self._apply(family_logits, r_audio), r_cond["family"] - 1
      ),
      "retain_collection_accuracy": class_probe_accuracy(
        self._apply(collection_logits, r_audio), r_cond["collection"] - 1
      ),
    }
