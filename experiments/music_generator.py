"""The spectrogram-image music generator: conditional U-Net on log-mel images.

  python -m launch.run --config=experiments/music_generator.py:runlocal \
      --workdir=runs/gen
  python -m launch.run --config=experiments/music_generator.py --workdir=runs/gen_full

Variants after ':' (comma-separated): ``runlocal`` (≤ 10 minutes on 2 CPU cores),
``tiny`` (seconds; tests), ``ddpm`` (the DDPM objective instead of rectified flow).
A finished run is loaded (and sampled) by ``audiojax.train.restore(workdir)``.
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import classifier

VARIANTS = ("runlocal", "tiny", "ddpm")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)

  c = ml_collections.ConfigDict()
  c.kind = "music_generator"
  c.name = "music generator (conditional U-Net on mel images)"
  c.seed = 0
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "audiojax_music"
  c.dataset.config = "default"
  c.dataset.label = "family"
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)
  c.dataset.in_memory = False  # Mel images are rendered from every field at once.

  c.mel = ml_collections.ConfigDict(
    dict(
      sample_rate=16000,
      n_fft=1024,
      hop_length=512,
      n_mels=64,
      frames=64,
      fmax=8000.0,
      db_min=-80.0,
      db_max=30.0,
    )
  )
  c.caption_length = 16

  c.objective = "flow"
  c.generator = ml_collections.ConfigDict({"name": "unet", "kwargs": {}})
  c.cond_dropout = 0.1
  # Training times: "uniform" (what the README runs used) or "logit_normal".
  c.t_schedule = "uniform"
  c.batch_size = 32
  c.total_steps = 3500
  c.optimizer = ml_collections.ConfigDict(
    dict(
      learning_rate=1.5e-3,
      warmup_steps=200,
      weight_decay=0.0,
      grad_clip=1.0,
      final_lr_fraction=0.05,
      ema_decay=0.999,  # The EMA params are what the run samples with.
    )
  )
  c.log_every = 50
  c.eval_every = 0
  c.checkpoint_every = 250
  c.max_to_keep = 2
  c.resume = ml_collections.config_dict.placeholder(str)
  c.model_init = ml_collections.config_dict.placeholder(str)
  c.num_devices = ml_collections.config_dict.placeholder(int)
  c.progress = True
  # An opt-out request (collection:NAME or pieces:ID,...) whose clips training
  # leaves out: the retrained generator of experiments/music_unlearning.py.
  c.exclude = ""
  # A finished probe run to use instead of training one in WORKDIR/probe.
  c.probe_workdir = ""

  c.sampling = ml_collections.ConfigDict(
    dict(steps=20, guidance=3.0, eta=0.0, batch_size=16)
  )
  c.eval_split = "test"
  c.eval_clips = 200
  c.wavs_per_condition = 2
  c.report_eval = "test"  # Whose numbers are the run's (unprefixed in results).

  # The probe: a classifier of instrument family trained on real clips.
  c.probe = classifier.get_config("runlocal")
  c.probe.total_steps = 600
  c.probe.progress = c.progress

  if "runlocal" in variants:
    c.dataset.config = "small"
    c.generator.kwargs = {"channels": (32, 64, 96)}
    c.total_steps = 900
    c.optimizer.learning_rate = 2e-3
    c.optimizer.warmup_steps = 50
    c.optimizer.ema_decay = 0.99
    c.checkpoint_every = 100
    c.eval_clips = 80
    c.probe.total_steps = 300
    c.probe.eval_every = 100
    c.probe.checkpoint_every = 100
  if "tiny" in variants:
    c.dataset.config = "tiny"
    c.generator.name = "unet_tiny"
    c.generator.kwargs = {}
    c.batch_size = 4
    c.total_steps = 4
    c.optimizer.warmup_steps = 1
    c.log_every = 2
    c.checkpoint_every = 2
    c.optimizer.ema_decay = 0.5
    c.eval_clips = 6
    c.sampling.steps = 2
    c.sampling.batch_size = 4
    c.wavs_per_condition = 1
    c.progress = False
    c.probe = classifier.get_config("tiny")
    c.probe.total_steps = 4
    c.probe.eval_every = 0
    c.probe.checkpoint_every = 0
  if "ddpm" in variants:
    c.objective = "ddpm"
  # The probe is judged on validation and the generator's evaluation split; the
  # generator's evaluator follows later overrides of eval_clips and sampling.
  probe_batch = c.probe.evals.test.batch_size
  c.probe.evals = ml_collections.ConfigDict()
  for split in ("validation", c.eval_split):
    c.probe.evals[split] = dict(
      type="classification", split=split, batch_size=probe_batch
    )
  c.evals = ml_collections.ConfigDict()
  c.evals[c.eval_split] = dict(
    type="generation",
    split=c.eval_split,
    clips=c.get_ref("eval_clips"),
    probe="probe",  # relative to the run, or config.probe_workdir when given
    probe_batch_size=probe_batch,
    sampling=c.sampling,
  )
  return c
