"""Note transcription: a frame-level transcriber on the embedded music set's notes.

  python -m launch.run --config=experiments/transcriber.py:runlocal \
      --workdir=runs/transcriber

The argument after ':' is a comma-separated list of variants: ``runlocal`` (minutes on
2 CPU cores) and ``tiny`` (seconds; tests). The model's logits are one per frame
(hop 256 at 16 kHz: 62.5 frames/s) and piano key (MIDI 21..108); a finished run is
loaded by ``audiojax.train.restore(workdir)``, and its model is what the
transcription attacks differentiate.
"""

import ml_collections

from audiojax.configs import parse_variants

VARIANTS = ("runlocal", "tiny")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)

  c = ml_collections.ConfigDict()
  c.kind = "transcriber"
  c.name = "note transcriber (frame-level, log-mel)"
  c.seed = 0

  # A data set whose examples carry notes (pitch, onset s, offset s).
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "audiojax_music"
  c.dataset.config = "default"
  c.dataset.data_dir = ml_collections.config_dict.placeholder(str)

  # Onsets and Frames' log-mel (n_fft 2048 at 16 kHz resolves low pitches; fmin 30
  # Hz) with our hop of 256; hop_length sets the frame grid of the rolls.
  c.frontend = ml_collections.ConfigDict(
    {
      "name": "mel",
      "kwargs": {"n_fft": 2048, "hop_length": 256, "n_mels": 229, "fmin": 30.0},
    }
  )
  c.model = ml_collections.ConfigDict({"name": "mel_transcriber", "kwargs": {}})

  c.batch_size = 16
  c.total_steps = 3000
  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.learning_rate = 2e-3
  c.optimizer.warmup_steps = 100
  c.optimizer.final_lr_fraction = 0.01
  c.optimizer.weight_decay = 1e-4
  c.optimizer.grad_clip = 1.0
  c.optimizer.ema_decay = 0.0  # 0: no average of the params.

  # Evaluators (audiojax.evaluators), run every eval_every steps and at the end.
  # A frame is on at probability >= 0.3: the best validation note F1 of a runlocal
  # run among 0.2 .. 0.5 (BCE over mostly silent keys leaves recall low at 0.5).
  c.evals = ml_collections.ConfigDict()
  for split in ("validation", "test"):
    c.evals[split] = dict(
      type="transcription", split=split, batch_size=32, threshold=0.3, min_frames=2
    )

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
    c.frontend.kwargs.n_mels = 128  # 1.7x faster steps than 229 mels on CPU.
    c.total_steps = 400
    c.optimizer.warmup_steps = 40
    c.eval_every = 200
    c.checkpoint_every = 200
  if "tiny" in variants:
    c.dataset.config = "tiny"
    c.frontend.kwargs.n_mels = 32
    c.model.name = c.model.name + "_tiny"
    c.batch_size = 4
    for ev in c.evals.values():
      ev.batch_size = 8
    c.total_steps = 8
    c.optimizer.warmup_steps = 2
    c.log_every = 2
    c.eval_every = 4
    c.checkpoint_every = 4
    c.progress = False
  return c
