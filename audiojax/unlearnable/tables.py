"""The ``unlearnable`` experiment's results as markdown tables (``tables.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiojax.train import report

QUALITY_COLUMNS = (
  ("snr_db_mean", "SNR dB"),
  ("lsd_db_mean", "LSD dB"),
  ("pesq_wb_mean", "PESQ"),
  ("frechet", "Fréchet"),
  ("frechet_floor", "Fréchet, two clean halves"),
)


def _main(r: Mapping[str, Any]) -> list[str]:
  out = []
  for dataset, by_model in r["clean"].items():
    chance = r["chance"][dataset]
    out += [
      f"### {dataset}: clean-test accuracy after training on each set "
      f"(chance {chance:.3f}, PosCUDA's goal <= {chance + 0.1:.3f})",
      "",
    ]
    out += report.rows_table(
      ["front end + model", "clean", "CUDA", "PosCUDA"],
      [
        [
          m,
          acc,
          r["cuda"].get(dataset, {}).get(m),  # None: not trained (a dash)
          r["poscuda"].get(dataset, {}).get(m),
        ]
        for m, acc in by_model.items()
      ],
    )
    out.append("")
  return out


def _poison(p: Mapping[str, Any]) -> list[str]:
  methods = [k for k, v in p.items() if isinstance(v, dict)]
  rates = list(p[methods[0]])
  out = [f"### Poison rate ({p['dataset']}, {p['model']}): clean-test accuracy", ""]
  return (
    out
    + report.rows_table(
      ["method", *rates], [[m, *(p[m][x] for x in rates)] for m in methods]
    )
    + [""]
  )


def _knobs(k: Mapping[str, Any], q: Mapping[str, Any]) -> list[str]:
  out = [f"### PosCUDA knobs ({k['dataset']}, {k['model']}): one moved at a time", ""]
  rows = []
  for knob, by_value in k.items():
    if not isinstance(by_value, dict):
      continue
    for value, row in by_value.items():
      quality = q.get(row["setting"], {})
      rows.append(
        [
          f"{knob} = {value}",
          row["accuracy"],
          *(quality.get(c) for c, _ in QUALITY_COLUMNS),
        ]
      )
  header = ["setting", "accuracy", *(name for _, name in QUALITY_COLUMNS)]
  return out + report.rows_table(header, rows) + [""]


def _defenses(d: Mapping[str, Any]) -> list[str]:
  names = [k for k, v in d.items() if isinstance(v, dict)]
  names.sort(key=lambda n: n != "none")  # the undefended row first
  columns = [c for c in d[names[0]] if c != "about"]
  columns.sort(key=lambda c: c != "clean")  # what the defense costs, first
  out = [
    f"### Defenses ({d['dataset']}, {d['model']}): clean-test accuracy of a model "
    "trained on each set with the defense",
    "",
  ]
  return (
    out
    + report.rows_table(
      ["defense", *columns],
      [[d[n]["about"], *(d[n][c] for c in columns)] for n in names],
    )
    + [""]
  )


def _quality(q: Mapping[str, Any]) -> list[str]:
  out = ["### Quality of the protected clips (changed clips only)", ""]
  return (
    out
    + report.rows_table(
      ["setting", "clips", *(name for _, name in QUALITY_COLUMNS)],
      [
        [name, row.get("changed"), *(row.get(c) for c, _ in QUALITY_COLUMNS)]
        for name, row in q.items()
      ],
    )
    + [""]
  )


def render(results: Mapping[str, Any]) -> str:
  lines = ["# Unlearnable audio: PosCUDA and CUDA", ""]
  if "clean" in results:
    lines += _main(results)
  if "poison_rate" in results:
    lines += _poison(results["poison_rate"])
  if "knobs" in results:
    lines += _knobs(results["knobs"], results.get("quality", {}))
  if "defenses" in results:
    lines += _defenses(results["defenses"])
  if "quality" in results:
    lines += _quality(results["quality"])
  return "\n".join(lines)
