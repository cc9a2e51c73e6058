"""What every anomaly detector shares: scoring in batches, calibration, save and load.

A detector is fit on clean clips only and answers one question per clip: how unlike
those clips is it? :meth:`Detector.score` returns one float per clip, higher meaning
more anomalous. Scores are not comparable between detectors; a detector's
*calibration* is: :meth:`Detector.calibrate` scores clean validation clips (never
seen in fitting) and keeps them sorted, so :meth:`Detector.threshold` can name the
score above which a stated share of clean clips would be flagged (the false-alarm
rate), and :meth:`Detector.p_value` the share of clean clips that score at least as
high as a given one.

On disk a detector is a directory: ``detector.json`` (its registry name, sample rate,
configuration and calibration scores) and whatever state its class writes beside it
(``state.npz`` of numpy arrays, or an orbax checkpoint for network params).
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

FORMAT_VERSION = 1


class DetectorError(ValueError):
  """A detector was asked for something it cannot do: bad audio, a wrong sample
  rate, an uncalibrated threshold, a missing or malformed saved directory."""


def as_batch(audio: Any, name: str = "audio") -> np.ndarray:
  """``audio`` as float32 ``[clips, samples]`` (a single ``[samples]`` clip becomes one
  row), checked finite and in [-1, 1]."""
  x = np.asarray(audio)
  if not np.issubdtype(x.dtype, np.floating):
    raise DetectorError(f"{name} must be floating point in [-1, 1], got {x.dtype}")
  if x.ndim == 1:
    x = x[None]
  if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
    raise DetectorError(
      f"{name} must be [samples] or [clips, samples] with both non-empty, got "
      f"shape {x.shape}"
    )
  if not np.all(np.isfinite(x)):
    raise DetectorError(f"{name} has non-finite samples")
  peak = float(np.max(np.abs(x)))
  if peak > 1.0 + 1e-6:
    raise DetectorError(f"{name} must lie in [-1, 1], its peak is {peak:.4f}")
  return x.astype(np.float32, copy=False)


class Detector(abc.ABC):
  """The base class: subclasses implement ``_fit``, ``_score`` and the state they save.

  Attributes:
    name: the registry name (``DETECTORS``) that :func:`audiojax.anomaly.load` uses.
    sample_rate: the rate every scored clip must have.
    config: the detector's options (:attr:`defaults` updated by the keyword arguments
      it was fit with; JSON-able).
    calibration: sorted scores of clean validation clips, or ``None``.
    false_alarm_rate: the default rate of :meth:`threshold`.
  """

  name: ClassVar[str] = ""
  defaults: ClassVar[dict[str, Any]] = {}

  def __init__(self, sample_rate: int, config: Mapping[str, Any] | None = None):
    if int(sample_rate) <= 0:
      raise DetectorError(f"sample_rate must be positive, got {sample_rate!r}")
    unknown = set(config or {}) - set(self.defaults)
    if unknown:
      raise DetectorError(
        f"detector {self.name!r} has no option {sorted(unknown)}; its options: "
        f"{sorted(self.defaults)}"
      )
    self.sample_rate = int(sample_rate)
    self.config = {**self.defaults, **(config or {})}
    self.calibration: np.ndarray | None = None
    self.false_alarm_rate = 0.01

  # -- what subclasses implement -------------------------------------------------

  @abc.abstractmethod
  def _fit(self, audio: np.ndarray, key) -> None:
    """Fits the detector's state on clean clips ``[clips, samples]``."""

  @abc.abstractmethod
  def _score(self, audio: np.ndarray) -> np.ndarray:
    """One score per clip of a checked batch, higher meaning more anomalous."""

  @abc.abstractmethod
  def _save_state(self, directory: str) -> None:
    """Writes the fitted state under ``directory``."""

  @abc.abstractmethod
  def _load_state(self, directory: str) -> None:
    """Reads what :meth:`_save_state` wrote."""

  # -- the public interface ------------------------------------------------------

  def fit(self, audio: Any, key) -> Detector:
    self._fit(as_batch(audio, "training audio"), key)
    return self

  def score(self, audio: Any, *, batch_size: int = 64) -> np.ndarray:
    """One anomaly score per clip, float64 ``[clips]`` (higher = more anomalous).

    Args:
      audio: ``[samples]`` or ``[clips, samples]`` at :attr:`sample_rate`, in [-1, 1].
      batch_size: clips per call of the underlying (jitted) scorer.
    """
    x = as_batch(audio)
    out = [
      np.asarray(self._score(x[i : i + batch_size]), np.float64).reshape(-1)
      for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out)

  def calibrate(self, audio: Any, *, false_alarm_rate: float | None = None):
    """Scores clean validation clips and keeps them as the reference of thresholds."""
    scores = self.score(audio)
    self.calibration = np.sort(scores)
    if false_alarm_rate is not None:
      self.false_alarm_rate = check_rate(false_alarm_rate)
    return self

  def threshold(self, rate: float | None = None) -> float:
    """The score above which ``rate`` of the clean calibration clips lie.

    ``rate`` defaults to :attr:`false_alarm_rate`. With ``n`` calibration clips the
    threshold is the ``ceil((1 - rate) n)``-th smallest score, so at most
    ``floor(rate n)`` of them score above it; a rate below ``1 / n`` gives the
    largest calibration score.
    """
    if self.calibration is None or not len(self.calibration):
      raise DetectorError(
        f"detector {self.name!r} is not calibrated: call calibrate(clean_clips)"
      )
    rate = self.false_alarm_rate if rate is None else check_rate(rate)
    n = len(self.calibration)
    index = min(n - 1, max(0, int(np.ceil((1.0 - rate) * n)) - 1))
    return float(self.calibration[index])

  def p_value(self, scores: Any) -> np.ndarray:
    """The share of calibration clips scoring at least ``scores`` (with the +1 of a
    conformal p-value, so it is never 0)."""
    if self.calibration is None:
      raise DetectorError(f"detector {self.name!r} is not calibrated")
    s = np.asarray(scores, np.float64)
    n = len(self.calibration)
    above = n - np.searchsorted(self.calibration, s, side="left")
    return (above + 1.0) / (n + 1.0)

  def flag(self, audio: Any, rate: float | None = None) -> np.ndarray:
    """``score(audio) > threshold(rate)`` per clip."""
    return self.score(audio) > self.threshold(rate)

  def save(self, directory: str) -> None:
    """Writes the detector to ``directory`` (created if missing)."""
    os.makedirs(directory, exist_ok=True)
    self._save_state(directory)
    meta = {
      "format": FORMAT_VERSION,
      "name": self.name,
      "sample_rate": self.sample_rate,
      "config": self.config,
      "false_alarm_rate": self.false_alarm_rate,
      "calibration": None if self.calibration is None else self.calibration.tolist(),
    }
    tmp = os.path.join(directory, "detector.json.tmp")
    with open(tmp, "w") as f:
      json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(directory, "detector.json"))

  @classmethod
  def from_directory(cls, directory: str, meta: Mapping[str, Any]) -> Detector:
    detector = cls(meta["sample_rate"], meta["config"])
    detector.false_alarm_rate = float(meta["false_alarm_rate"])
    if meta["calibration"] is not None:
      detector.calibration = np.asarray(meta["calibration"], np.float64)
    detector._load_state(directory)
    return detector


