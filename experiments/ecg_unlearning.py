"""Personalized-ECG unlearning (after Chatterjee et al., 2024): pretrain a 1-D ResNet
on a population of patients, fine-tune it per held-out patient, measure how exposed
the patient's beats are (membership inference, FGSM/PGD success), then make the
model forget them with every unlearning method and compare with retraining.

  python -m launch.run --config=experiments/ecg_unlearning.py:runlocal \
      --workdir=runs/ecg_unlearning
  # real data: an MIT-BIH-style folder in <data_dir>/downloads/manual/mitbih/
  python -m launch.run --config=experiments/ecg_unlearning.py:runlocal \
      --config.pretrain.dataset.config=mitbih --workdir=runs/ecg_mitbih

Variants: ``runlocal`` (24 + 4 synthetic patients, 2 of them studied, 4 runs per
method: ~15 minutes on 2 CPU cores), ``quick`` (the quickstart's section: one
patient, five methods, 3 runs each, a shorter pretraining), ``tiny`` (seconds;
tests).
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import classifier

VARIANTS = ("runlocal", "quick", "tiny")

# Every method of audiojax.unlearning.METHODS but retrain (which uses the
# pretraining recipe), with the options of this study. The population model was
# trained with AdamW, and the papers' SGD at lr 0.01 cost the fine-tuning family
# 5 points of test accuracy in a first run, so they take Adam at 3e-4 here, with
# step counts sized to ~10 % of retraining's time; SCRUB keeps its own Adam 5e-4.
_ADAM = dict(optimizer="adam", lr=3e-4, steps=80)
METHODS = {
  "finetune": dict(_ADAM),
  "neggrad": dict(optimizer="adam", lr=1e-4, steps=10),
  "neggrad_plus": dict(_ADAM, beta=0.95),
  "random_labels": dict(_ADAM),
  "l1_sparse": dict(_ADAM, gamma=5e-4),
  "salun": dict(_ADAM, sparsity=0.5),
  "scrub": dict(epochs=3, max_epochs=2, retain_steps=10),
  "scrub_r": dict(epochs=3, max_epochs=2, retain_steps=10),
  "ssd": dict(alpha=10.0, lam=1.0),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny, quick = "tiny" in variants, "quick" in variants

  c = ml_collections.ConfigDict()
  c.kind = "ecg_unlearning"
  c.name = "personalized ECG: exposure and unlearning of a patient's beats"
  c.seed = 0

  # The population model: a classifier run over the ECG set (restorable).
  c.pretrain = classifier.get_config("tiny" if tiny else None)
  c.pretrain.name = "ECG population model"
  c.pretrain.dataset.name = "audiojax_ecg"
  c.pretrain.dataset.config = "tiny" if tiny else "small"
  c.pretrain.dataset.label = "label"
  c.pretrain.frontend.name = "fft"
  c.pretrain.model.name = "resnet1d_18_tiny" if tiny else "resnet1d_18"
  c.pretrain.model.kwargs = {} if tiny else dict(widths=(16, 32, 64, 128))
  c.pretrain.progress = False
  if not tiny:
    c.pretrain.batch_size = 64
    c.pretrain.total_steps = 1200
    c.pretrain.optimizer.warmup_steps = 50
    c.pretrain.eval_every = 400
    c.pretrain.checkpoint_every = 400

  c.patients = 2  # the first personal patients studied, one study each
  # Fine-tuning on the patient's first half (their "points"): Adam, small steps.
  c.personalize = ml_collections.ConfigDict(
    dict(steps=150, batch_size=32, learning_rate=1e-3)
  )
  c.attack = ml_collections.ConfigDict(dict(eps=(0.001, 0.002, 0.005), pgd_steps=10))
  c.seeds = 4  # runs per method (and retrained models) for the forget score
  c.methods = ml_collections.ConfigDict(METHODS)
  c.eval_batch_size = 256

  if quick:  # the quickstart's section: under 3 minutes
    c.patients = 1
    c.seeds = 3
    c.pretrain.total_steps = 400
    c.pretrain.eval_every = c.pretrain.checkpoint_every = 200
    c.attack.eps = (0.002,)
    c.methods = ml_collections.ConfigDict(
      {k: METHODS[k] for k in ("finetune", "neggrad_plus", "salun", "scrub", "ssd")}
    )
  if tiny:
    c.patients = 1
    c.seeds = 3  # the fewest the forget score has a bucket for
    c.pretrain.total_steps = 12
    c.personalize.steps = 4
    c.personalize.batch_size = 8
    c.eval_batch_size = 32
    c.attack.pgd_steps = 2
    for name, options in c.methods.items():
      for field in ("steps", "retain_steps"):
        if field in options:
          options[field] = 2
      if "epochs" in options:
        options.epochs, options.max_epochs = 2, 1
      if name == "ssd":
        options.alpha = 2.0
  return c
