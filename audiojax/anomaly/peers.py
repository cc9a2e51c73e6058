"""pyod's detectors on the same per-clip features, as the peers of ours.

pyod (Zhao et al., 2019; ``pyod==3.6.7``, installed with the dev requirements) is the
library a practitioner reaches for. Its detectors take one vector per clip, so they
see :func:`clip_vectors`: the signal statistics of
:mod:`audiojax.anomaly.statistics` and the mean and standard deviation of each of
the 64 log-mel bands the autoencoder reconstructs. ``decision_function`` is pyod's
anomaly score (higher = more anomalous). The fitted pyod model is saved with
``joblib`` (a pickle: load only directories you trust).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import joblib
import numpy as np

from audiojax.anomaly import base, statistics
from audiojax.anomaly.autoencoder import logmel_vectors


def clip_vectors(audio, sample_rate: int) -> np.ndarray:
  """``[clips, len(FEATURES) + 128]``: statistics, then 64 log-mel band means and
  64 stds."""
  x = base.as_batch(audio)
  stats = statistics.clip_features(x, sample_rate)
  bands = []
  for i in range(0, len(x), 64):
    v = np.asarray(logmel_vectors(jnp.asarray(x[i : i + 64]), sample_rate, 64, 1024))
    frames = v[..., :64]  # the first frame of each 5-frame vector: every frame once
    bands.append(np.concatenate([frames.mean(axis=1), frames.std(axis=1)], axis=-1))
  return np.concatenate([stats, np.concatenate(bands)], axis=-1)


class PyodDetector(base.Detector):
  """A pyod detector on :func:`clip_vectors`, standardised per dimension.

  Config:
    model: ``"iforest"`` (``IForest``), ``"lof"`` (``LOF``), ``"ocsvm"``
      (``OCSVM``) or ``"knn"`` (``KNN``).
    n_estimators: trees of the isolation forest.
  """

  name = "pyod"
  defaults = dict(model="iforest", n_estimators=100)
  _MODELS = ("iforest", "lof", "ocsvm", "knn")

  def __init__(self, sample_rate, config=None):
    super().__init__(sample_rate, config)
    if self.config["model"] not in self._MODELS:
      raise base.DetectorError(
        f"pyod model must be one of {self._MODELS}, got {self.config['model']!r}"
      )

  def _make(self, seed: int):
    name = self.config["model"]
    if name == "iforest":
      from pyod.models.iforest import IForest

      return IForest(n_estimators=self.config["n_estimators"], random_state=seed)
    if name == "lof":
      from pyod.models.lof import LOF

      return LOF()
    if name == "ocsvm":
      from pyod.models.ocsvm import OCSVM

      return OCSVM()
    from pyod.models.knn import KNN

    return KNN()

  def _fit(self, audio: np.ndarray, key) -> None:
    v = clip_vectors(audio, self.sample_rate)
    self.mean, self.std = v.mean(axis=0), v.std(axis=0) + 1e-6
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    self.model = self._make(seed).fit((v - self.mean) / self.std)

  def _score(self, audio: np.ndarray) -> np.ndarray:
    v = clip_vectors(audio, self.sample_rate)
    return self.model.decision_function((v - self.mean) / self.std)

  def _save_state(self, directory: str) -> None:
    base.save_arrays(directory, mean=self.mean, std=self.std)
    joblib.dump(self.model, os.path.join(directory, "pyod.joblib"))

  def _load_state(self, directory: str) -> None:
    state = base.load_arrays(directory)
    self.mean, self.std = state["mean"], state["std"]
    path = os.path.join(directory, "pyod.joblib")
    if not os.path.isfile(path):
      raise base.DetectorError(f"{directory} lacks pyod.joblib")
    self.model = joblib.load(path)
