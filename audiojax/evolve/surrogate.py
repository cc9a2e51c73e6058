"""A surrogate reward: predicts a clip's rating from its mel image, to spare raters.

Human ratings are the scarce resource of the GA. The surrogate is a ridge regression
(scikit-learn) from a clip's spectral profile (the mean of its mel image over time,
per mel band, plus the band-wise spread over time) to the clip's mean rating in
per-rater z-score units; it is refitted on every rated clip so far, then predicts the
fitness of individuals whose clips were not sent to raters. Its fit is reported as the
cross-validated R^2 on the rated clips, so a surrogate that has learned nothing is
visible as R^2 <= 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sklearn.linear_model
import sklearn.model_selection

from audiojax.ratings import aggregate
from audiojax.ratings.db import Rating


def clip_features(images: np.ndarray) -> np.ndarray:
  """``[N, frames, n_mels, 1]`` mel images -> ``[N, 2 n_mels]`` spectral profiles."""
  images = np.asarray(images, np.float64)
  if images.ndim != 4:
    raise ValueError(f"images must be [N, frames, n_mels, 1], got {images.shape}")
  x = images[..., 0]
  return np.concatenate([x.mean(1), x.std(1)], axis=1)


def clip_scores(rows: Sequence[Rating], population_size: int) -> dict[str, float]:
  """The surrogate's targets: each rated population clip's mean per-rater z-score
  (spam-guard rater weights), from one generation's star ``rows``; the base
  generator's clips (individual ``population_size``) are left out."""
  rows = [r for r in rows if r.individual < population_size]
  if not rows:
    return {}
  clip_ids = sorted({r.clip_id for r in rows})
  index = {c: i for i, c in enumerate(clip_ids)}
  as_items = [r._replace(individual=index[r.clip_id]) for r in rows]
  stars = aggregate.Stars.from_rows(as_items, len(clip_ids))
  fit = aggregate.zscore_mean(stars, aggregate.rater_weights(stars))
  return {
    c: float(v) for c, v in zip(clip_ids, fit.value, strict=True) if np.isfinite(v)
  }


class Surrogate:
  """Ridge regression from :func:`clip_features` to per-clip rating scores.

  Args:
    alpha: ridge penalty (features are standardised first).
  """

  def __init__(self, alpha: float = 10.0):
    if alpha <= 0:
      raise ValueError(f"alpha must be positive, got {alpha}")
    self.alpha = alpha
    self._model = None
    self.num_examples = 0

  def fit(self, images: np.ndarray, scores: np.ndarray) -> float:
    """Fits on rated clips; returns the 5-fold cross-validated R^2 (NaN if < 10)."""
    x = clip_features(images)
    y = np.asarray(scores, np.float64)
    if y.shape != (len(x),) or not np.all(np.isfinite(y)):
      raise ValueError(f"scores must be {len(x)} finite numbers, got shape {y.shape}")
    if len(y) < 2:
      raise ValueError(f"the surrogate needs at least 2 rated clips, got {len(y)}")
    self._model = self._pipeline().fit(x, y)
    self.num_examples = len(y)
    if len(y) < 10:
      return float("nan")
    folds = sklearn.model_selection.KFold(5, shuffle=True, random_state=0)
    return float(
      sklearn.model_selection.cross_val_score(
        self._pipeline(), x, y, cv=folds, scoring="r2"
      ).mean()
    )

  def predict(self, images: np.ndarray) -> np.ndarray:
    if self._model is None:
      raise RuntimeError("Surrogate.predict before fit")
    return self._model.predict(clip_features(images))

  def _pipeline(self):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), sklearn.linear_model.Ridge(self.alpha))


def fill_unrated(
  history: Sequence[tuple[Sequence[Rating], np.ndarray, Sequence[str]]],
  value: np.ndarray,
  unrated: Sequence[int],
  *,
  population_size: int,
  alpha: float = 10.0,
) -> tuple[np.ndarray, float]:
  """Fills the fitness of ``unrated`` individuals with the surrogate's prediction.

  Args:
    history: per generation so far, ``(star rows, mel images, clip ids)`` of its
      population; the last entry is the generation to fill. The surrogate is fitted
      on every rated population clip in it.
    value: the generation's fitness per item (rated individuals filled in).
    unrated: the individuals to predict (the mean over their clips).
    population_size: ``P``; images are individual-major, ``k`` clips each.
    alpha: the ridge penalty.

  Returns:
    The filled copy of ``value`` and the surrogate's cross-validated R^2.
  """
  xs, ys = [], []
  for rows, images, ids in history:
    scores = clip_scores(rows, population_size)
    keep = [i for i, c in enumerate(ids) if c in scores]
    xs.append(images[keep])
    ys.append([scores[ids[i]] for i in keep])
  model = Surrogate(alpha)
  r2 = model.fit(np.concatenate(xs), np.concatenate(ys))
  images = history[-1][1]
  predicted = model.predict(images).reshape(population_size, -1).mean(1)
  value = np.array(value, np.float64)
  value[list(unrated)] = predicted[list(unrated)]
  return value, r2
