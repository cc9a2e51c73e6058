"""How well scores separate anomalies from clean clips: AUROC and DCASE's pAUC."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def auroc(clean_scores, anomalous_scores) -> float:
  """Area under the ROC curve of ``anomalous > clean`` (0.5 = chance)."""
  clean, bad = np.asarray(clean_scores), np.asarray(anomalous_scores)
  labels = np.concatenate([np.zeros(len(clean)), np.ones(len(bad))])
  return float(roc_auc_score(labels, np.concatenate([clean, bad])))


def pauc(clean_scores, anomalous_scores, max_fpr: float = 0.1) -> float:
  """The DCASE 2020 Task 2 pAUC: the ROC area for false-positive rates up to
  ``max_fpr``, divided by ``max_fpr`` (so a perfect detector scores 1 and chance
  ``max_fpr / 2``; sklearn's ``max_fpr`` would McClish-standardise it instead)."""
  clean, bad = np.asarray(clean_scores), np.asarray(anomalous_scores)
  labels = np.concatenate([np.zeros(len(clean)), np.ones(len(bad))])
  fpr, tpr, _ = roc_curve(labels, np.concatenate([clean, bad]), drop_intermediate=False)
  keep = fpr <= max_fpr
  x, y = fpr[keep], tpr[keep]
  if x[-1] < max_fpr:  # close the area at max_fpr on the next ROC segment
    j = int(np.argmax(~keep))
    slope = (tpr[j] - tpr[j - 1]) / max(fpr[j] - fpr[j - 1], 1e-12)
    x = np.append(x, max_fpr)
    y = np.append(y, tpr[j - 1] + slope * (max_fpr - fpr[j - 1]))
  return float(np.trapezoid(y, x) / max_fpr)
