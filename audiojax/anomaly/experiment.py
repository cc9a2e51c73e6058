"""The ``anomaly`` experiment: faulty recordings, mislabels, wrong notes, adversarial
inputs, each detector against its peers.

  python -m launch.run --config=experiments/anomaly.py:runlocal --workdir=runs/anomaly

Sections (``config.sections``), one key of ``results.json`` each:

* ``faults``: every detector of ``config.detectors`` (and the pyod peers of
  ``config.peers``, under ``peers``) is fit on clean training clips of each data set of
  ``config.datasets``, calibrated on clean validation clips, and scores clean test
  clips against the same clips with each fault of :data:`audiojax.data.faults.FAULTS`
  at each of ``config.severities`` (those the fault changed: a dropout inside a
  keyword's digital silence changes nothing and is not counted).
  ``faults[detector][fault][severity]`` holds the AUROC and DCASE pAUC averaged over
  the data sets, and per data set also the share of faulty clips flagged at the
  calibrated threshold and how many clips the fault changed. The fitted detectors
  are saved under ``workdir/detectors/DATASET/NAME`` (``python -m launch.monitor
  --detector=...`` uses them), and a rerun loads them instead of fitting again.
* ``mislabels``: out-of-fold probabilities of K classifiers trained as one pytree on
  labels with injected noise, ranked by cleanlab and by the self-confidence baseline
  (:mod:`audiojax.anomaly.mislabels`).
* ``notes``: annotation errors injected into the test notes, scored by disagreement
  with a trained transcriber's frame probabilities (:mod:`audiojax.anomaly.notes`).
* ``adversarial``: PGD, universal and over-the-air (EOT) examples against the data
  set's classifier, scored by every detector and by a supervised detector trained on
  PGD examples; then an adaptive attacker who knows the supervised detector
  (:mod:`audiojax.anomaly.adversarial`).

``tables.md`` holds every table. Figures: ``auroc_DATASET.png`` (detector x fault at
the middle severity) and ``scores_DATASET.png`` (clean vs faulty score histograms of
the best detector).
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from audiojax.anomaly import (
  figures,
  metrics,
  sections,
  tables,
)
from audiojax.anomaly.workspace import Collection, fitted_detectors, key_of
from audiojax.configs import check_sections
from audiojax.data import faults
from audiojax.train import report

SECTIONS = ("faults", "mislabels", "notes", "adversarial")


def _mean(values) -> float:
  return float(np.mean([v for v in values if np.isfinite(v)]))


def faults_section(config, datasets, workdir, root) -> dict[str, Any]:
  per_ds: dict[str, dict[str, Any]] = {}
  false_alarms: dict[str, dict[str, float]] = {}
  for ds in datasets.values():
    detectors = fitted_detectors(config, ds, workdir)
    test, _ = ds.clips("test", config.test_examples)
    test_np = np.asarray(test)
    clean = {n: d.score(test_np) for n, d in detectors.items()}
    false_alarms[ds.name] = {
      n: float(np.mean(clean[n] > d.threshold())) for n, d in detectors.items()
    }
    table: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in detectors}
    middle = config.severities[len(config.severities) // 2]
    histograms: dict[str, dict[str, np.ndarray]] = {n: {} for n in detectors}
    for fault in config.faults:
      for severity in config.severities:
        x = np.asarray(
          faults.inject(fault, test, ds.sample_rate, key_of(root, fault), severity)
        )
        # A fault can leave a clip as it was (a dropout in a keyword's digital
        # silence): only the clips it changed count as faulty.
        changed = np.max(np.abs(x - test_np), axis=-1) > 0
        x = x[changed]
        for name, detector in detectors.items():
          s = detector.score(x) if len(x) else np.zeros(0)
          table[name].setdefault(fault, {})[str(severity)] = {
            "auroc": metrics.auroc(clean[name], s) if len(x) else float("nan"),
            "pauc": metrics.pauc(clean[name], s) if len(x) else float("nan"),
            "flagged": float(np.mean(s > detector.threshold())) if len(x) else 0.0,
            "changed": int(changed.sum()),
          }
          if severity == middle:
            histograms[name][fault] = s
    per_ds[ds.name] = table
    _draw(workdir, ds.name, table, clean, histograms, detectors, middle, config)

  names = list(next(iter(per_ds.values())))
  combined: dict[str, Any] = {}
  for name in names:
    combined[name] = {}
    for fault in config.faults:
      combined[name][fault] = {}
      for severity in map(str, config.severities):
        cells = {d: per_ds[d][name][fault][severity] for d in per_ds}
        combined[name][fault][severity] = {
          "auroc": _mean(c["auroc"] for c in cells.values()),
          "pauc": _mean(c["pauc"] for c in cells.values()),
          **cells,
        }
  return {"table": combined, "false_alarms": false_alarms}


def _draw(workdir, ds_name, table, clean, histograms, detectors, middle, config):
  heat = {
    n: {f: table[n][f][str(middle)]["auroc"] for f in config.faults} for n in table
  }
  figures.auroc_heatmap(
    os.path.join(workdir, f"auroc_{ds_name}.png"),
    heat,
    f"AUROC per fault at severity {middle} ({ds_name})",
  )
  best = max(config.detectors, key=lambda n: np.mean(list(heat[n].values())))
  figures.score_histograms(
    os.path.join(workdir, f"scores_{ds_name}.png"),
    clean[best],
    histograms[best],
    detectors[best].threshold(),
    f"{best} scores, clean vs severity {middle} ({ds_name})",
  )


def summary(config, table: dict[str, Any]) -> dict[str, Any]:
  """Mean AUROC per detector (over faults and severities, and at the middle
  severity), and the best detector of each fault at the middle severity."""
  middle = str(config.severities[len(config.severities) // 2])
  out: dict[str, Any] = {"mean_auroc": {}, "mean_auroc_middle": {}, "best_middle": {}}
  for name, row in table.items():
    out["mean_auroc"][name] = _mean(
      cell["auroc"] for by_sev in row.values() for cell in by_sev.values()
    )
    out["mean_auroc_middle"][name] = _mean(row[f][middle]["auroc"] for f in row)
  for fault in config.faults:
    best = max(config.detectors, key=lambda n: table[n][fault][middle]["auroc"])
    out["best_middle"][fault] = {
      "detector": best,
      "auroc": table[best][fault][middle]["auroc"],
    }
  return out


# The keys a section writes; a rerun of some sections keeps the others' from the
# last results.json of the same data sets.
SECTION_KEYS = {
  "faults": ("faults", "peers", "false_alarms", "summary"),
  "mislabels": ("mislabels",),
  "notes": ("notes",),
  "adversarial": ("adversarial",),
}


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
  kept = {
    key: old[key]
    for section, keys in SECTION_KEYS.items()
    for key in keys
    if key in old and key not in new
  }
  return {**new, **kept}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  check_sections(config.sections, SECTIONS)
  unknown = set(config.faults) - set(faults.FAULTS)
  if unknown:
    raise ValueError(f"unknown faults {sorted(unknown)}; valid: {faults.FAULT_NAMES}")
  start = time.perf_counter()
  root = jax.random.key(config.seed)
  datasets = {n: Collection(n, e, config, workdir) for n, e in config.datasets.items()}
  results: dict[str, Any] = {
    "datasets": {n: e.name for n, e in config.datasets.items()},
    "severities": list(config.severities),
    "false_alarm_rate": config.false_alarm_rate,
  }
  timings = {}
  if "faults" in config.sections:
    t = time.perf_counter()
    section = faults_section(config, datasets, workdir, root)
    table = section["table"]
    results["faults"] = {n: table[n] for n in config.detectors}
    results["peers"] = {n: table[n] for n in config.peers}
    results["false_alarms"] = section["false_alarms"]
    results["summary"] = summary(config, table)
    timings["faults"] = time.perf_counter() - t
  if "mislabels" in config.sections:
    t = time.perf_counter()
    results["mislabels"] = sections.mislabels_section(config, datasets, workdir)
    timings["mislabels"] = time.perf_counter() - t
  if "notes" in config.sections:
    t = time.perf_counter()
    results["notes"] = sections.notes_section(config, workdir)
    timings["notes"] = time.perf_counter() - t
  if "adversarial" in config.sections:
    t = time.perf_counter()
    results["adversarial"] = sections.adversarial_section(
      config, datasets, workdir, root
    )
    timings["adversarial"] = time.perf_counter() - t
  previous = report.previous_results(workdir, results, ("datasets",))
  results = _merge(previous, results)
  results["section_seconds"] = {
    **previous.get("section_seconds", {}),
    **{k: round(v, 1) for k, v in timings.items()},
  }
  results["wall_seconds_this_invocation"] = round(time.perf_counter() - start, 1)
  with open(os.path.join(workdir, "tables.md"), "w") as f:
    f.write(tables.render(results))
  return results
