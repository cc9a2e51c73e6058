"""Figures of the unlearning experiments: exposure and the accuracy it costs, per
method, beside the original and retrained models."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def methods_png(
  path: str,
  table: Mapping[str, Mapping[str, float]],
  columns: tuple[str, ...],
  title: str,
  reference: str = "retrain",
) -> None:
  """One bar chart per column, a bar per method, the ``reference`` row dashed."""
  names = [n for n in table if n != "original"] + (
    ["original"] if "original" in table else []
  )
  cols = [c for c in columns if all(c in table[n] for n in names)]
  fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3.6), squeeze=False)
  for ax, col in zip(axes[0], cols, strict=True):
    values = [table[n][col] for n in names]
    colors = ["tab:gray" if n in ("original", reference) else "tab:blue" for n in names]
    ax.bar(range(len(names)), values, color=colors)
    if reference in table:
      ax.axhline(table[reference][col], color="k", ls="--", lw=1)
    ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
    ax.set_title(col, fontsize=9)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def exposure_png(
  path: str,
  table: Mapping[str, Mapping[str, float]],
  exposure: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> None:
  """The patient's exposure (MIA AUC, attack success) and accuracies per method;
  the title gives the population and personalized models' MIA AUC per patient."""
  attack = sorted(k for k in table["retrain"] if k.startswith("fgsm_"))[-1:]
  before = ", ".join(
    f"patient {p}: {e['population']['patient_mia_auc']:.2f} -> "
    f"{e['personalized']['patient_mia_auc']:.2f}"
    for p, e in exposure.items()
  )
  methods_png(
    path,
    table,
    (
      "mia_auc",
      "patient_mia_auc",
      *attack,
      "forget_acc",
      "heldout_acc",
      "test_acc",
      "forget_score",
    ),
    f"after unlearning (patient MIA AUC, population -> personalized: {before})",
  )
