"""Unlearnable audio: PosCUDA and CUDA across front ends, architectures, poison rates,
knobs and the defenses a trainer would try.

  python -m launch.run --config=experiments/unlearnable.py:runlocal \
      --workdir=runs/unlearnable
  # the quickstart's section: PosCUDA against the tour's classifier (the clean row)
  python -m launch.run --config=experiments/unlearnable.py:quick \
      --config.clean_runs.music.mel_cnn=runs/quickstart \
      --workdir=runs/quickstart_unlearnable

Variants: ``runlocal`` (every table; on 2 CPU cores many hours, resumable run by
run, so it can be spread over several invocations or narrowed with
``--config.sections``), ``quick`` (the tour's section), ``tiny`` (seconds; tests).
A data owner protects their own folder with ``python -m launch.protect``.
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import classifier

VARIANTS = ("runlocal", "quick", "tiny")

# Front end x architecture: the transfer-matrix layout of the attacks experiment.
MODELS = {
  "raw_m5": dict(frontend="raw", model="raw_m5"),
  "mel_cnn": dict(frontend="mel", model="mel_cnn"),
  "mel_transformer": dict(frontend="mel", model="patch_transformer"),
  "mel_lstm": dict(frontend="mel", model="lstm"),
  "mfcc_cnn": dict(frontend="mfcc", model="mel_cnn"),
  "mfcc_transformer": dict(frontend="mfcc", model="patch_transformer"),
  "mfcc_lstm": dict(frontend="mfcc", model="lstm"),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = "tiny" in variants

  c = ml_collections.ConfigDict()
  c.kind = "unlearnable"
  c.name = "unlearnable audio: PosCUDA and CUDA"
  c.seed = 0  # the owner's key
  c.sections = ("main", "poison_rate", "knobs", "defenses", "quality")

  c.classifier = classifier.get_config("tiny" if tiny else "runlocal")
  c.classifier.total_steps = 400
  c.classifier.eval_every = c.classifier.checkpoint_every = 400
  c.classifier.progress = False
  c.datasets = ml_collections.ConfigDict(
    {
      "music": dict(name="audiojax_music", config="small", label="family"),
      "keywords": dict(name="audiojax_keywords", config="default", label="label"),
    }
  )
  c.models = ml_collections.ConfigDict(MODELS)
  # Clean runs trained elsewhere on the same data set, reused as the clean row:
  # {dataset: {model: workdir}} (the quickstart passes its classifier).
  c.clean_runs = ml_collections.ConfigDict({"music": {"mel_cnn": ""}})

  c.methods = ml_collections.ConfigDict(
    {
      # CUDA on a waveform: one class-wise 9-tap blur over the whole clip.
      "cuda": dict(kernel_size=9, blur=0.3),
      # PosCUDA: the same family of filter on 4 patches of 0.1 s (20 % of a 2 s
      # clip) at class-wise positions.
      "poscuda": dict(patch_samples=1600, num_patches=4, kernel_size=9, blur=0.3),
    }
  )
  c.main = dict(
    methods=("cuda", "poscuda"),  # the protected columns beside clean
    models={
      "music": tuple(MODELS),
      "keywords": ("raw_m5", "mel_cnn", "mfcc_lstm"),
    },
  )
  c.poison_rate = dict(
    dataset="music",
    model="mel_cnn",
    methods=("poscuda",),
    rates=(0.0, 0.2, 0.5, 0.8, 1.0),
  )
  c.knobs = dict(
    dataset="music",
    model="mel_cnn",
    sweep={
      "patch_samples": (400, 1600, 4000),
      "num_patches": (2, 4, 8),
      "blur": (0.3, 1.0, 3.0),
      "kernel_size": (9, 33),
      # None: every tap from U(0, blur), no identity tap (classes differ more).
      "center": (1.0, None),
    },
  )
  # Trainer-side input transforms (audiojax.defenses.transforms), for the defenses.
  c.transforms = ml_collections.ConfigDict(
    {
      "mp3": dict(name="codec", codec="mp3_64"),
      "lowpass": dict(name="lowpass", cutoff_hz=4000.0),
      "blur": dict(name="blur", kernel_size=9, blur=1.0),
    }
  )

  # What a trainer tries: classifier-config overrides (nested like the config) or
  # an input transform of ``c.transforms`` applied to every split.
  def defense(about, transform="", **overrides):
    return dict(about=about, transform=transform, overrides=overrides)

  c.defenses = ml_collections.ConfigDict(
    {
      "dataset": "music",
      "model": "mel_cnn",
      # The strongest protection of each kind measured on mel_cnn (CUDA; PosCUDA
      # at blur 1, a knob setting): the default PosCUDA leaves nothing to recover.
      "methods": ("cuda", "poscuda_blur1"),
      "entries": {
        "none": defense("no defense"),
        "adversarial": defense(
          "adversarial training (FGSM-RS, L-inf 0.004)",
          adversarial=dict(method="fgsm_rs", eps=0.004),
        ),
        "noise": defense(
          "white noise at 10-30 dB SNR", augment=dict(noise_snr_db=(10.0, 30.0))
        ),
        "mixup": defense("mixup (alpha 1)", augment=dict(mixup_alpha=1.0)),
        "specaugment": defense(
          "SpecAugment (2 frequency + 2 time masks)",
          augment=dict(
            specaugment=dict(freq_masks=2, freq_width=8, time_masks=2, time_width=12)
          ),
        ),
        "mp3": defense("MP3 64 kbps round trip of every clip", transform="mp3"),
        "lowpass": defense("low-pass at 4 kHz of every clip", transform="lowpass"),
        "blur_all": defense(
          "every clip blurred with a random filter of the family (knows the method)",
          transform="blur",
        ),
      },
    }
  )
  c.quality = dict(
    dataset="music",
    examples=128,  # clips per setting for SNR / LSD / PESQ / Fréchet
    wav_examples=3,  # WAV pairs and spectrogram PNGs per main method
    embedding_model="mel_cnn",  # the clean-trained classifier whose embedding
  )

  if "quick" in variants:
    # The tour: PosCUDA against the tour's own classifier (clean_runs), one short
    # run (~3 min on 2 cores), its quality and examples.
    c.sections = ("main", "quality")
    del c.datasets["keywords"]
    c.main.methods = ("poscuda",)
    c.main.models = {"music": ("mel_cnn",)}
    c.classifier.total_steps = 120
    c.classifier.eval_every = c.classifier.checkpoint_every = 120
    c.classifier.log_every = 40
    c.knobs.sweep = {}
    c.poison_rate.rates = ()
    c.quality.examples = 64
  if tiny:
    c.datasets.music.config = "tiny"
    del c.datasets["keywords"]
    c.classifier.total_steps = 6
    c.classifier.eval_every = c.classifier.checkpoint_every = 6
    c.classifier.log_every = 3
    for entry in c.models.values():
      entry.model = entry.model + "_tiny"
    c.methods.poscuda.patch_samples = 3200
    c.main.models = {"music": ("raw_m5",)}
    c.poison_rate.rates = (0.0, 0.5)
    c.poison_rate.model = "raw_m5"
    c.knobs.model = "raw_m5"
    c.knobs.sweep = {"blur": (0.3, 1.0)}
    c.defenses.model = "raw_m5"
    entries = c.defenses.entries
    c.defenses.entries = {k: entries[k] for k in ("none", "noise", "blur_all")}
    c.quality.examples = 8
    c.quality.wav_examples = 1
    c.quality.embedding_model = "raw_m5"
  return c