def check_rate(rate: float) -> float:
  rate = float(rate)
  if not 0.0 < rate < 1.0:
    raise DetectorError(f"a false-alarm rate must lie in (0, 1), got {rate}")
  return rate


def read_meta(directory: str) -> dict[str, Any]:
  """``detector.json`` of a saved detector, checked."""
  path = os.path.join(directory, "detector.json")
  if not os.path.isfile(path):
    raise DetectorError(f"{directory} holds no saved detector (no detector.json)")
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise DetectorError(f"{path} is not readable JSON: {e}") from e
  missing = {"format", "name", "sample_rate", "config", "calibration"} - set(meta)
  if missing:
    raise DetectorError(f"{path} lacks {sorted(missing)}")
  if meta["format"] != FORMAT_VERSION:
    raise DetectorError(
      f"{path} has format {meta['format']}, this code reads {FORMAT_VERSION}"
    )
  meta.setdefault("false_alarm_rate", 0.01)
  return meta


def save_arrays(directory: str, **arrays: np.ndarray) -> None:
  tmp = os.path.join(directory, "state.tmp.npz")
  np.savez(tmp, **arrays)
  os.replace(tmp, os.path.join(directory, "state.npz"))


def load_arrays(directory: str) -> dict[str, np.ndarray]:
  path = os.path.join(directory, "state.npz")
  if not os.path.isfile(path):
    raise DetectorError(f"{directory} lacks its state.npz")
  with np.load(path) as data:
    return {k: data[k] for k in data.files}
