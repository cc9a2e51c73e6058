"""Several detectors as one: each member's score standardised on clean held-out clips,
the largest standardised score decides.

Scores of different detectors live on different scales (a z-score, a squared error,
a distance). Fitting holds out a share of the clean training clips; each member is
fit on the rest and scores the held-out clips, whose median and interquartile range
turn its raw score into a robust z-score. The combined score is the largest member
z-score, so a clip is as anomalous as its most alarmed member says — a fault the
statistics see plainly (a dropout) is not averaged away by an autoencoder that
hardly notices it, and vice versa (a pitch shift).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from audiojax.anomaly import base


class CombinedDetector(base.Detector):
  """The largest held-out-standardised score of its members.

  Config:
    members: registry names of the member detectors.
    options: ``{member: {option: value}}`` passed to each member's fit.
    holdout: share of the training clips kept to standardise the members' scores.
  """

  name = "combined"
  defaults = dict(members=("statistics", "autoencoder"), options={}, holdout=0.2)

  def _fit(self, audio: np.ndarray, key) -> None:
    from audiojax.anomaly import fit

    c = self.config
    if not c["members"]:
      raise base.DetectorError("the combined detector needs at least one member")
    unknown = set(c["options"]) - set(c["members"])
    if unknown:
      raise base.DetectorError(f"options for detectors not among members: {unknown}")
    order = np.random.default_rng(0).permutation(len(audio))
    held = max(1, int(round(c["holdout"] * len(audio))))
    if held >= len(audio):
      raise base.DetectorError(
        f"{len(audio)} training clips leave none to fit on after holding out {held}"
      )
    reference, rest = audio[order[:held]], audio[order[held:]]
    keys = jax.random.split(key, len(c["members"]))
    self.members = []
    centre, scale = [], []
    for name, k in zip(c["members"], keys, strict=True):
      member = fit(name, rest, self.sample_rate, k, **c["options"].get(name, {}))
      s = member.score(reference)
      q25, q50, q75 = np.percentile(s, [25, 50, 75])
      self.members.append(member)
      centre.append(q50)
      scale.append(max((q75 - q25) / 1.349, 1e-6 * max(abs(q50), 1.0)))
    self.centre, self.scale = np.asarray(centre), np.asarray(scale)

  def member_scores(self, audio) -> np.ndarray:
    """Standardised scores ``[clips, members]``."""
    x = base.as_batch(audio)
    raw = np.stack([m.score(x) for m in self.members], axis=-1)
    return (raw - self.centre) / self.scale

  def _score(self, audio: np.ndarray) -> np.ndarray:
    return self.member_scores(audio).max(axis=-1)

  def _save_state(self, directory: str) -> None:
    base.save_arrays(directory, centre=self.centre, scale=self.scale)
    for i, member in enumerate(self.members):
      member.save(os.path.join(directory, f"member{i}"))

  def _load_state(self, directory: str) -> None:
    from audiojax.anomaly import load

    state = base.load_arrays(directory)
    self.centre, self.scale = state["centre"], state["scale"]
    self.members = [
      load(os.path.join(directory, f"member{i}")) for i in range(len(self.centre))
    ]
