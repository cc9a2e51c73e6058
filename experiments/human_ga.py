"""Human-in-the-loop music generation: a GA over the generator's FiLM adapter.

Headless, with a simulated panel (the numbers of the README):

  python -m launch.run --config=experiments/human_ga.py:runlocal --workdir=runs/hga

With people, through the rating app (same config; the panel part is ignored):

  python gradio_app.py --config=experiments/human_ga.py:runlocal --workdir=runs/hga_live

The base generator is trained (or resumed) in WORKDIR/generator with the
``music_generator`` config of the same variant, unless ``--config.generator_workdir``
names a finished ``music_generator`` run. Variants (comma-separated): ``runlocal``
(minutes), ``tiny`` (tests), ``apptest`` (tiny generator, 64 clips per generation for
the app's load test), ``surrogate`` (half of each generation after the first is rated
by the surrogate instead of people), ``halfrated`` (the same half rated, the rest
left unevaluated: the surrogate's control), ``pairwise`` (raters pick the better of two
clips; Bradley-Terry fitness).
"""

import ml_collections

from audiojax.configs import parse_variants
from experiments import music_generator

VARIANTS = ("runlocal", "tiny", "apptest", "surrogate", "halfrated", "pairwise")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variants = parse_variants(arg, VARIANTS)
  tiny = bool(variants & {"tiny", "apptest"})

  c = ml_collections.ConfigDict()
  c.kind = "human_ga"
  c.name = "human-in-the-loop GA (simulated panel)"
  c.app_title = "Rate the music: which clips do you like?"  # The raters' page.
  c.seed = 0
  c.generator = music_generator.get_config(
    "tiny" if tiny else "runlocal" if "runlocal" in variants else ""
  )
  c.generator.progress = False
  c.generator_workdir = ml_collections.config_dict.placeholder(str)
  c.clip_frames = 0  # 0: the generator's (64 frames = 2 s); 160 frames = 5.1 s.
  # A new generation opens to raters after its first 2 clips, not a batch of 8
  # (render.batch_plan); on this CPU a clip costs the same at batch 1 to 8.
  c.sampling = ml_collections.ConfigDict(
    dict(steps=20, guidance=3.0, eta=0.0, batch_size=8, first_batch_size=2)
  )
  c.generations = 3  # Generation 0 (random adapters) and two GA generations.
  c.clips_per_individual = 2
  c.condition_family = ""  # One instrument family per session; "": a seeded pick.
  c.base_clips = 8

  c.ga = ml_collections.ConfigDict()
  c.ga.strategy = "simple_ga"
  c.ga.population_size = 16
  c.ga.std = 0.2
  c.ga.params = ml_collections.ConfigDict({})

  c.ratings = ml_collections.ConfigDict()
  c.ratings.mode = "stars"  # or "pairwise"
  c.ratings.per_clip = 5
  c.ratings.pairs_per_rater = 20
  c.ratings.timeout_seconds = 0.0  # 0: wait for every clip's ratings.
  c.ratings.max_per_minute = 30
  # Where votes live: "" is WORKDIR/ratings.sqlite; or sqlite:PATH, or
  # postgresql://USER@HOST/DB for several app replicas (gradio_app --ratings_db).
  c.ratings.db = ""
  # Rater ids that may vote from one client address in one generation (0: any). The
  # page issues ids itself, but a script can invent them; this stops one person from
  # stuffing a generation. Raise it for raters behind one NAT (a lab, a classroom).
  c.ratings.max_raters_per_address = 3
  c.ratings.aggregate = "zscore"  # zscore | mean | trimmed
  c.ratings.weight_raters = True

  c.finetune = ml_collections.ConfigDict()
  c.finetune.enabled = True
  c.finetune.elite = 4
  c.finetune.temperature = 0.5
  c.finetune.steps = 40
  c.finetune.batch_size = 8
  c.finetune.learning_rate = 1e-4
  c.finetune.cond_dropout = 0.1

  c.surrogate = ml_collections.ConfigDict(
    dict(rated_fraction=1.0, alpha=10.0, predict=True)
  )

  c.panel = ml_collections.ConfigDict()
  c.panel.seed = 0
  c.panel.honest = 12
  c.panel.random = 1
  c.panel.constant = 1
  c.panel.adversarial = 1
  c.panel.target_hz = 0.0  # 0: target_octaves above the base generator's median.
  c.panel.target_octaves = 1.0
  c.panel.width_octaves = 1.0
  c.panel.bias_std = 0.4
  c.panel.noise = 0.5

  if tiny:
    c.sampling.steps = 2
    c.sampling.batch_size = 4
    c.sampling.first_batch_size = 4  # One compiled shape in tests.
    c.ga.population_size = 4
    c.base_clips = 2
    c.finetune.steps = 2
    c.finetune.batch_size = 2
    c.panel.honest = 4
    c.panel.random = c.panel.constant = c.panel.adversarial = 0
    c.ratings.per_clip = 2
    # The tiny generator's clips all sound alike; noisier raters still spread their
    # stars (a rater with one star for everything carries no information).
    c.panel.noise = 1.5
  if "apptest" in variants:  # 64 clips a generation, 20 ratings each to advance.
    c.ga.population_size = 15
    c.clips_per_individual = 4
    c.base_clips = 4
    c.sampling.batch_size = c.sampling.first_batch_size = 8
    c.ratings.per_clip = 20
    c.ratings.max_per_minute = 120
    c.ratings.max_raters_per_address = 64  # The load test's raters share 127.0.0.1.
    c.generations = 100
  if variants & {"surrogate", "halfrated"}:
    c.surrogate.rated_fraction = 0.5
  if "halfrated" in variants:  # The surrogate's control: unrated = failed.
    c.surrogate.predict = False
  if "pairwise" in variants:
    c.ratings.mode = "pairwise"
  return c
