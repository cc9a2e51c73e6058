"""The human-in-the-loop session: rated generations that steer the music generator.

The loop of Singh et al., 2025 ("Improving AI-generated music with user-guided
training") on a restored generator. A generation is: **ask** (random adapters around
the base at first, row 0 the base itself; then the GA), **render + publish** (every
individual's clips from the same conditions and noise, each batch's WAVs published
at once, :mod:`~audiojax.evolve.clips`), **fine-tune** the base toward the previous
generation's elite (:mod:`~audiojax.evolve.finetune`; after publishing, so raters
never wait), **base clips** rated blind as individual ``P``, **wait** for votes
(:func:`audiojax.ratings.service.wait_for_generation`, or a simulated panel), and
**tell** the GA the fitness (:mod:`~audiojax.evolve.fitness`).

The state is one :class:`State`, checkpointed after publishing and after telling;
votes live in SQLite and are never rolled back. Killed anywhere, a session resumes
from its last checkpoint: rendering is deterministic and publishing idempotent.
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
from flax import serialization, struct

from audiojax.evolve import clips, fitness, render
from audiojax.evolve import finetune as finetune_lib
from audiojax.evolve.ga import RatingGA
from audiojax.evolve.genome import Genome
from audiojax.generate import train as gen_train
from audiojax.generate.generator import GeneratorRun
from audiojax.generate.unet import init_adapter
from audiojax.ratings import service
from audiojax.ratings.panel import SimulatedPanel
from audiojax.ratings.store import RatingStore
from audiojax.train.checkpoint import Checkpointer


class SessionError(RuntimeError):
  """The session's workdir or config cannot be used."""


@struct.dataclass
class State:
  """Everything a session checkpoint holds: arrays in the tree, the rest as JSON.

  Attributes:
    base_params: the (fine-tuned) base generator's params.
    population: ``[P, D]`` genomes of the current (or last) generation.
    fitness: ``[P]`` of the last told generation (NaN before any).
    ga_state: the evosax state.
    generation: the generation being rendered or rated.
    phase: "render" (not yet published) or "rating".
    ga_ready: False until generation 0 has been told (evosax init).
  """

  base_params: Any
  population: jax.Array
  fitness: jax.Array
  ga_state: Any
  generation: int = struct.field(pytree_node=False, default=0)
  phase: str = struct.field(pytree_node=False, default="render")
  ga_ready: bool = struct.field(pytree_node=False, default=False)

  def record(self) -> dict[str, Any]:
    """The non-array fields, saved as the checkpoint's JSON record."""
    return {k: getattr(self, k) for k in ("generation", "phase", "ga_ready")}


