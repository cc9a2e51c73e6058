"""Markdown tables of the ``attacks`` experiment's results (``tables.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _fmt(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:.3f}"
  return str(v)


def grid(rows: Mapping[str, Mapping[str, Any]], corner: str) -> str:
  """A table with one row per key of ``rows`` and one column per inner key."""
  columns: list[str] = []
  for row in rows.values():
    columns += [c for c in row if c not in columns and not isinstance(row[c], dict)]
  lines = [
    "| " + " | ".join([corner, *columns]) + " |",
    "|" + " --- |" * (len(columns) + 1),
  ]
  for name, row in rows.items():
    lines.append(
      "| " + " | ".join([name, *(_fmt(row.get(c, "")) for c in columns)]) + " |"
    )
  return "\n".join(lines) + "\n"


def robust(results: Mapping[str, Any]) -> str:
  """Accuracy per attack and budget (the quickstart's table)."""
  out = [
    f"clean accuracy: {results['clean_accuracy']:.3f} on {results['examples']} clips\n"
  ]
  names = {"linf": "L-inf eps", "l2": "L2 eps", "snr_db": "SNR budget (dB)"}
  for kind, table in results["robust_accuracy"].items():
    out.append(f"\naccuracy under attack, {names[kind]}\n\n")
    out.append(grid(table, "attack"))
  return "".join(out)


def everything(results: Mapping[str, Any]) -> str:
  """Every table the results hold."""
  parts = []
  if "robust_accuracy" in results:
    parts.append("## Robust accuracy\n\n" + robust(results))
  if "transfer" in results:
    parts.append(
      "## Transfer (success rate, source rows, target columns)\n\n"
      + grid(results["transfer"], "source")
    )
  if "codecs" in results:
    parts.append("## Codecs\n\n" + grid(results["codecs"], "codec"))
  if "over_the_air" in results:
    parts.append("## Over the air\n\n" + grid({"": results["over_the_air"]}, ""))
  if "universal" in results:
    parts.append("## Universal perturbation\n\n" + grid({"": results["universal"]}, ""))
  if "transcription" in results:
    t = results["transcription"]
    rows = {
      "ours, untargeted": t["untargeted_f1"],
      "ours, targeted (vs reference)": t["targeted_f1"],
      "ours, targeted (vs target)": t["targeted_f1_to_target"],
    }
    if "basic_pitch" in t:
      rows["basic-pitch, transfer"] = t["basic_pitch"]["transfer_f1"]
      rows["basic-pitch, black box"] = t["basic_pitch"]["black_box_f1"]
    parts.append("## Transcription (note F1 per SNR budget, dB)\n\n" + grid(rows, ""))
  if "defenses" in results:
    d = results["defenses"]
    rows = {}
    for name, row in d["adversarial_training"].items():
      flat = {"clean": row["clean_accuracy"]}
      for attack in ("pgd", "apgd_ce"):
        flat.update({f"{attack} {e}": v for e, v in row[attack].items()})
      rows[name] = flat
    parts.append("## Adversarial training (accuracy)\n\n" + grid(rows, "method"))
    parts.append("## Input transforms\n\n" + grid(d["input_transforms"], "defense"))
  if "quality" in results:
    parts.append(
      "## Quality of the adversarial sets\n\n" + grid(results["quality"], "set")
    )
  return "\n".join(parts)
