"""Opt-out from the music generator: forget a collection or some pieces.

  python -m launch.run --config=experiments/music_unlearning.py:runlocal \
      --config.forget=collection:palestrina --workdir=runs/music_unlearning
  # reuse a trained generator (else one is trained in WORKDIR/original)
  python -m launch.run --config=experiments/music_unlearning.py:runlocal \
      --config.generator_workdir=runs/gen --config.forget=pieces:ID,ID \
      --workdir=runs/music_unlearning_pieces

Variants: ``runlocal`` (the runlocal generator; on 2 CPU cores about an hour when
it trains the original and the retrained generator, resumable model by model),
``quick`` (the tour: ESD toward the retain captions on an existing generator, no
retraining), ``tiny`` (seconds; tests).
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import classifier, music_generator

VARIANTS = ("runlocal", "quick", "tiny")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = "tiny" in variants

  c = ml_collections.ConfigDict()
  c.kind = "music_unlearning"
  c.name = "opt-out from the music generator"
  c.seed = 0
  c.forget = "collection:palestrina"  # or pieces:ID,ID,...
  # A finished music_generator run to start from; empty: train one in
  # WORKDIR/original from c.generator.
  c.generator_workdir = ""
  c.generator = music_generator.get_config("tiny" if tiny else "runlocal")
  c.generator.progress = False
  # Names a generated clip's collection: trained on real clips, in
  # WORKDIR/collection_probe.
  c.collection_probe = classifier.get_config("tiny" if tiny else "runlocal")
  c.collection_probe.total_steps = 4 if tiny else 400
  c.collection_probe.progress = False
  c.collection_probe_workdir = ""  # reuse another study's collection probe
  c.retrain = True  # the gold standard: the original recipe without the forget clips

  # Each entry: options of audiojax.unlearning.unlearn (``method`` names the
  # registry entry when the key is a variant). Adam at 1e-4 (the original trained
  # at a 2e-3 peak), batch 32 as in training, 150 steps (~4 epochs of a collection).
  common = dict(steps=150, batch_size=32, optimizer="adam", lr=1e-4)
  c.methods = ml_collections.ConfigDict(
    {
      "finetune": common,
      "neggrad": {**common, "steps": 30, "lr": 1e-5},
      "random_labels": common,
      "salun": {**common, "sparsity": 0.5},
      "esd": {**common, "lr": 1e-5, "eta": 1.0, "anchor": "null"},
      "esd_retain": {
        **common,
        "method": "esd",
        "eta": 1.0,
        "anchor": "retain",
        "retain_weight": 1.0,
      },
      # The same with fewer steps: at 150 it forgets more than retraining does.
      "esd_retain_60": {
        **common,
        "steps": 60,
        "method": "esd",
        "eta": 1.0,
        "anchor": "retain",
        "retain_weight": 1.0,
      },
    }
  )
  c.evals = ml_collections.ConfigDict(
    {
      "opt_out": dict(
        type="opt_out",
        clips=64,
        probe_batch_size=32,
        sampling=dict(steps=20, guidance=3.0, eta=0.0, batch_size=16),
        membership_draws=8,
        batch_size=32,
      )
    }
  )
  c.wavs = 3  # example WAVs per model
  # The bar: forgetting (collection accuracy and MIA AUC) within ``tolerance`` of
  # retrain while the retain Fréchet distance stays within ``quality`` of the
  # original's.
  c.tolerance = 0.05
  c.quality = 0.10

  if "quick" in variants:
    # The tour: a short collection probe and the runlocal study's best method at
    # its shorter dose, no retraining (the runlocal study has the retrain row).
    c.retrain = False
    c.collection_probe.total_steps = 150
    c.collection_probe.eval_every = c.collection_probe.checkpoint_every = 150
    c.methods = {"esd_retain_60": c.methods.esd_retain_60}
    c.evals.opt_out.clips = 32
    c.evals.opt_out.membership_draws = 4
  if tiny:
    c.collection_probe.eval_every = 0
    c.collection_probe.checkpoint_every = 0
    for entry in c.methods.values():
      entry.steps = 2
      entry.batch_size = 4
    c.evals.opt_out.clips = 4
    c.evals.opt_out.membership_draws = 2
    c.evals.opt_out.batch_size = 8
    c.evals.opt_out.sampling = dict(steps=2, guidance=3.0, eta=0.0, batch_size=4)
    c.wavs = 1
  return c
