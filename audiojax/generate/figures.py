"""Figures of the generator: real and generated mel images side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def real_vs_generated_png(
  path: str,
  real: np.ndarray,
  generated: np.ndarray,
  family: np.ndarray,
  names: Sequence[str],
  *,
  per_side: int = 2,
) -> None:
  """A grid: one row per family, ``per_side`` real then ``per_side`` generated images.

  Args:
    path: the PNG to write.
    real, generated: ``[N, frames, mels, 1]`` images in [-1, 1], row i conditioned
      like real row i.
    family: ``[N]`` family index of each row.
    names: family names.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rows = [f for f in range(len(names)) if np.any(family == f)]
  cols = 2 * per_side
  fig, axes = plt.subplots(
    len(rows), cols, figsize=(1.6 * cols, 1.4 * len(rows)), squeeze=False
  )
  for r, f in enumerate(rows):
    picks = np.flatnonzero(family == f)[:per_side]
    for c in range(cols):
      ax = axes[r, c]
      ax.set_xticks([])
      ax.set_yticks([])
      side, j = (real, c) if c < per_side else (generated, c - per_side)
      if j < len(picks):
        # Time runs left to right, low mels at the bottom.
        ax.imshow(
          side[picks[j], :, :, 0].T,
          origin="lower",
          aspect="auto",
          vmin=-1,
          vmax=1,
          cmap="magma",
        )
      if r == 0:
        ax.set_title("real" if c < per_side else "generated", fontsize=8)
      if c == 0:
        ax.set_ylabel(names[f], fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
