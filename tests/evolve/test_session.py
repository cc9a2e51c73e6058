"""The GA session: determinism, resuming anywhere, surrogate, pairwise, fine-tuning."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.evolve import clips
from audiojax.evolve import experiment as ga_experiment
from audiojax.evolve import render as render_lib
from audiojax.evolve.session import Session, SessionError

from .conftest import ga_config


def _session(config, workdir, generator, panel=True):
  session = Session(config, str(workdir), generator=generator)
  if panel:
    session.panel = ga_experiment.make_panel(config, session)
  return session


def _snapshot(session):
  st = session.state
  votes = [(r.rater_id, r.clip_id, r.rating) for r in session.store.ratings()]
  return st, votes


def _assert_same(a, b):
  (sa, va), (sb, vb) = a, b
  assert (sa.generation, sa.phase, sa.ga_ready) == (
    sb.generation,
    sb.phase,
    sb.ga_ready,
  )
  np.testing.assert_array_equal(sa.population, sb.population)
  np.testing.assert_array_equal(sa.fitness, sb.fitness)
  for name in ("base_params", "ga_state"):
    leaves = [jax.tree.leaves(getattr(x, name)) for x in (sa, sb)]
    for x, y in zip(*leaves, strict=True):
      np.testing.assert_array_equal(x, y)
  assert va == vb


def test_session_resumed_at_every_phase_equals_an_uninterrupted_one(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny", data_dir, generator_dir)
  whole = _session(config, tmp_path / "whole", tiny_generator)
  assert whole.run(3)
  expected = _snapshot(whole)
  whole.close()

  # The same run, the process "dying" after every phase: each step reopens the
  # workdir, so it only sees what the checkpoints and the database kept.
  steps = 0
  while True:
    s = _session(config, tmp_path / "pieces", tiny_generator)
    if s.state.generation == 3:
      break
    if s.state.phase == "render":
      s.start_generation()
    elif (
      not s.store.counts_per_clip(s.state.generation)
      or min(s.store.counts_per_clip(s.state.generation).values())
      < config.ratings.per_clip
    ):
      assert s.wait()
    else:
      s.conclude_generation()
    s.close()
    steps += 1
  assert steps == 9  # 3 generations x (publish, rate, tell).
  _assert_same(_snapshot(s), expected)
  s.close()

  st = expected[0]
  assert st.generation == 3 and st.phase == "render" and st.ga_ready
  assert np.all(np.isfinite(np.asarray(st.fitness)))
  # Row 0 of generation 0 is the base model; the GA then moved away from it.
  assert not np.allclose(st.population, 0.0)


def test_session_publishes_common_noise_clips_and_the_base(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny", data_dir, generator_dir)
  s = _session(config, tmp_path, tiny_generator, panel=False)
  s.start_generation()
  clips = s.store.clips(0)
  p, k = config.ga.population_size, config.clips_per_individual
  assert len(clips) == p * k + config.base_clips
  assert {c.individual for c in clips} == set(range(p + 1))
  assert all(c.file.endswith(".wav") for c in clips)
  # Individual 0 of generation 0 is the base: the same params, adapter and noise
  # as the base clips would give the same image; other individuals differ.
  images, ids = s.load_images(0)
  assert ids[:k] == ["g000-i00-s0", "g000-i00-s1"]
  assert not np.allclose(images[0], images[k])
  with pytest.raises(SessionError, match="already published"):
    s.start_generation()
  s.close()
  with pytest.raises(SessionError, match="not published"):
    s2 = _session(config, tmp_path / "other", tiny_generator, panel=False)
    try:
      s2.conclude_generation()
    finally:
      s2.close()


def test_render_is_deterministic_and_batch_independent(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny", data_dir, generator_dir)
  s = _session(config, tmp_path, tiny_generator, panel=False)
  genomes = s.genome.random_population(jax.random.key(3), 5, 0.5)
  keys = jax.random.split(jax.random.key(4), 5)
  img_a, audio_a = s.render(s.generator.params, genomes, keys)
  img_again, audio_again = s.render(s.generator.params, genomes, keys)
  np.testing.assert_array_equal(img_again, img_a)  # A resumed render republishes
  np.testing.assert_array_equal(audio_again, audio_a)  # the very same clips.
  # Another batch layout gives the same clips up to float rounding: XLA's CPU kernels
  # may block a row differently at another position in the batch (1-ulp differences
  # seen on an AMD EPYC), so bit-equality across layouts is not promised.
  s.config.sampling.first_batch_size = 1  # Batches [1, 4] instead of [4].
  img_b, _ = s.render(s.generator.params, genomes[2:], keys[2:])
  np.testing.assert_allclose(img_b, img_a[2:], rtol=1e-5, atol=1e-6)
  assert audio_a.shape == (5, s.spec.samples)
  assert np.abs(audio_a).max() <= 0.9 + 1e-6
  s.close()


def test_surrogate_rates_the_unpublished_half(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny,surrogate", data_dir, generator_dir)
  s = _session(config, tmp_path, tiny_generator)
  assert s.run(2)
  p = config.ga.population_size
  rated = s.rated_individuals(1)
  assert len(rated) == p // 2
  published = {c.individual for c in s.store.clips(1)}
  assert published == set(rated) | {p}  # The base is always rated by people.
  assert {c.individual for c in s.store.clips(0)} == set(range(p + 1))
  assert np.all(np.isfinite(np.asarray(s.state.fitness)))
  log = [
    json.loads(x) for x in (tmp_path / "generations.jsonl").read_text().split("\n") if x
  ]
  assert any("surrogate_r2" in r for r in log if r["generation"] == 1)
  s.close()


def test_halfrated_control_leaves_the_unrated_half_unevaluated(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny,halfrated", data_dir, generator_dir)
  s = _session(config, tmp_path, tiny_generator)
  assert s.run(3)
  p = config.ga.population_size
  rated = s.rated_individuals(2)
  fitness = np.asarray(s.state.fitness)  # Generation 2's, as told.
  assert np.isfinite(fitness[rated]).all()
  assert np.isnan(np.delete(fitness, rated)).all() and len(rated) == p // 2
  # The GA still asks a finite population after failed evaluations.
  population, _ = s.ga.ask(jax.random.key(0), s.state.ga_state)
  assert np.isfinite(np.asarray(population)).all()
  s.close()


def test_pairwise_session_uses_bradley_terry(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny,pairwise", data_dir, generator_dir)
  config.ratings.pairs_per_rater = 12
  s = _session(config, tmp_path, tiny_generator)
  assert s.run(1)
  assert s.store.comparisons(0) and not s.store.ratings(0)
  fitness = np.asarray(s.state.fitness)
  assert np.isfinite(fitness).sum() >= 3
  s.close()


def test_finetune_moves_the_base_toward_the_top_rated_clips(
  tmp_path, tiny_generator, generator_dir, data_dir
):
  config = ga_config("tiny", data_dir, generator_dir)
  config.finetune.steps = 30
  config.finetune.learning_rate = 3e-3
  s = _session(config, tmp_path, tiny_generator, panel=False)
  p, k = config.ga.population_size, config.clips_per_individual
  # A generation whose best-rated individual made bright images and the rest dark
  # ones: reward-weighted regression must pull the base's samples up.
  shape = (p * k, *s.spec.image_shape)
  images = np.full(shape, -0.6, np.float32)
  images[(p - 1) * k :] = 0.6
  ids = [f"g005-i{i:02d}-s{j}" for i in range(p) for j in range(k)]
  clips.save_images(str(tmp_path / "clips" / "g005"), images, ids)
  fitness = jnp.array([0.0] * (p - 1) + [2.0], jnp.float32)

  def mean_pixel(params):
    keys = jax.random.split(jax.random.key(1), 4)
    img, _ = s.render(params, jnp.zeros((4, s.genome.size)), keys)
    return float(img.mean())

  base = s.state.base_params
  before = mean_pixel(base)
  tuned = s.finetune(5, base, fitness)
  assert mean_pixel(tuned) > before + 0.3
  assert mean_pixel(base) == before  # The old base survives (no donation).
  # The fine-tune is a run of the shared loop: resumable, logged.
  assert (tmp_path / "finetune" / "g005" / "metrics.jsonl").exists()
  s.close()


@pytest.mark.parametrize(
  "n, size, first, sizes",
  [
    (32, 8, None, [8, 8, 8, 8]),  # The plain plan.
    (30, 8, None, [8, 8, 8, 8]),  # The last batch padded.
    (8, 8, 2, [2, 2, 2, 2]),  # A remainder of 6 in batches of 2, not one of 8.
    (32, 8, 2, [2, 8, 8, 8, 2, 2, 2]),
    (17, 8, 4, [4, 8, 8]),  # 5 left: 8 rows either way, one call.
    (13, 8, 4, [4, 8, 4]),  # 1 left: one batch of 4.
    (12, 8, 3, [3, 8, 3]),
    (1, 8, 2, [2]),
    (5, 4, 9, [4, 4]),  # first is capped at batch_size.
  ],
)
def test_batch_plan_covers_every_clip_with_two_shapes(n, size, first, sizes):
  plan = render_lib.batch_plan(n, size, first)
  assert [s for _, s in plan] == sizes
  starts = [s for s, _ in plan]
  assert starts == list(np.cumsum([0] + sizes[:-1]))
  assert starts[-1] < n <= starts[-1] + sizes[-1]
  with pytest.raises(ValueError, match="positive"):
    render_lib.batch_plan(n, 0)
