"""The ``anomaly`` experiment's results as markdown tables (``tables.md``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audiojax.train import report


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
  return report.rows_table(header, rows) + [""]


def _faults(results: Mapping[str, Any]) -> list[str]:
  table = {**results["faults"], **results["peers"]}
  severities = [str(s) for s in results["severities"]]
  middle = severities[len(severities) // 2]
  faults = list(next(iter(table.values())))
  summary = results["summary"]
  out = [
    f"### Faulty recordings: AUROC at severity {middle} "
    f"(mean over {', '.join(results['datasets'])})",
    "",
  ]
  out += _table(
    ["detector", *faults, "mean"],
    [
      [name, *(row[f][middle]["auroc"] for f in faults)]
      + [summary["mean_auroc_middle"][name]]
      for name, row in table.items()
    ],
  )
  out += [
    "AUROC by severity (mean over faults); DCASE pAUC (FPR <= 0.1) at " + middle,
    "",
  ]
  out += _table(
    ["detector", *(f"auroc@{s}" for s in severities), f"pauc@{middle}"],
    [
      [
        name,
        *(sum(row[f][s]["auroc"] for f in faults) / len(faults) for s in severities),
        sum(row[f][middle]["pauc"] for f in faults) / len(faults),
      ]
      for name, row in table.items()
    ],
  )
  rate = results["false_alarm_rate"]
  out += [f"Share flagged at the threshold calibrated for {rate:g} false alarms", ""]
  datasets = list(results["false_alarms"])
  out += _table(
    [
      "detector",
      *(f"false alarms ({d})" for d in datasets),
      *(f"flagged@{middle} ({d})" for d in datasets),
    ],
    [
      [
        name,
        *(results["false_alarms"][d][name] for d in datasets),
        *(
          sum(row[f][middle][d]["flagged"] for f in faults) / len(faults)
          for d in datasets
        ),
      ]
      for name, row in table.items()
    ],
  )
  return out


def _mislabels(m: Mapping[str, Any]) -> list[str]:
  settings = [k for k, v in m.items() if isinstance(v, dict)]
  rankers = ["self_confidence", "cleanlab", "cleanlab_both", "normalized_margin"]
  out = [
    f"### Mislabels ({m['dataset']}, {m['examples']} clips, {m['folds']} folds): "
    "precision at k = the true noise count (mean over the noise draws)",
    "",
  ]

  # p: "tta_" for the time-shift-averaged probabilities, "refit_" for pass 2
  def row(s: str, name: str, p: str = "") -> list[Any]:
    return [
      name,
      m[s]["k"],
      m[s][f"{p}out_of_fold_accuracy"],
      *(m[s][f"{p}{r}_precision_at_k"] for r in rankers),
      f"{m[s][f'{p}cleanlab_flagged']:.0f} "
      f"({m[s][f'{p}cleanlab_flagged_precision']:.2f} / "
      f"{m[s][f'{p}cleanlab_flagged_recall']:.2f})",
    ]

  rows = [row(s, s) for s in settings]
  rows += [
    row(s, f"{s}, softmax averaged over {m['tta_shifts']} time shifts", "tta_")
    for s in settings
    if "tta_out_of_fold_accuracy" in m[s]
  ]
  rows += [
    row(s, f"{s}, second pass ({m[s]['refit_left_out']:.0f} left out)", "refit_")
    for s in settings
    if "refit_left_out" in m[s]
  ]
  out += _table(
    ["noise", "k", "oof acc", *rankers, "cleanlab flagged (prec / rec)"], rows
  )
  return out


def _notes(n: Mapping[str, Any]) -> list[str]:
  kinds = [k for k, v in n.items() if isinstance(v, dict)]
  out = [f"### Wrong note annotations ({n['clips']} clips, rate {n['rate']:g})", ""]
  return out + _table(
    ["error", "AUROC", "errors", "notes scored"],
    [[k, n[k]["auroc"], n[k]["num_errors"], n[k]["num_notes"]] for k in kinds],
  )


def _adversarial(a: Mapping[str, Any]) -> list[str]:
  rows = {**a["sets"], **{f"adaptive (w={w})": r for w, r in a["adaptive"].items()}}
  detectors = list(next(iter(rows.values()))["auroc"])
  out = [
    f"### Adversarial inputs ({a['dataset']}, L-inf eps {a['eps']:g}, "
    f"{a['examples']} clips, clean accuracy {a['clean_accuracy']:.3f}): "
    "attack success and detection AUROC",
    "",
  ]
  return out + _table(
    ["attack", "success", *detectors],
    [
      [name, r["success_rate"], *(r["auroc"][d] for d in detectors)]
      for name, r in rows.items()
    ],
  )


def render(results: Mapping[str, Any]) -> str:
  lines: list[str] = []
  if "faults" in results:
    lines += _faults(results)
  if "mislabels" in results:
    lines += _mislabels(results["mislabels"])
  if "notes" in results:
    lines += _notes(results["notes"])
  if "adversarial" in results:
    lines += _adversarial(results["adversarial"])
  return "\n".join(lines)
