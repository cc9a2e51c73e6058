"""Audio classification: data set × front end × model, all config fields.

  python -m launch.run --config=experiments/classifier.py:runlocal --workdir=runs/clf
  python -m launch.run --config=experiments/classifier.py \
      --config.dataset.name=audiojax_keywords --config.frontend.name=raw \
      --config.model.name=raw_m5 --workdir=runs/kw_raw

The argument after ':' is a comma-separated list of variants: ``runlocal`` (minutes on
2 CPU cores) and ``tiny`` (seconds; tests). A finished run is loaded by
``audiojax.train.restore(workdir)``.
"""

import ml_collections

from audiojax.configs import parse_variants

VARIANTS = ("runlocal", "tiny")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)

  c = ml_collections.ConfigDict()
  c.kind = "classifier"
  c.name = "classifier"
  c.seed = 0

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "audiojax_music"
  c.dataset.config = "default"
  c.dataset.label = "family"
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)
  c.dataset.in_memory = True

  c.frontend = ml_collections.ConfigDict({"name": "mel", "kwargs": {}})
  c.model = ml_collections.ConfigDict({"name": "mel_cnn", "kwargs": {}})

  # Adversarial training (audiojax.defenses.training): "none", "pgd", "fgsm_rs" or
  # "trades"; eps in the norm's units, or an SNR in dB with budget="snr".
  c.adversarial = ml_collections.ConfigDict()
  c.adversarial.method = "none"
  c.adversarial.eps = 0.0
  c.adversarial.norm = "linf"
  c.adversarial.budget = "eps"
  c.adversarial.steps = 7
  c.adversarial.rel_step = 0.25
  c.adversarial.adv_weight = 1.0
  c.adversarial.beta = 6.0

  # Training augmentations (audiojax.train.augment): white noise at an SNR drawn
  # from (low, high) dB, mixup's alpha (0: off), SpecAugment's masks (0: off).
  c.augment = ml_collections.ConfigDict()
  c.augment.noise_snr_db = ()
  c.augment.mixup_alpha = 0.0
  c.augment.specaugment = dict(freq_masks=0, freq_width=8, time_masks=0, time_width=12)

  c.batch_size = 64
  c.total_steps = 3000
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.learning_rate = 2e-3
  c.optimizer.warmup_steps = 100
  c.optimizer.final_lr_fraction = 0.01
  c.optimizer.weight_decay = 1e-4
  c.optimizer.grad_clip = 1.0
  c.optimizer.ema_decay = 0.0  # 0: no average of the params.

  # Evaluators (audiojax.evaluators), run every eval_every steps and at the end.
  c.evals = ml_collections.ConfigDict()
  for split in ("validation", "test"):
    c.evals[split] = dict(type="classification", split=split, batch_size=64)
  c.confusion_from = "test"  # The evaluator drawn in confusion.png.

  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 500
  c.max_to_keep = 2
  c.num_devices = ml_collections.config_dict.placeholder(int)
  c.resume = ml_collections.config_dict.placeholder(str)
  c.model_init = ml_collections.config_dict.placeholder(str)
  c.progress = True

  if "runlocal" in variants:
    c.dataset.config = "small"
    c.batch_size = 32
    c.total_steps = 600
    c.optimizer.warmup_steps = 50
    c.eval_every = 200
    c.checkpoint_every = 200
  if "tiny" in variants:
    c.dataset.config = "tiny"
    c.model.name = c.model.name + "_tiny"
    c.batch_size = 8
    for ev in c.evals.values():
      ev.batch_size = 8
    c.total_steps = 12
    c.optimizer.warmup_steps = 2
    c.log_every = 2
    c.eval_every = 6
    c.checkpoint_every = 4
    c.progress = False
  return c
