"""Adversarial robustness of audio classifiers: attacks, transfer, codecs, over the
air, universal perturbations, a transcription attack on basic-pitch, and defenses.

  python -m launch.run --config=experiments/attacks.py:runlocal --workdir=runs/attacks
  # reuse a trained classifier as the target (the quickstart's):
  python -m launch.run --config=experiments/attacks.py:runlocal,quick \
      --config.models.mel_cnn.workdir=runs/quickstart --workdir=runs/qs_attacks

Variants: ``runlocal`` (embedded music, instrument family; a few dozen minutes on 2
CPU cores, most of it training the six classifiers of the transfer matrix and the
adversarially trained ones), ``keywords`` (the embedded keyword set instead),
``quick`` (only the robust-accuracy table: the quickstart's section) and ``tiny``
(seconds; tests). Budgets: L-inf ``eps`` on [-1, 1] audio (0.001 is 60 dB below full
scale), and SNR budgets in dB below each clip (an L2 radius per clip).
"""

import ml_collections

from audiojax import robustness
from audiojax.configs import parse_variants
from experiments import classifier, transcriber

VARIANTS = ("runlocal", "keywords", "quick", "tiny")

EPS = (0.0005, 0.001, 0.002, 0.004)
SNR_DB = (60.0, 50.0, 40.0, 30.0)


