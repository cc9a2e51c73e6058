"""Anomaly detection in audio collections: faulty recordings (every fault at three
severities, our detectors against pyod's), mislabels (cleanlab on out-of-fold
probabilities), wrong note annotations and adversarial inputs.

  python -m launch.run --config=experiments/anomaly.py:runlocal --workdir=runs/anomaly
  # reuse the quickstart's classifier for the embedding detector (and as the target):
  python -m launch.run --config=experiments/anomaly.py:runlocal,quick \
      --config.datasets.music.classifier_workdir=runs/quickstart \
      --workdir=runs/quickstart_anomaly

Variants: ``runlocal`` (the embedded music and keyword sets; trains a keyword
classifier, the K-fold models of each label-noise setting, a transcriber and the
supervised adversarial detector: about half an hour on 2 CPU cores), ``quick`` (the
faults table on the music set only: the quickstart's section), ``tiny`` (seconds;
tests). Then watch a folder with a fitted detector:

  python -m launch.monitor --detector=runs/anomaly/detectors/music/combined \
      --watch=incoming/ --rate=0.01
"""

import ml_collections

from audiojax.anomaly.notes import NOTE_ERRORS
from audiojax.configs import parse_variants
from audiojax.data.faults import FAULT_NAMES
from experiments import classifier, transcriber

VARIANTS = ("runlocal", "quick", "tiny")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = "tiny" in variants

  c = ml_collections.ConfigDict()
  c.kind = "anomaly"
  c.name = "anomaly detection: faults, mislabels, wrong notes, adversarial inputs"
  c.seed = 0
  c.sections = ("faults", "mislabels", "notes", "adversarial")

  # The classifier every data set's embedding detector (and the adversarial
  # section's target) uses, trained here unless classifier_workdir names a run.
  c.classifier = classifier.get_config("tiny" if tiny else "runlocal")
  c.classifier.progress = False
  size = "tiny" if tiny else "small"
  c.datasets = ml_collections.ConfigDict(
    {
      "music": dict(
        name="audiojax_music", config=size, label="family", classifier_workdir=""
      ),
      "keywords": dict(
        name="audiojax_keywords",
        config="tiny" if tiny else "default",
        label="label",
        classifier_workdir="",
      ),
    }
  )
  c.train_examples = 600  # clean clips each detector is fit on
  c.validation_examples = 120  # clean clips its threshold is calibrated on
  c.test_examples = 120  # clean test clips, and each fault of them
  c.batch_size = 32
  c.false_alarm_rate = 0.05
  c.faults = FAULT_NAMES
  c.severities = (0.25, 0.5, 0.75)

  ae = dict(steps=1500, batch_size=512)  # the DCASE baseline's network and features
  c.detectors = ml_collections.ConfigDict(
    {
      "statistics": {},
      "autoencoder": ae,
      "embedding": dict(method="knn", k=5),
      "combined": dict(
        members=("statistics", "autoencoder", "embedding"),
        options={"autoencoder": ae},
      ),
    }
  )
  # pyod's detectors on the same features (audiojax.anomaly.peers.clip_vectors).
  c.peers = ml_collections.ConfigDict(
    {
      "pyod_iforest": dict(model="iforest", n_estimators=200),
      "pyod_lof": dict(model="lof"),
      "pyod_ocsvm": dict(model="ocsvm"),
      "pyod_knn": dict(model="knn"),
    }
  )

  fold = classifier.get_config("tiny" if tiny else "runlocal")
  fold.progress = False
  fold.total_steps = 300
  fold.eval_every = fold.checkpoint_every = 300
  fold.log_every = 50
  c.mislabels = dict(
    dataset="music",
    examples=600,
    folds=4,
    stack="unroll",  # the K models in one step: "unroll" (fast on CPU) or "vmap"
    noise=(("symmetric", 0.1), ("class_dependent", 0.1)),
    noise_seeds=(0, 1, 2),  # label-noise draws per setting, each its own K models
    # Confident learning's second pass: K new models trained without what this
    # cleanlab filter flags in the first pass ("" for one pass only).
    refit_filter="prune_by_noise_rate",
    # Test-time augmentation: every ranker again on the out-of-fold softmax
    # averaged over this many circular time shifts of each clip (1: off).
    tta_shifts=8,
    classifier=fold,
  )
  c.notes = dict(
    workdir="",  # a trained `transcriber` run; empty: train one in workdir/transcriber
    config=transcriber.get_config("tiny" if tiny else "runlocal"),
    kinds=tuple(sorted(NOTE_ERRORS)),
    rate=0.1,
    examples=120,
    batch_size=32,
  )
  detector = classifier.get_config("tiny" if tiny else "runlocal")
  detector.progress = False
  detector.total_steps = 300
  detector.eval_every = detector.checkpoint_every = 300
  c.adversarial = dict(
    dataset="music",
    eps=0.002,
    steps=10,
    train_examples=400,  # clean + PGD clips the supervised detector learns from
    epochs=3,  # of the universal perturbation over the training clips
    rooms=16,
    eot_samples=4,
    adaptive_weights=(1.0, 10.0),
    detector=detector,
  )

  if "quick" in variants:
    c.sections = ("faults",)
    c.severities = (0.5,)
    del c.datasets["keywords"]
    c.train_examples = 400
    c.detectors.autoencoder.steps = 800
    c.detectors.combined.options.autoencoder.steps = 800
    del c.peers["pyod_ocsvm"]
  if tiny:
    c.train_examples = 16
    c.validation_examples = 8
    c.test_examples = 8
    c.batch_size = 8
    c.faults = ("clipping", "dropout", "hum")
    c.severities = (0.5,)
    del c.datasets["keywords"]
    tiny_ae = dict(steps=20, batch_size=64, hidden=(16,), bottleneck=4)
    c.detectors.autoencoder = tiny_ae
    c.detectors.combined.options.autoencoder = tiny_ae
    for p in c.peers.values():
      if "n_estimators" in p:
        p.n_estimators = 20
    c.mislabels.update(
      dict(examples=16, folds=2, noise=(("symmetric", 0.25),), noise_seeds=(0,))
    )
    c.mislabels.classifier.total_steps = 4
    c.notes.update(dict(examples=4, batch_size=4))
    c.adversarial.update(
      dict(steps=2, train_examples=8, epochs=1, rooms=2, eot_samples=2)
    )
    c.adversarial.adaptive_weights = (1.0,)
    c.adversarial.detector.total_steps = 4
    c.adversarial.detector.batch_size = 8
    c.mislabels.classifier.batch_size = 8
  return c
