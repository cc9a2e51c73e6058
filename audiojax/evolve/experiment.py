"""The ``human_ga`` experiment: a GA session rated by a simulated panel, headless.

The panel's hidden taste is brightness (``raters``): unless ``panel.target_hz`` is
given, it prefers clips ``panel.target_octaves`` brighter than the median of what the
base generator makes, measured on clips the session never publishes. The results are
the numbers a human run would show: the mean rating of every generation's population
and of the base generator's own clips, the gain from generation 0 to the last with a
95 % bootstrap interval over raters, and how the clips changed (brightness, onsets,
frame continuity).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np

from audiojax import audio as audio_lib
from audiojax.evolve import base
from audiojax.evolve.session import Session
from audiojax.generate import metrics
from audiojax.ratings import aggregate, bootstrap
from audiojax.ratings import panel as raters

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def make_panel(
  config: ml_collections.ConfigDict, session: Session
) -> raters.SimulatedPanel:
  """The simulated panel of ``config.panel``, its target set from the base clips."""
  pc = config.panel
  target = pc.target_hz
  if not target:
    n = config.base_clips or 8  # Measured on unpublished clips, even without base.
    keys = jax.random.split(jax.random.fold_in(session.root_key, 999_983), n)
    _, audio = session.render(
      session.generator.params, jnp.zeros((n, session.genome.size)), keys
    )
    base = float(np.median(raters.brightness(audio, session.spec.sample_rate)))
    target = base * 2.0**pc.target_octaves
  panel = raters.make_panel(
    pc.seed,
    honest=pc.honest,
    random=pc.random,
    constant=pc.constant,
    adversarial=pc.adversarial,
    target_hz=float(target),
    width_octaves=pc.width_octaves,
    bias_std=pc.bias_std,
    noise=pc.noise,
  )
  return raters.SimulatedPanel(panel, session.spec.sample_rate)


def _mean_ci(store, generations: list[int], individuals, seed: int):
  """Mean stars of the chosen individuals' clips per generation, with the gain from
  the first to the last generation and its 95 % rater-bootstrap interval."""
  rows = []
  for item, g in enumerate(generations):
    rows += [r._replace(individual=item) for r in store.ratings(g) if individuals(r)]
  stars = aggregate.Stars.from_rows(rows, len(generations))
  means = aggregate.mean_rating(stars).value
  gain = lambda s: np.atleast_1d(
    aggregate.mean_rating(s).value[-1] - aggregate.mean_rating(s).value[0]
  )
  ci = bootstrap.bootstrap_ci(gain, stars, n_boot=2000, seed=seed)
  return (
    [float(m) for m in means],
    float(ci.estimate[0]),
    float(ci.low[0]),
    float(ci.high[0]),
  )


def summarize(session: Session, generations: int) -> dict[str, Any]:
  """The numbers of ``results.json`` for a finished session."""
  store, p, sr = session.store, session.population_size, session.spec.sample_rate
  gens = list(range(generations))
  seed = session.config.seed
  pop_means, gain, low, high = _mean_ci(store, gens, lambda r: r.individual < p, seed)
  base_means, base_gain, base_low, base_high = _mean_ci(
    store, gens, lambda r: r.individual == p, seed
  )
  log: dict[int, dict] = collections.defaultdict(dict)
  with open(os.path.join(session.workdir, "generations.jsonl")) as f:
    for line in f:
      rec = json.loads(line)
      log[rec["generation"]].update(rec)
  bright, onsets, change = [], [], []
  for g in gens:
    clips = [c for c in store.clips(g) if c.individual < p]
    audio = np.stack([audio_lib.load(c.file, sr=sr)[0] for c in clips])
    bright.append(float(raters.brightness(audio, sr).mean()))
    onsets.append(float(metrics.onset_peak_to_mean(audio, sr).mean()))
    images, _ = session.load_images(g)
    change.append(metrics.frame_change(images))
  votes = [len(store.ratings(g)) + len(store.comparisons(g)) for g in gens]
  results = {
    "generations": generations,
    "population_size": p,
    "genome_size": session.genome.size,
    "clips_per_individual": session.config.clips_per_individual,
    "mean_rating_per_generation": pop_means,
    "gain": gain,
    "gain_ci95": [low, high],
    "base_rating_per_generation": base_means,
    "base_gain": base_gain,
    "base_gain_ci95": [base_low, base_high],
    "votes_per_generation": votes,
    "human_votes_total": int(sum(votes)),
    "brightness_hz_per_generation": bright,
    "onset_peak_to_mean_per_generation": onsets,
    "frame_change_per_generation": change,
    "render_seconds_per_generation": [log[g].get("render_seconds") for g in gens],
    "finetune_seconds_per_generation": [log[g].get("finetune_seconds") for g in gens],
  }
  r2 = [log[g].get("surrogate_r2") for g in gens]
  if any(x is not None for x in r2):
    results["surrogate_r2_per_generation"] = r2
  return results


def _plot(path: str, results: dict[str, Any]) -> None:
  fig, ax = plt.subplots(figsize=(5, 3.2))
  gens = np.arange(results["generations"])
  ax.plot(gens, results["mean_rating_per_generation"], "o-", label="population")
  ax.plot(gens, results["base_rating_per_generation"], "s--", label="base generator")
  ax.set_xlabel("generation")
  ax.set_ylabel("mean rating (1-5)")
  ax.set_xticks(gens)
  ax.legend()
  ax.set_title(
    f"gain {results['gain']:+.2f} (95% CI {results['gain_ci95'][0]:+.2f}"
    f" to {results['gain_ci95'][1]:+.2f})",
    fontsize=9,
  )
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs ``config.generations`` generations with a simulated panel."""
  session = Session(config, workdir, generator=base.load(config, workdir))
  try:
    session.panel = make_panel(config, session)
    if session.state.generation == 0:
      session.store.set_meta("panel_target_hz", str(session.panel.raters[0].target_hz))
    session.run(config.generations)
    results = summarize(session, config.generations)
    results["panel_target_hz"] = session.panel.raters[0].target_hz
    _plot(os.path.join(workdir, "ratings.png"), results)
    session.store.export_csv(os.path.join(workdir, "ratings.csv"))
    return results
  finally:
    session.close()