class Session:
  """A resumable GA session over one trained generator.

  Args:
    config: an ``experiments/human_ga.py`` config.
    workdir: the session directory; a session there is resumed.
    generator: the trained base generator (:func:`audiojax.evolve.base.load`).
    store: the ratings store (default: ``WORKDIR/ratings.sqlite``).
    panel: simulated raters; with one, :meth:`wait` votes for them (headless).
  """

  def __init__(
    self,
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    generator: GeneratorRun,
    store: RatingStore | None = None,
    panel: SimulatedPanel | None = None,
  ):
    self.config, self.workdir, self.generator = config, workdir, generator
    self.panel = panel
    os.makedirs(workdir, exist_ok=True)
    self.spec = dataclasses.replace(
      generator.spec, frames=config.clip_frames or generator.spec.frames
    )
    self.genome = Genome(
      init_adapter(generator.model.unet, (1, *self.spec.image_shape))
    )
    g = config.ga
    self.population_size = g.population_size
    self.ga = RatingGA(
      g.strategy, g.population_size, self.genome.size, std=g.std, params=dict(g.params)
    )
    self.store = store or RatingStore.from_config(
      os.path.join(workdir, "ratings.sqlite"), config.ratings
    )
    self.root_key = jax.random.key(config.seed)
    self.conditions = clips.pick_conditions(
      generator, config.condition_family, config.clips_per_individual, config.seed
    )
    self.render = render.Renderer(
      generator.model.sampler(config.sampling, self.spec),
      self.genome,
      self.spec,
      self.conditions,
      config.sampling,
      audio_key=self._key(0, 7),
    )
    self._finetune_tx = optax.adam(config.finetune.learning_rate)
    self._finetune_loss = gen_train.config_loss_fn(
      config.generator, generator.model, config.finetune.cond_dropout
    )
    self._checkpoints = Checkpointer(os.path.join(workdir, "session"), max_to_keep=3)
    self._save(self._restore(), checkpoint=False)

  @property
  def clips_dir(self) -> str:
    return os.path.join(self.workdir, "clips")

  def _key(self, generation: int, purpose: int) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(self.root_key, generation), purpose)

  # Checkpoints: one tree (the State's arrays) and one JSON record.

  def _initial(self) -> State:
    p, d = self.population_size, self.genome.size
    zeros = jnp.zeros((p, d), jnp.float32)
    return State(
      base_params=self.generator.params,
      population=zeros,
      fitness=jnp.full((p,), jnp.nan),
      ga_state=self.ga.init(jax.random.key(0), zeros, jnp.zeros((p,))),
    )

  def _restore(self) -> State:
    initial = self._initial()
    if self._checkpoints.latest_step() is None:
      return initial
    tree, record = self._checkpoints.restore(serialization.to_state_dict(initial))
    return serialization.from_state_dict(initial, tree).replace(**record)

  def _save(self, state: State, checkpoint: bool = True) -> None:
    """Checkpoints ``state`` and tells the rating service where the session is."""
    if checkpoint:
      step = 2 * state.generation + (state.phase == "rating")
      self._checkpoints.save(step, serialization.to_state_dict(state), state.record())
    self.state = state
    self.store.set_meta(service.META_GENERATION, str(state.generation))
    self.store.set_meta(service.META_PHASE, state.phase)

  # One generation.

  def rated_individuals(self, generation: int) -> list[int]:
    """Individuals whose clips go to raters (:func:`fitness.rated_individuals`)."""
    fraction = self.config.surrogate.rated_fraction
    return fitness.rated_individuals(
      generation, self.population_size, fraction, self.config.seed
    )

  def start_generation(self) -> None:
    """Phase ``render`` -> ``rating``: ask, render, publish, fine-tune, base clips."""
    st = self.state
    if st.phase != "render":
      raise SessionError(f"generation {st.generation} is already published")
    g, p, k = st.generation, self.population_size, self.config.clips_per_individual
    if st.ga_ready:
      population, ga_state = self.ga.ask(self._key(g, 0), st.ga_state)
    else:
      population = self.genome.random_population(self._key(g, 0), p, self.config.ga.std)
      ga_state = st.ga_state
    # The same noise for every individual and every generation (common random
    # numbers): clips differ only by adapter and base, so ratings compare those.
    slot_keys = jax.random.split(jax.random.fold_in(self.root_key, 1), k)
    ids = [clips.clip_id(g, i, s) for i in range(p) for s in range(k)]
    individuals = [i for i in range(p) for _ in range(k)]
    rated = set(self.rated_individuals(g))
    directory = clips.generation_dir(self.clips_dir, g)
    publisher = functools.partial(
      clips.publisher, self.store, directory, self.spec.sample_rate, g
    )
    start = time.perf_counter()
    images, _ = self.render(
      st.base_params,
      jnp.repeat(population, k, axis=0),
      jnp.tile(slot_keys, p),
      publisher(
        ids, individuals, list(range(k)) * p, lambda i: individuals[i] in rated
      ),
    )
    render_seconds = time.perf_counter() - start
    clips.save_images(directory, images, ids)

    base_params, start = st.base_params, time.perf_counter()
    if g > 0 and self.config.finetune.enabled:
      base_params = self.finetune(g - 1, st.base_params, st.fitness)
    finetune_seconds = time.perf_counter() - start

    nb = self.config.base_clips
    self.render(
      base_params,
      jnp.zeros((nb, self.genome.size)),
      jax.random.split(jax.random.fold_in(self.root_key, 2), nb),
      publisher(
        [clips.clip_id(g, "base", s) for s in range(nb)], [p] * nb, list(range(nb))
      ),
    )
    self._log(g, render_seconds=render_seconds, finetune_seconds=finetune_seconds)
    self._save(
      st.replace(
        phase="rating",
        base_params=base_params,
        population=population,
        ga_state=ga_state,
      )
    )

  def load_images(self, generation: int) -> tuple[np.ndarray, list[str]]:
    """Mel images and clip ids of ``generation``'s whole population."""
    return clips.load_images(clips.generation_dir(self.clips_dir, generation))

  def finetune(self, generation: int, params: Any, fitness_: jax.Array) -> Any:
    """The base ``params`` fine-tuned toward ``generation``'s top-rated clips by
    reward-weighted regression (:func:`audiojax.evolve.finetune.toward_elite`)."""
    return finetune_lib.toward_elite(
      params,
      self.load_images(generation)[0],
      np.asarray(fitness_),
      self.conditions,
      self.config.finetune,
      clips_per_individual=self.config.clips_per_individual,
      loss_fn=self._finetune_loss,
      tx=self._finetune_tx,
      seed=self.config.seed + generation,
      workdir=os.path.join(self.workdir, "finetune", f"g{generation:03d}"),
    )

  def wait(self, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
    """Blocks until the current generation can be concluded; False if stopped.
    A simulated panel votes at once, on the published WAVs (as people hear them)."""
    g, r = self.state.generation, self.config.ratings
    if self.panel is None:
      return service.wait_for_generation(
        self.store,
        g,
        mode=r.mode,
        per_clip=r.per_clip,
        timeout_seconds=r.timeout_seconds,
        stop=stop,
        poll=poll,
      )
    self.panel.vote(self.store, g, r, seed=self.config.seed)
    return True

  def conclude_generation(self) -> dict[str, Any]:
    """Phase ``rating`` -> next generation's ``render``: aggregate and tell."""
    st = self.state
    if st.phase != "rating":
      raise SessionError(f"generation {st.generation} is not published yet")
    g = st.generation
    value, info = fitness.generation_fitness(
      self.store, g, self.config, self.population_size, self.load_images
    )
    fit = jnp.asarray(value[: self.population_size], jnp.float32)
    if st.ga_ready:
      ga_state, _ = self.ga.tell(self._key(g, 3), st.population, fit, st.ga_state)
    else:
      ga_state = self.ga.init(self._key(g, 3), st.population, fit)
    self._log(g, fitness=[float(x) for x in value], **info)
    self._save(
      st.replace(
        generation=g + 1, phase="render", fitness=fit, ga_state=ga_state, ga_ready=True
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
