"""What a run leaves for people: ``results.json``, ``results.md`` and figures.

``results.json`` holds the numbers (machine-readable, the contract other scripts read);
``results.md`` renders the same numbers as a table, scalars only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging

from audiojax import distributed


def _fmt(value: Any) -> str:
  if isinstance(value, float):
    return f"{value:.4f}"
  return str(value)


def rows_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
  """The lines of a markdown table; floats with 3 decimals (NaN as ``nan``), None
  as a dash."""

  def cell(v: Any) -> str:
    if v is None:
      return "–"
    if isinstance(v, float):
      return "nan" if v != v else f"{v:.3f}"
    return str(v)

  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def markdown_table(results: Mapping[str, Any], title: str) -> str:
  """A two-column table of the scalar entries of ``results``."""
  lines = [f"# {title}", "", "| metric | value |", "| --- | --- |"]
  for key, value in results.items():
    if isinstance(value, bool | int | float | str):
      lines.append(f"| {key} | {_fmt(value)} |")
  return "\n".join(lines) + "\n"


def write_results(workdir: str, results: Mapping[str, Any], title: str) -> str:
  """Writes ``results.json`` and ``results.md`` atomically (the primary process of
  a multi-process run; the others only return it); returns the markdown."""
  table = markdown_table(results, title)
  if not distributed.is_primary():
    return table
  for name, text in (
    ("results.json", json.dumps(results, indent=2) + "\n"),
    ("results.md", table),
  ):
    path = os.path.join(workdir, name)
    with open(path + ".tmp", "w") as f:
      f.write(text)
    os.replace(path + ".tmp", path)
  return table


def previous_results(
  workdir: str, results: Mapping[str, Any], same: Sequence[str]
) -> dict[str, Any]:
  """The last ``results.json`` of ``workdir`` if it agrees with ``results`` on every
  key of ``same`` (the same data, clips or target), else ``{}``: what a rerun of some
  sections of a runner may keep of the others."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    old = json.load(f)
  differ = [k for k in same if old.get(k) != results[k]]
  if differ:
    logging.warning("%s differs in %s; its sections are not kept", path, differ)
    return {}
  return old


def confusion_png(
  path: str,
  confusion: Sequence[Sequence[int]],
  class_names: Sequence[str],
  *,
  title: str = "confusion",
) -> None:
  """Saves a confusion-matrix heat map with counts (rows: true, columns: predicted)."""
  if not distributed.is_primary():
    return
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  counts = np.asarray(confusion)
  n = len(class_names)
  fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
  ax.imshow(
    counts / np.maximum(counts.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1
  )
  for i in range(n):
    for j in range(n):
      if counts[i, j]:
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8)
  ax.set_xticks(range(n), class_names, rotation=45, ha="right")
  ax.set_yticks(range(n), class_names)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def heatmap_png(
  path: str,
  table: Mapping[str, Mapping[str, float]],
  *,
  cmap: str,
  vmin: float,
  vmax: float,
  title: str,
  xlabel: str = "",
  ylabel: str = "",
  fontsize: int = 8,
  rotation: int = 35,
) -> None:
  """Saves ``table[row][column]`` as a heat map with each value printed in its cell."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  rows, cols = list(table), list(next(iter(table.values())))
  values = np.array([[table[r][c] for c in cols] for r in rows], float)
  fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(cols), 1.0 + 0.5 * len(rows)))
  ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
  for i in range(len(rows)):
    for j in range(len(cols)):
      ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=fontsize)
  ax.set_xticks(range(len(cols)), cols, rotation=rotation, ha="right")
  ax.set_yticks(range(len(rows)), rows)
  ax.set(xlabel=xlabel, ylabel=ylabel)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
