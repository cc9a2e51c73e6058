"""Anomaly detection for audio collections: faulty recordings, mislabels, wrong note
annotations and adversarial inputs.

Detectors (:data:`DETECTORS`) are fit on clean clips and score new ones, higher
meaning more anomalous::

  detector = anomaly.fit("autoencoder", clean_train, 16000, key, steps=1000)
  detector.calibrate(clean_validation, false_alarm_rate=0.01)
  scores = detector.score(clips)            # float64 [clips]
  flagged = scores > detector.threshold()   # 1 % of clean clips would be flagged
  detector.save(directory); anomaly.load(directory)

* ``statistics``: robust z-scores of signal statistics (clip rate, zero runs, crest
  factor, spectral flatness, hum, ...); it also names the fault it suspects.
* ``autoencoder``: the DCASE 2020 Task 2 baseline's log-mel autoencoder.
* ``embedding``: k-NN or Mahalanobis distance in a trained classifier's embedding.
* ``combined``: the largest standardised score of several detectors.
* ``pyod``: pyod's IsolationForest (or LOF, OCSVM, k-NN) on the same features, the
  peer the others are measured against.

Mislabels (cleanlab on out-of-fold probabilities) are in :mod:`.mislabels`, note
annotation errors in :mod:`.notes`, AUROC and pAUC in :mod:`.metrics`.
"""

from __future__ import annotations

from typing import Any

from audiojax.anomaly.base import Detector, DetectorError, read_meta
from audiojax.registry import Registry

DETECTORS: Registry[type[Detector]] = Registry(
  "detector",
  {
    "statistics": "audiojax.anomaly.statistics:StatisticsDetector",
    "autoencoder": "audiojax.anomaly.autoencoder:AutoencoderDetector",
    "embedding": "audiojax.anomaly.embedding:EmbeddingDetector",
    "combined": "audiojax.anomaly.combined:CombinedDetector",
    "pyod": "audiojax.anomaly.peers:PyodDetector",
  },
)


def fit(name: str, audio: Any, sample_rate: int, key, **cfg) -> Detector:
  """Fits detector ``name`` on clean clips ``audio`` ``[clips, samples]``.

  Args:
    name: a :data:`DETECTORS` name.
    audio: clean training clips in [-1, 1] at ``sample_rate``.
    sample_rate: their rate; every clip scored later must have it.
    key: a ``jax.random`` key (initialisation, data order); the fit is deterministic
      given it.
    **cfg: the detector's options (its class's ``defaults`` lists them).

  Raises:
    UnknownNameError: for an unknown detector, naming the valid ones.
    DetectorError: for an unknown option or malformed audio.
  """
  cls = DETECTORS.get(name)
  return cls(sample_rate, cfg).fit(audio, key)


def load(directory: str) -> Detector:
  """The detector :meth:`Detector.save` wrote to ``directory``."""
  meta = read_meta(directory)
  return DETECTORS.get(meta["name"]).from_directory(directory, meta)


__all__ = ["DETECTORS", "Detector", "DetectorError", "fit", "load"]
