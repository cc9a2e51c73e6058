"""Markdown tables of an unlearning study: ours, and SalUn's layout beside SalUn's
own CIFAR-10 numbers (Fan et al., 2024, Table 3: ResNet-18, 10 % random forgetting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiojax.train import report

# SalUn, Table 3 (CIFAR-10, ResNet-18, random 10 % forgetting): UA, RA, TA,
# MIA-efficacy (all %), run time (minutes).
SALUN_CIFAR10 = {
  "retrain": (5.24, 100.00, 94.26, 12.88, 43.29),
  "finetune": (0.63, 99.88, 94.06, 2.70, 2.37),
  "neggrad": (0.69, 99.50, 94.01, 1.70, 0.13),
  "l1_sparse": (4.19, 97.74, 91.59, 9.84, 2.36),
  "salun": (2.85, 99.62, 93.93, 14.39, 2.66),
}

COLUMNS = (
  "forget_acc",
  "retain_acc",
  "test_acc",
  "heldout_acc",
  "mia_auc",
  "mia_efficacy",
  "forget_score",
  "seconds",
  "seconds_vs_retrain",
)


_table = report.rows_table


def _order(table: Mapping[str, Any]) -> list[str]:
  first = [n for n in ("original", "retrain") if n in table]
  return first + [n for n in table if n not in first]


def methods_md(table: Mapping[str, Mapping[str, float]], columns=COLUMNS) -> str:
  """One row per method (original and retrain first), the given columns."""
  extra = sorted(
    k for k in table.get("retrain", {}) if k.startswith(("fgsm_", "pgd_", "patient_"))
  )
  cols = [*columns[:6], *extra, *columns[6:]]
  rows = [[n, *(table[n].get(c) for c in cols)] for n in _order(table)]
  return "\n".join(_table(["method", *cols], rows)) + "\n"


def salun_md(table: Mapping[str, Mapping[str, float]], anchor: bool = True) -> str:
  """SalUn's columns (UA = 100 − forget accuracy, RA, TA, MIA-efficacy, in %; run
  time in seconds), with SalUn's CIFAR-10 random-forgetting numbers beside each
  method it reports when ``anchor``."""
  rows = []
  for n in _order(table):
    r = table[n]
    ours = [
      100 * (1 - r["forget_acc"]),
      100 * r["retain_acc"],
      100 * r["test_acc"],
      100 * r["mia_efficacy"],
      r.get("seconds"),
    ]
    theirs = SALUN_CIFAR10.get(n) if anchor else None
    paper = (
      " / ".join(f"{v:g}" for v in theirs[:4]) + f" / {theirs[4]:g} min"
      if theirs
      else None
    )
    rows.append([n, *ours, r.get("forget_score"), paper])
  header = [
    "method",
    "UA",
    "RA",
    "TA",
    "MIA-eff.",
    "seconds",
    "forget score",
    "SalUn CIFAR-10 (UA/RA/TA/MIA/time)",
  ]
  return "\n".join(_table(header, rows)) + "\n"
