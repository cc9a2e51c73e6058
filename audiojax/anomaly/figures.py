"""Figures of the ``anomaly`` experiment: the AUROC heat map (detector x fault) and
the score histograms of clean vs faulty clips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from audiojax.train import report


def _plt():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def auroc_heatmap(
  path: str, table: Mapping[str, Mapping[str, float]], title: str
) -> None:
  """``table[detector][fault]`` as a heat map (0.5, chance, white; 1 dark)."""
  report.heatmap_png(
    path, table, cmap="Greens", vmin=0.5, vmax=1.0, title=title, fontsize=7, rotation=40
  )


def score_histograms(
  path: str,
  clean: np.ndarray,
  faulty: Mapping[str, np.ndarray],
  threshold: float | None,
  title: str,
  columns: int = 4,
) -> None:
  """One panel per fault: the clean scores against the faulty ones (log-scaled
  where the scores are positive), the calibrated threshold as a line."""
  plt = _plt()
  names: Sequence[str] = list(faulty)
  rows = -(-len(names) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.2 * rows))
  axes = np.atleast_1d(axes).ravel()
  positive = bool(np.all(clean > 0) and all(np.all(v > 0) for v in faulty.values()))
  transform = np.log10 if positive else (lambda v: v)
  for ax, name in zip(axes, names, strict=False):
    a, b = transform(clean), transform(faulty[name])
    bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 30)
    ax.hist(a, bins, alpha=0.6, label="clean")
    ax.hist(b, bins, alpha=0.6, label=name)
    if threshold is not None and (threshold > 0 or not positive):
      ax.axvline(transform(threshold), color="k", lw=1, ls="--")
    ax.set_title(name, fontsize=8)
    ax.tick_params(labelsize=6)
  for ax in axes[len(names) :]:
    ax.axis("off")
  fig.suptitle(title + (" (log10 score)" if positive else ""), fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
