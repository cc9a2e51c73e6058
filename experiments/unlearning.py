"""Machine unlearning of a trained audio classifier: random-sample (10 %) and
whole-class forgetting on the embedded music set, every method against retraining,
in SalUn's layout (UA, RA, TA, MIA-efficacy, run time) plus the NeurIPS 2023
forget score.

  python -m launch.run --config=experiments/unlearning.py:runlocal \
      --workdir=runs/unlearning
  # unlearn the quickstart's classifier instead of training one here:
  python -m launch.run --config=experiments/unlearning.py:runlocal \
      --config.classifier_workdir=runs/quickstart --workdir=runs/unlearning

Variants: ``runlocal`` (the quickstart's music set, a small CNN trained 300 steps;
3 runs per method and 3 retrained models per scenario; ~15 minutes), ``quick``
(random forgetting only), ``tiny`` (seconds; tests).
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import classifier

VARIANTS = ("runlocal", "quick", "tiny")

# Steps are sized to ~10 % of the classifier's recipe (SalUn's budget: a few
# epochs against retraining's 182); runlocal halves them with the recipe.
METHODS = {
  "finetune": dict(steps=60, batch_size=32, lr=0.01),
  "neggrad": dict(steps=10, batch_size=32, lr=1e-3),
  "neggrad_plus": dict(steps=60, batch_size=32, lr=0.01, beta=0.95),
  "random_labels": dict(steps=60, batch_size=32, lr=0.01),
  "l1_sparse": dict(steps=60, batch_size=32, lr=0.01, gamma=5e-4),
  "salun": dict(steps=60, batch_size=32, lr=0.01, sparsity=0.5),
  "scrub": dict(epochs=3, max_epochs=2, retain_steps=15, batch_size=32),
  "scrub_r": dict(epochs=3, max_epochs=2, retain_steps=15, batch_size=32),
  "ssd": dict(alpha=10.0, lam=1.0, batch_size=32),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = "tiny" in variants

  c = ml_collections.ConfigDict()
  c.kind = "unlearning"
  c.name = "unlearning a music classifier: random and class forgetting"
  c.seed = 0

  # The original model: this run trained here (workdir/original), or the
  # finished classifier run classifier_workdir names. Retraining uses its recipe.
  c.classifier = classifier.get_config("tiny" if tiny else "runlocal")
  c.classifier.progress = False
  c.classifier_workdir = ""
  # Scenarios: "random" forgets random_fraction of the training clips; "class"
  # every training clip of forget_class (a class name).
  c.scenarios = ("random", "class")
  c.random_fraction = 0.1
  c.forget_class = "strings"
  c.seeds = 3
  c.methods = ml_collections.ConfigDict(METHODS)
  c.eval_batch_size = 64

  if not tiny:
    # The small CNN, 300 steps: the 3 retrained models per scenario take minutes
    # (the full mel_cnn recipe, ~5 min a model here, is one override away).
    c.classifier.model.name = "mel_cnn_tiny"
    c.classifier.total_steps = 300
    c.classifier.eval_every = c.classifier.checkpoint_every = 150
    for options in c.methods.values():
      for field in ("steps", "retain_steps"):
        if field in options and options[field] > 10:
          options[field] = options[field] // 2
  if "quick" in variants:
    c.scenarios = ("random",)
  if tiny:
    c.forget_class = "piano"
    c.random_fraction = 0.3  # at least 5 clips to forget (the MIA's folds)
    c.eval_batch_size = 16
    for name, options in c.methods.items():
      options.batch_size = 8
      for field in ("steps", "retain_steps"):
        if field in options:
          options[field] = 2
      if "epochs" in options:
        options.epochs, options.max_epochs = 2, 1
      if name == "ssd":
        options.alpha = 2.0
  return c
