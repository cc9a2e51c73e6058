"""The human-in-the-loop session: rated generations that steer the music generator.

The loop of Singh et al., 2025 ("Improving AI-generated music with user-guided
training"), on our spectrogram generator. One generation ``g``:

1. **ask** -- generation 0 is random adapters around the base model (row 0 *is* the
   base); later ones come from the GA (``RatingGA.ask``).
2. **render + publish** -- every individual renders ``clips_per_individual`` clips,
   all from the same conditions and the same noise (common random numbers), in one
   ``jax.vmap`` per batch; each batch's WAVs are published to the ratings store as
   soon as they exist, so raters can start before the rest is rendered.
3. **fine-tune** -- the base generator is trained toward the previous generation's
   top-rated clips by reward-weighted regression (the flow-matching loss weighted by
   ``exp(fitness / temperature)`` over the elite), through the shared training loop
   in ``WORKDIR/finetune/gNNN``. It runs *after* this generation's population is
   published, so raters never wait for it; the population therefore uses the base of
   one generation earlier.
4. **base clips** -- the (fine-tuned) base renders ``base_clips`` clips from held-out
   noise, published as individual ``P`` (raters cannot tell them apart): the
   generator's own samples, rated blind, show whether fine-tuning helped.
5. **wait** until every clip has ``ratings.per_clip`` votes, ``ratings.timeout``
   passes, or an admin advances; a paused session waits.
6. **aggregate + tell** -- votes become one fitness per individual (per-rater
   z-scores or Bradley-Terry, rater weights against spam); individuals not sent to
   raters (``surrogate.rated_fraction < 1``) get the surrogate's prediction (or,
   with ``surrogate.predict=False``, NaN: failed evaluations the GA ranks last).

Orbax checkpoints (``WORKDIR/session``) are written after publishing (phase
``rating``) and after telling (phase ``render`` of the next generation); they hold the
GA state, population, fitness and base params. Ratings live in SQLite
(``WORKDIR/ratings.sqlite``) and are never rolled back. A process killed anywhere
resumes from the last checkpoint: rendering is deterministic and publishing
idempotent, so it republishes the same clips and finds every stored vote.

The pieces live beside this loop: clip files in :mod:`audiojax.evolve.clips`,
fine-tuning in :mod:`audiojax.evolve.finetune`, votes to fitness in
:func:`audiojax.evolve.aggregate.generation_fitness`, the surrogate in
:mod:`audiojax.evolve.surrogate`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax import audio as audio_lib
from audiojax.evolve import aggregate, clips, raters, surrogate
from audiojax.evolve import finetune as finetune_lib
from audiojax.evolve import render as render_lib
from audiojax.evolve.ga import RatingGA
from audiojax.evolve.genome import Genome
from audiojax.evolve.ratings import RatingStore
from audiojax.generate import data as gen_data
from audiojax.generate import diffusion
from audiojax.generate import experiment as gen_experiment
from audiojax.generate.unet import init_adapter
from audiojax.train.checkpoint import Checkpointer

PHASES = ("render", "rating")
META_PHASE, META_GENERATION = "phase", "generation"
META_PAUSED, META_ADVANCE = "paused", "advance_generation"


class SessionError(RuntimeError):
  """The session's workdir or config cannot be used."""


@dataclasses.dataclass(frozen=True)
class State:
  """What a session checkpoint holds (the arrays) plus its JSON record."""

  generation: int
  phase: str
  base_params: Any
  population: jax.Array  # [P, D] of the current (or last) generation.
  fitness: jax.Array  # [P] of the last told generation (NaN before any).
  ga_state: Any
  ga_ready: bool  # False until generation 0 has been told (evosax init).