def _robust(attack, budgets, *, norm="linf", kind="eps", **kwargs):
  return dict(
    type="robust",
    split="test",
    batch_size=32,
    attack=attack,
    budgets=budgets,
    norm=norm,
    budget_kind=kind,
    attack_kwargs=kwargs,
    max_examples=64,
  )


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = "tiny" in variants

  c = ml_collections.ConfigDict()
  c.kind = "attacks"
  c.name = "attacks: robustness of audio classifiers"
  c.seed = 0

  # What every classifier trains with; models[...] sets front end and backbone.
  c.classifier = classifier.get_config("tiny" if tiny else "runlocal")
  c.classifier.progress = False
  if not tiny:
    c.classifier.total_steps = 400  # The transfer matrix's six models: ~3 min each.
  if "keywords" in variants:
    c.classifier.dataset.name = "audiojax_keywords"
    c.classifier.dataset.label = "label"
  suffix = "_tiny" if tiny else ""

  def entry(frontend, model, **model_kwargs):
    return dict(
      frontend=frontend, model=model + suffix, model_kwargs=model_kwargs, workdir=""
    )

  patch = 4 if tiny else 16
  c.models = ml_collections.ConfigDict(
    {
      "mel_cnn": entry("mel", "mel_cnn"),
      "mel_transformer": entry("mel", "patch_transformer"),
      "mfcc_cnn": entry("mfcc", "mel_cnn"),
      "mfcc_transformer": entry("mfcc", "patch_transformer", patch_size=(patch, 4)),
      "raw_cnn": entry("raw", "raw_m5"),
      "raw_transformer": entry("raw", "patch_transformer", patch_size=(400, 1)),
    }
  )
  c.target = "mel_cnn"  # The model every table but transfer attacks.
  c.split = "test"
  c.examples = 64  # Test clips every table attacks (the first of the split).
  c.batch_size = 32
  c.sections = robustness.SECTIONS  # Every table; a tuple of names runs some.

  # Robust accuracy: one `robust` evaluator per attack and budget kind.
  c.evals = ml_collections.ConfigDict(
    {
      "fgsm_linf": _robust("fgsm", EPS),
      "pgd_linf": _robust("pgd", EPS, steps=10),
      "apgd_ce_linf": _robust("apgd_ce", EPS, steps=25),
      "apgd_dlr_linf": _robust("apgd_dlr", EPS, steps=25),
      "deepfool_linf": _robust("deepfool", EPS[1:3], steps=10),
      "spsa_linf": _robust("spsa", EPS[2:3], steps=20, samples=8),
      "fgsm_snr": _robust("fgsm", SNR_DB, norm="l2", kind="snr"),
      "pgd_snr": _robust("pgd", SNR_DB, norm="l2", kind="snr", steps=10),
      "apgd_ce_snr": _robust("apgd_ce", SNR_DB, norm="l2", kind="snr", steps=25),
      "cw_snr": _robust(
        "cw_l2", SNR_DB[1:3], norm="l2", kind="snr", steps=30, search_steps=3
      ),
    }
  )
  c.quality = dict(
    eps=EPS, snr_db=SNR_DB, steps=10
  )  # PGD sets whose SNR/PESQ we report.
  c.transfer = dict(
    eps=0.001,
    steps=10,
    # The representation-robust attack: one perturbation against raw, mel and MFCC
    # CNNs, judged on the transformers it never saw.
    ensembles={"ensemble_cnns": ("raw_cnn", "mel_cnn", "mfcc_cnn")},
  )
  c.codecs = dict(
    names=("mp3_32", "mp3_64", "mp3_128", "vorbis", "opus", "gsm"), eps=0.001, steps=10
  )
  c.over_the_air = dict(
    eps=0.002,
    steps=10,
    samples=4,  # Rooms averaged per EOT step.
    train_rooms=16,
    test_rooms=8,
    draws=4,  # Unseen-room draws per clip when judging.
    rt60=(0.2, 0.6),
    max_order=8,
    snr_db=(30.0, 50.0),  # Microphone noise.
    gain_db=(-6.0, 0.0),
    max_shift=160,  # 10 ms at 16 kHz.
  )
  c.universal = dict(eps=0.002, rel_step=0.1, epochs=5, fit_examples=256)
  c.transcription = dict(
    workdir="",  # A trained `transcriber` run; empty: train one in workdir/transcriber.
    config=transcriber.get_config("tiny" if tiny else "runlocal"),
    examples=16,
    snr_db=(40.0, 30.0, 20.0),
    steps=20,
    target_shift=2,  # Targeted attack: every note moved up this many semitones.
    basic_pitch=True,
    black_box=dict(examples=4, steps=15, samples=8, delta=0.001),
  )
  adv = dict(norm="linf", budget="eps", steps=3, rel_step=0.5, adv_weight=1.0, beta=6.0)
  c.defenses = dict(
    finetune=dict(
      steps=100,
      learning_rate=5e-4,
      warmup_steps=10,
      eval_eps=EPS[1:3],
      attack_steps=10,
      apgd_steps=25,
    ),
    training={
      "clean_finetune": dict(adv, method="none", eps=0.0),  # The control.
      "pgd": dict(adv, method="pgd", eps=0.002),
      "fgsm_rs": dict(adv, method="fgsm_rs", eps=0.002),
      "trades": dict(adv, method="trades", eps=0.002),
      # Small-eps adversarial examples as augmentation (half clean, half adversarial).
      "augment": dict(adv, method="pgd", eps=0.0005, adv_weight=0.5),
    },
    transforms={
      "mp3_64": dict(name="codec", kwargs=dict(codec="mp3_64")),
      "quantize_8bit": dict(name="quantize", kwargs=dict(bits=8)),
      "lowpass_4khz": dict(name="lowpass", kwargs=dict(cutoff_hz=4000.0)),
      "noise_30db": dict(name="noise", kwargs=dict(snr_db=30.0)),
    },
    attack=dict(eps=0.001, steps=10, samples=4, draws=4),
  )
  c.masking = dict(eps=0.001, steps=10, examples=32)

  if "quick" in variants:
    c.sections = ("robust",)
    c.examples = 32
    c.quality.update(dict(eps=(), snr_db=(40.0,)))
    c.evals = ml_collections.ConfigDict(
      {
        "fgsm_linf": _robust("fgsm", EPS),
        "pgd_linf": _robust("pgd", EPS, steps=10),
        "pgd_snr": _robust("pgd", SNR_DB, norm="l2", kind="snr", steps=10),
      }
    )
    for ev in c.evals.values():
      ev.max_examples = c.examples
  if tiny:
    c.examples = 8
    c.batch_size = 8
    for ev in c.evals.values():
      ev.batch_size = 8
      ev.max_examples = 8
      if "steps" in ev.attack_kwargs:
        ev.attack_kwargs.steps = 2
    c.quality.steps = c.transfer.steps = c.codecs.steps = 2
    c.over_the_air.update(
      dict(steps=2, samples=2, train_rooms=2, test_rooms=2, draws=1, max_order=2)
    )
    c.universal.update(dict(epochs=1, fit_examples=16))
    c.transcription.update(dict(examples=2, steps=2, snr_db=(30.0,)))
    c.transcription.black_box.update(dict(examples=1, steps=1, samples=2))
    c.defenses.finetune.update(
      dict(steps=2, warmup_steps=1, attack_steps=2, apgd_steps=2)
    )
    c.defenses.attack.update(dict(steps=2, samples=2, draws=1))
    for t in c.defenses.training.values():
      t.steps = 1
    c.masking.update(dict(steps=2, examples=8))
  return c
