"""Figures of the ``attacks`` experiment, drawn from its results into the run dir:
robust accuracy vs eps and vs SNR, the transfer heat map, and a clean vs adversarial
log-mel spectrogram."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from audiojax import features
from audiojax.train import report


def _plt():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def _curves(path, table: Mapping[str, Mapping[str, float]], clean, xlabel, reverse):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for attack, row in sorted(table.items()):
    budgets = sorted(row, key=float, reverse=reverse)
    ax.plot([float(b) for b in budgets], [row[b] for b in budgets], "o-", label=attack)
  if clean is not None:
    ax.axhline(clean, color="gray", ls="--", lw=1, label="clean")
  if reverse:
    ax.invert_xaxis()
  else:
    ax.set_xscale("log")
  ax.set(xlabel=xlabel, ylabel="accuracy", ylim=(-0.02, 1.02))
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _heatmap(path, table: Mapping[str, Mapping[str, float]]):
  report.heatmap_png(
    path,
    table,
    cmap="Reds",
    vmin=0,
    vmax=1,
    title="transfer success rate",
    xlabel="target",
    ylabel="source",
  )


def _spectrograms(path, clean: np.ndarray, adv: np.ndarray, sr: int, name: str):
  plt = _plt()

  def db(v):
    mel = features.melspectrogram(y=v, sr=sr, n_fft=1024, hop_length=256, n_mels=64)
    return 10 * np.log10(np.maximum(np.asarray(mel), 1e-10))

  a, b = db(clean), db(adv)
  fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
  for ax, img, title in (
    (axes[0], a, "clean"),
    (axes[1], b, f"adversarial ({name})"),
    (axes[2], b - a, "difference (dB)"),
  ):
    im = ax.imshow(img, origin="lower", aspect="auto", cmap="magma")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
  axes[0].set_ylabel("mel band")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def draw(
  workdir: str,
  results: Mapping[str, Any],
  x: Any,
  adv_sets: Mapping[str, Any],
  sample_rate: int,
) -> None:
  """Every figure whose numbers ``results`` holds."""
  robust = results.get("robust_accuracy", {})
  clean = results.get("clean_accuracy")
  if robust.get("linf"):
    _curves(
      os.path.join(workdir, "robust_vs_eps.png"),
      robust["linf"],
      clean,
      "L-inf eps",
      False,
    )
  if robust.get("snr_db"):
    _curves(
      os.path.join(workdir, "robust_vs_snr.png"),
      robust["snr_db"],
      clean,
      "SNR budget (dB)",
      True,
    )
  if results.get("transfer"):
    _heatmap(os.path.join(workdir, "transfer.png"), results["transfer"])
  pgd = sorted(
    (k for k in adv_sets if k.startswith("pgd_linf_")), key=lambda k: float(k[9:])
  )
  if pgd:
    name = pgd[-1]
    _spectrograms(
      os.path.join(workdir, "spectrogram.png"),
      np.asarray(x[0]),
      np.asarray(adv_sets[name][0]),
      sample_rate,
      name,
    )