class Session:
  """A resumable GA session over one trained generator.

  Args:
    config: an ``experiments/human_ga.py`` config.
    workdir: the session directory; an existing session there is resumed.
    generator: an already trained generator (else it is trained, or resumed, in
      ``config.generator_workdir`` or ``WORKDIR/generator``).
    panel: simulated raters; with one, :meth:`run` votes for them (headless).
  """

  def __init__(
    self,
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    generator: gen_experiment.TrainedGenerator | None = None,
    panel: raters.SimulatedPanel | None = None,
  ):
    self.config = config
    self.workdir = workdir
    os.makedirs(workdir, exist_ok=True)
    if generator is None:
      gen_dir = config.get("generator_workdir") or os.path.join(workdir, "generator")
      generator = gen_experiment.train_generator(config.generator, gen_dir)
    self.generator = generator
    frames = config.get("clip_frames") or generator.spec.frames
    self.spec = dataclasses.replace(generator.spec, frames=frames)
    self.model = generator.model
    sampler = gen_experiment.make_sampler(
      config.generator, self.model, self.spec, config.sampling
    )
    self.genome = Genome(init_adapter(self.model, (1, *self.spec.image_shape)))
    g = config.ga
    self.population_size = g.population_size
    self.ga = RatingGA(
      g.strategy,
      g.population_size,
      self.genome.size,
      std=g.std,
      params=dict(g.get("params", {})),
    )
    self.store = RatingStore(
      os.path.join(workdir, "ratings.sqlite"),
      max_per_minute=config.ratings.max_per_minute,
    )
    self.panel = panel
    self.root_key = jax.random.key(config.seed)
    self.conditions = self._pick_conditions()
    self.renderer = render_lib.Renderer(
      sampler,
      self.genome,
      self.spec,
      self.conditions,
      config.sampling,
      audio_key=self._generation_key(0, 7),
    )
    self._finetune_tx = optax.adam(config.finetune.learning_rate)
    self._finetune_loss = gen_experiment.make_loss_fn(
      diffusion.OBJECTIVES.get(config.generator.objective)(),
      self.model.apply,
      config.finetune.cond_dropout,
      config.generator.get("t_schedule", "uniform"),
    )
    self._checkpoints = Checkpointer(os.path.join(workdir, "session"), max_to_keep=3)
    self.state = self._restore()
    self._publish_state()

  # Layout of a generation.

  @property
  def clips_dir(self) -> str:
    return os.path.join(self.workdir, "clips")

  def _pick_conditions(self) -> dict[str, np.ndarray]:
    """``clips_per_individual`` training conditions of one instrument family.

    One family per session (``condition_family``, or a seeded choice) keeps the
    clips comparable: across families brightness differs by octaves, which would
    drown the differences between individuals that raters should judge.
    """
    train = self.generator.train
    rng = np.random.default_rng(self.config.seed)
    family = train.source.arrays["family"]  # Shifted by +1 (0 is the null).
    name = self.config.get("condition_family")
    if name:
      if name not in train.family_names:
        raise SessionError(
          f"unknown condition_family {name!r}; valid: {list(train.family_names)}"
        )
      chosen = train.family_names.index(name) + 1
    else:
      chosen = int(rng.choice(np.unique(family)))
    pool = np.flatnonzero(family == chosen)
    n = self.config.clips_per_individual
    idx = rng.choice(pool, n, replace=len(pool) < n)
    return gen_data.conditions(train, np.sort(idx))

  def _generation_key(self, generation: int, purpose: int) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(self.root_key, generation), purpose)

  # Checkpoints.

  def _template(self) -> dict[str, Any]:
    p, d = self.population_size, self.genome.size
    zeros = jnp.zeros((p, d), jnp.float32)
    return {
      "base_params": self.generator.params,
      "population": zeros,
      "fitness": jnp.zeros((p,), jnp.float32),
      "ga_state": self.ga.init(jax.random.key(0), zeros, jnp.zeros((p,))),
    }

  def _restore(self) -> State:
    template = self._template()
    if self._checkpoints.latest_step() is None:
      return State(
        generation=0,
        phase="render",
        base_params=self.generator.params,
        population=template["population"],
        fitness=jnp.full((self.population_size,), jnp.nan),
        ga_state=template["ga_state"],
        ga_ready=False,
      )
    tree, extra = self._checkpoints.restore(template)
    return State(
      generation=int(extra["generation"]),
      phase=str(extra["phase"]),
      base_params=tree["base_params"],
      population=tree["population"],
      fitness=tree["fitness"],
      ga_state=tree["ga_state"],
      ga_ready=bool(extra["ga_ready"]),
    )

  def _save(self, state: State) -> None:
    step = 2 * state.generation + (1 if state.phase == "rating" else 0)
    tree = {
      "base_params": state.base_params,
      "population": state.population,
      "fitness": state.fitness,
      "ga_state": state.ga_state,
    }
    extra = {"generation": state.generation, "phase": state.phase}
    self._checkpoints.save(step, tree, {**extra, "ga_ready": state.ga_ready})
    self.state = state
    self._publish_state()

  def _publish_state(self) -> None:
    self.store.set_meta(META_GENERATION, str(self.state.generation))
    self.store.set_meta(META_PHASE, self.state.phase)

  # Rendering.

  def render(self, params: Any, genomes: jax.Array, keys: jax.Array, on_batch=None):
    """``(images, audio)`` of ``genomes[i]`` with ``keys[i]`` and the session's
    conditions (:class:`audiojax.evolve.render.Renderer`)."""
    return self.renderer(params, genomes, keys, on_batch)

  def rated_individuals(self, generation: int) -> list[int]:
    """Individuals whose clips go to raters: all in generation 0 (the surrogate needs
    data), then a seeded ``surrogate.rated_fraction`` of the population."""
    p, fraction = self.population_size, self.config.surrogate.rated_fraction
    if generation == 0 or fraction >= 1:
      return list(range(p))
    n = max(2, int(round(fraction * p)))
    rng = np.random.default_rng([self.config.seed, generation, 5])
    return sorted(int(i) for i in rng.choice(p, n, replace=False))

  # One generation.

  def start_generation(self) -> None:
    """Phase ``render`` -> ``rating``: ask, render, publish, fine-tune, base clips."""
    st = self.state
    if st.phase != "render":
      raise SessionError(f"generation {st.generation} is already published")
    g, p, k = st.generation, self.population_size, self.config.clips_per_individual
    if st.ga_ready:
      population, ga_state = self.ga.ask(self._generation_key(g, 0), st.ga_state)
    else:
      population = self.genome.random_population(
        self._generation_key(g, 0), p, self.config.ga.std
      )
      ga_state = st.ga_state
    genomes = jnp.repeat(population, k, axis=0)
    # The same noise for every individual and every generation (common random
    # numbers): clips differ only by adapter and base, so ratings compare those.
    slot_keys = jax.random.split(jax.random.fold_in(self.root_key, 1), k)
    keys = jnp.tile(slot_keys, p)
    ids = [clips.clip_id(g, i, s) for i in range(p) for s in range(k)]
    individuals = [i for i in range(p) for _ in range(k)]
    seeds = [s for _ in range(p) for s in range(k)]
    rated = set(self.rated_individuals(g))
    directory = clips.generation_dir(self.clips_dir, g)
    publisher = functools.partial(
      clips.publisher, self.store, directory, self.spec.sample_rate, g
    )
    start = time.perf_counter()
    images, _ = self.render(
      st.base_params,
      genomes,
      keys,
      publisher(ids, individuals, seeds, lambda i: individuals[i] in rated),
    )
    render_seconds = time.perf_counter() - start
    clips.save_images(directory, images, ids)

    base_params, start = st.base_params, time.perf_counter()
    if g > 0 and self.config.finetune.enabled:
      base_params = self.finetune(g - 1, st.base_params, st.fitness)
    finetune_seconds = time.perf_counter() - start

    nb = self.config.base_clips
    base_ids = [clips.clip_id(g, "base", s) for s in range(nb)]
    base_keys = jax.random.split(jax.random.fold_in(self.root_key, 2), nb)
    self.render(
      base_params,
      jnp.zeros((nb, self.genome.size)),
      base_keys,
      publisher(base_ids, [p] * nb, list(range(nb))),
    )
    self._log(g, render_seconds=render_seconds, finetune_seconds=finetune_seconds)
    self._save(
      dataclasses.replace(
        st,
        phase="rating",
        base_params=base_params,
        population=population,
        ga_state=ga_state,
      )
    )

  def load_images(self, generation: int) -> tuple[np.ndarray, list[str]]:
    """Mel images and clip ids of ``generation``'s whole population."""
    return clips.load_images(clips.generation_dir(self.clips_dir, generation))

  def finetune(self, generation: int, params: Any, fitness: jax.Array) -> Any:
    """The base ``params`` fine-tuned toward ``generation``'s top-rated clips by
    reward-weighted regression (:mod:`audiojax.evolve.finetune`)."""
    ft = self.config.finetune
    images, _ = self.load_images(generation)
    examples = finetune_lib.elite_examples(
      images,
      np.asarray(fitness),
      self.conditions,
      clips_per_individual=self.config.clips_per_individual,
      elite=ft.elite,
      temperature=ft.temperature,
    )
    if examples is None:
      return params
    return finetune_lib.finetune(
      params,
      examples,
      loss_fn=self._finetune_loss,
      tx=self._finetune_tx,
      steps=ft.steps,
      batch_size=ft.batch_size,
      seed=self.config.seed + generation,
      workdir=os.path.join(self.workdir, "finetune", f"g{generation:03d}"),
    )

  def wait(self, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
    """Blocks until the current generation can be concluded; False if stopped.

    With a simulated panel, the panel votes first. The generation ends when every
    clip has ``ratings.per_clip`` votes (or ``ratings.pairs_per_rater`` pairwise
    rounds were voted), ``ratings.timeout_seconds`` passed, or an admin asked to
    advance; never while paused.
    """
    g, r = self.state.generation, self.config.ratings
    if self.panel is not None:
      # The panel hears the published WAVs, as people do (also after a restart).
      audio = self._reload_audio(g)
      if r.mode == "pairwise":
        self.panel.rate_pairs(
          self.store, g, audio, r.pairs_per_rater, seed=self.config.seed
        )
      else:
        self.panel.rate_stars(self.store, g, audio, r.per_clip)
      return True
    start = time.monotonic()
    while stop is None or not stop.is_set():
      if self.store.get_meta(META_PAUSED, "0") != "1":
        if self.store.get_meta(META_ADVANCE) == str(g):
          return True
        if r.mode == "stars":
          counts = self.store.counts_per_clip(g)
          if counts and min(counts.values()) >= r.per_clip:
            return True
        if r.timeout_seconds and time.monotonic() - start > r.timeout_seconds:
          return True
      time.sleep(poll)
    return False

  def _reload_audio(self, generation: int) -> dict[str, np.ndarray]:
    return {
      c.clip_id: audio_lib.load(c.file, sr=self.spec.sample_rate)[0]
      for c in self.store.clips(generation)
    }

  def fitness(self, generation: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-individual fitness of ``generation`` (index ``P`` is the base) + info."""
    r = self.config.ratings
    return aggregate.generation_fitness(
      self.store.ratings(generation),
      self.store.comparisons(generation) if r.mode == "pairwise" else (),
      self.population_size + 1,
      mode=r.mode,
      method=r.aggregate,
      weight_raters=r.weight_raters,
    )

  def conclude_generation(self) -> dict[str, Any]:
    """Phase ``rating`` -> next generation's ``render``: aggregate and tell."""
    st = self.state
    if st.phase != "rating":
      raise SessionError(f"generation {st.generation} is not published yet")
    g = st.generation
    value, info = self.fitness(g)
    unrated = sorted(set(range(self.population_size)) - set(self.rated_individuals(g)))
    if unrated and self.config.surrogate.get("predict", True):
      history = [(self.store.ratings(h), *self.load_images(h)) for h in range(g + 1)]
      value, info["surrogate_r2"] = surrogate.fill_unrated(
        history,
        value,
        unrated,
        population_size=self.population_size,
        alpha=self.config.surrogate.alpha,
      )
    elif unrated:  # The ablation: unrated individuals are failed evaluations.
      value = np.array(value, np.float64)
      value[unrated] = np.nan
    fit = jnp.asarray(value[: self.population_size], jnp.float32)
    if st.ga_ready:
      ga_state, _ = self.ga.tell(
        self._generation_key(g, 3), st.population, fit, st.ga_state
      )
    else:
      ga_state = self.ga.init(self._generation_key(g, 3), st.population, fit)
    self._log(g, fitness=[float(x) for x in value], **info)
    self._save(
      dataclasses.replace(
        st,
        generation=g + 1,
        phase="render",
        fitness=fit,
        ga_state=ga_state,
        ga_ready=True,
      )
    )
    return info

  def run(self, generations: int, stop: threading.Event | None = None) -> bool:
    """Runs until ``generations`` generations are told; False if stopped first."""
    while self.state.generation < generations:
      if self.state.phase == "render":
        self.start_generation()
      if not self.wait(stop):
        return False
      self.conclude_generation()
    return True

  def _log(self, generation: int, **record: Any) -> None:
    with open(os.path.join(self.workdir, "generations.jsonl"), "a") as f:
      f.write(json.dumps({"generation": generation, **record}) + "\n")

  def close(self) -> None:
    self._checkpoints.close()
    self.store.close()
