"""Distance from the clean clips in a trained classifier's embedding.

A classifier trained on the collection (restored with :func:`audiojax.train.restore`)
maps a clip to its penultimate features (``model.embed``). Clean clips fill a region
of that space; faulty, out-of-distribution and adversarial clips tend to leave it.
Two distances, standard in out-of-distribution detection:

* ``knn``: the mean Euclidean distance to the ``k`` nearest training embeddings
  after standardising each dimension (Sun et al., 2022, "Out-of-distribution
  detection with deep nearest neighbors", which uses the k-th neighbour of
  normalised features; the mean of the k is steadier on small sets).
* ``mahalanobis``: the squared Mahalanobis distance under one Ledoit-Wolf covariance
  (Lee et al., 2018, use class-conditional means; one Gaussian needs no labels).

A clip longer than the classifier's clip length is cut into windows of that length
(the last one zero-padded) and scores its worst window.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors

from audiojax.anomaly import base


class EmbeddingDetector(base.Detector):
  """k-NN or Mahalanobis distance in a restored classifier's embedding.

  Config:
    workdir: the classifier run (any run ``train.restore`` loads whose model has
      ``embed``); required.
    method: ``"knn"`` or ``"mahalanobis"``.
    k: neighbours of ``knn``.
  """

  name = "embedding"
  defaults = dict(workdir=None, method="knn", k=5)

  def __init__(self, sample_rate, config=None):
    super().__init__(sample_rate, config)
    if not self.config["workdir"]:
      raise base.DetectorError("the embedding detector needs workdir=CLASSIFIER_RUN")
    self.config["workdir"] = os.path.abspath(self.config["workdir"])
    if self.config["method"] not in ("knn", "mahalanobis"):
      raise base.DetectorError(
        f"method must be 'knn' or 'mahalanobis', got {self.config['method']!r}"
      )

  @functools.cached_property
  def run(self):
    from audiojax import train

    workdir = self.config["workdir"]
    if not os.path.isdir(workdir):
      raise base.DetectorError(f"classifier run {workdir} does not exist")
    run = train.restore(workdir)
    rate = run.info.get("sample_rate")
    if rate != self.sample_rate:
      raise base.DetectorError(
        f"classifier {workdir} runs at {rate} Hz, the detector at {self.sample_rate}"
      )
    return run

  @functools.cached_property
  def _embed(self):
    run = self.run
    return jax.jit(lambda x: run.model.apply(run.params, x, method="embed"))

  def embed(self, audio: np.ndarray) -> np.ndarray:
    """``[clips, samples] -> [clips, windows, features]``."""
    length = int(self.run.info["clip_samples"])
    windows = -(-audio.shape[-1] // length)
    padded = np.zeros((len(audio), windows * length), np.float32)
    padded[:, : audio.shape[-1]] = audio
    x = padded.reshape(len(audio) * windows, length)
    out = np.asarray(self._embed(jnp.asarray(x)), np.float64)
    return out.reshape(len(audio), windows, -1)

  def _distances(self, e: np.ndarray) -> np.ndarray:
    z = (e - self.mean) / self.std
    if self.config["method"] == "mahalanobis":
      return self.gaussian.mahalanobis(z)
    distances, _ = self.neighbours.kneighbors(z)
    return distances.mean(axis=-1)

  def _fit(self, audio: np.ndarray, key) -> None:
    del key  # deterministic
    e = np.concatenate(
      [self.embed(audio[i : i + 64]) for i in range(0, len(audio), 64)]
    )
    e = e.reshape(-1, e.shape[-1])
    self.mean, self.std = e.mean(axis=0), e.std(axis=0) + 1e-6
    self.train_embeddings = e
    self._build()

  def _build(self) -> None:
    z = (self.train_embeddings - self.mean) / self.std
    if self.config["method"] == "mahalanobis":
      self.gaussian = LedoitWolf().fit(z)
    else:
      k = min(int(self.config["k"]), len(z))
      self.neighbours = NearestNeighbors(n_neighbors=k).fit(z)

  def _score(self, audio: np.ndarray) -> np.ndarray:
    e = self.embed(audio)
    d = self._distances(e.reshape(-1, e.shape[-1])).reshape(e.shape[:2])
    return d.max(axis=-1)

  def _save_state(self, directory: str) -> None:
    base.save_arrays(
      directory, mean=self.mean, std=self.std, embeddings=self.train_embeddings
    )

  def _load_state(self, directory: str) -> None:
    state = base.load_arrays(directory)
    self.mean, self.std = state["mean"], state["std"]
    self.train_embeddings = state["embeddings"]
    self._build()
