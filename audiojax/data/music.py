"""Embedded music data set: corpus scores rendered on General MIDI instruments.

A ``tensorflow_datasets`` ArrayRecord builder (no TensorFlow needed to build or read)
named ``audiojax_music``. Nothing is downloaded: scores come from music21's bundled
corpus (Bach chorales, Palestrina, O'Neill's 1850, Ryan's Mammoth, Aird's Airs; the
non-commercial Essen folk songs are left out) and are rendered with TinySoundFont and
pretty_midi's ``TimGM6mb.sf2`` (see :mod:`audiojax.data.music_render`). Each piece is
played on instruments from ten GM families at several tempos and transpositions, cut
into peak-normalised clips, and labelled with the instrument family, GM program,
collection, a caption and the notes inside the clip. Splits are piece-disjoint.

Layout follows the tfds "dataset builder" guide
(https://www.tensorflow.org/datasets/add_dataset) with ``BuilderConfig`` variants, as
in tfds' own catalog builders.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from audiojax.data import music_instruments, music_render
from audiojax.data.source import AudioSplit, DataError

SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclasses.dataclass(eq=False)
class MusicConfig(tfds.core.BuilderConfig):
  """What to render.

  Attributes:
    collections: corpus collections to draw pieces from (``music_render.COLLECTIONS``).
    pieces_per_collection: pieces drawn (seeded) from each collection; pieces music21
      cannot read are replaced by the next in the seeded order.
    renderings_per_piece: instruments each piece is rendered with (distinct families).
    clips_per_rendering: consecutive clips cut from each rendering.
    clip_seconds: clip length.
    sample_rate: Hz.
    tempos: quarter notes per minute to pick from.
    transpositions: semitone shifts to pick from.
    split_fractions: validation and test shares of each collection's pieces (each at
      least one piece when a collection has three or more).
    seed: everything random (piece choice, splits, instruments, velocities) follows it.
  """

  collections: tuple[str, ...] = tuple(music_render.COLLECTIONS)
  pieces_per_collection: int = 50
  renderings_per_piece: int = 4
  clips_per_rendering: int = 3
  clip_seconds: float = 2.0
  sample_rate: int = 16000
  tempos: tuple[float, ...] = (72.0, 90.0, 108.0, 126.0, 144.0)
  transpositions: tuple[int, ...] = (-3, -2, -1, 0, 1, 2, 3)
  split_fractions: tuple[float, float] = (0.1, 0.1)
  seed: int = 0

  @property
  def clip_samples(self) -> int:
    return int(round(self.clip_seconds * self.sample_rate))


CONFIGS: dict[str, MusicConfig] = {
  "tiny": MusicConfig(
    name="tiny",
    description="Tests: ~60 clips, builds in seconds.",
    pieces_per_collection=3,
    renderings_per_piece=4,
    clips_per_rendering=1,
  ),
  "small": MusicConfig(
    name="small",
    description="Quickstart: ~1400 clips.",
    pieces_per_collection=24,
    renderings_per_piece=4,
    clips_per_rendering=3,
  ),
  "default": MusicConfig(
    name="default",
    description="~3000 clips.",
    pieces_per_collection=50,
    renderings_per_piece=4,
    clips_per_rendering=3,
  ),
}


class AudiojaxMusic(tfds.core.GeneratorBasedBuilder):
  """Corpus music rendered on GM instruments; labels: family, program, collection."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS.values())
  DEFAULT_BUILDER_CONFIG_NAME = "default"

  def __init__(self, *, file_format: str = "array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    features = tfds.features.FeaturesDict(
      {
        "audio": tfds.features.Tensor(shape=(cfg.clip_samples,), dtype=np.float32),
        "family": tfds.features.ClassLabel(names=music_instruments.FAMILIES),
        "program": tfds.features.Tensor(shape=(), dtype=np.int32),
        "collection": tfds.features.ClassLabel(names=cfg.collections),
        "piece": tfds.features.Text(),
        "caption": tfds.features.Text(),
        "tempo_bpm": tfds.features.Tensor(shape=(), dtype=np.float32),
        "transpose": tfds.features.Tensor(shape=(), dtype=np.int32),
        # Rows of (midi pitch, onset s, offset s) relative to the clip start.
        "notes": tfds.features.Tensor(shape=(None, 3), dtype=np.float32),
      }
    )
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=features,
      supervised_keys=("audio", "family"),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the corpus ships with music21.
    plan = plan_renderings(self.builder_config)
    return {split: self._generate_examples(plan[split]) for split in SPLITS}

  def _generate_examples(self, renderings):
    cfg = self.builder_config
    for rendering in renderings:
      clips, key = music_render.render_clips(
        rendering.piece,
        program=rendering.program,
        tempo_bpm=rendering.tempo_bpm,
        transpose=rendering.transpose,
        start_quarter=rendering.start_quarter,
        num_clips=cfg.clips_per_rendering,
        clip_samples=cfg.clip_samples,
        sample_rate=cfg.sample_rate,
        velocity_rng=np.random.default_rng(rendering.velocity_seed),
      )
      family, name, _, _ = music_render.instrument(rendering.program)
      collection = rendering.piece.collection
      caption = (
        f"{music_render.COLLECTIONS[collection][1]} in {key}, "
        f"{rendering.tempo_bpm:g} bpm, played on {name} "
        f"({family.replace('_', ' ')})"
      )
      for clip in clips:
        yield (
          f"{rendering.piece.piece_id}|{rendering.index}|{clip.index}",
          {
            "audio": clip.audio,
            "family": family,
            "program": np.int32(rendering.program),
            "collection": collection,
            "piece": rendering.piece.piece_id,
            "caption": caption,
            "tempo_bpm": np.float32(rendering.tempo_bpm),
            "transpose": np.int32(rendering.transpose),
            "notes": clip.notes,
          },
        )


@dataclasses.dataclass(frozen=True)
class Rendering:
  """One piece on one instrument: everything ``render_clips`` needs."""

  piece: music_render.Piece
  index: int
  program: int
  tempo_bpm: float
  transpose: int
  start_quarter: float
  velocity_seed: tuple[int, ...]


def select_pieces(cfg: MusicConfig) -> dict[str, list[music_render.Piece]]:
  """Draws and parses each collection's pieces and assigns them to splits.

  Pieces are taken in a seeded order of the sorted ids; a piece music21 cannot read is
  skipped with a warning (the same ones every time) and the next one is taken. Each
  collection's pieces are then split by a second seeded permutation.

  Returns:
    ``{split: pieces}``, every piece in exactly one split.

  Raises:
    DataError: if a collection has fewer readable pieces than asked for.
  """
  splits: dict[str, list[music_render.Piece]] = {split: [] for split in SPLITS}
  for c_index, collection in enumerate(cfg.collections):
    ids = music_render.list_pieces(collection)
    order = np.random.default_rng([cfg.seed, c_index]).permutation(len(ids))
    chosen = []
    for i in order:
      if len(chosen) == cfg.pieces_per_collection:
        break
      try:
        chosen.append(music_render.parse_piece(ids[i], collection))
      except music_instruments.RenderError as e:
        logging.warning("audiojax_music: skipping %s: %s", ids[i], e)
    if len(chosen) < cfg.pieces_per_collection:
      raise DataError(
        f"collection {collection!r} has {len(chosen)} readable pieces, fewer than "
        f"pieces_per_collection={cfg.pieces_per_collection}"
      )
    chosen.sort(key=lambda p: p.piece_id)
    n = len(chosen)
    held_out = [max(1, round(f * n)) if n >= 3 else 0 for f in cfg.split_fractions]
    perm = np.random.default_rng([cfg.seed, c_index, 1]).permutation(n)
    n_val, n_test = held_out
    for rank, i in enumerate(perm):
      split = (
        "validation" if rank < n_val else "test" if rank < n_val + n_test else "train"
      )
      splits[split].append(chosen[i])
  return splits


def plan_renderings(cfg: MusicConfig) -> dict[str, list[Rendering]]:
  """Which instrument, tempo, transposition and excerpt each rendering uses.

  Within a split, pieces are shuffled and the families are dealt round-robin over the
  (piece, rendering) slots, so families are balanced, independent of the collection,
  and distinct within a piece. Program, tempo, transposition and start come from a
  generator seeded by (seed, piece id, rendering), so they do not depend on the order.

  Returns:
    ``{split: renderings}``.
  """
  families = music_instruments.FAMILIES
  plans = {}
  for s_index, (split, pieces) in enumerate(select_pieces(cfg).items()):
    rng = np.random.default_rng([cfg.seed, s_index, 2])
    pieces = [pieces[i] for i in rng.permutation(len(pieces))]
    family_order = rng.permutation(len(families))
    plan = []
    for p_index, piece in enumerate(pieces):
      for r in range(cfg.renderings_per_piece):
        family = families[
          family_order[(p_index * cfg.renderings_per_piece + r) % len(families)]
        ]
        seed = (cfg.seed, zlib.crc32(piece.piece_id.encode()), r)
        piece_rng = np.random.default_rng(seed)
        programs = music_instruments.INSTRUMENTS[family]
        program = programs[piece_rng.integers(len(programs))][0]
        tempo = float(cfg.tempos[piece_rng.integers(len(cfg.tempos))])
        transpose = int(cfg.transpositions[piece_rng.integers(len(cfg.transpositions))])
        needed = cfg.clips_per_rendering * cfg.clip_seconds * tempo / 60.0
        latest_start = max(0, int(piece.quarters - needed))
        start = float(piece_rng.integers(latest_start + 1))
        plan.append(Rendering(piece, r, program, tempo, transpose, start, seed + (1,)))
    plans[split] = plan
  return plans


def load_split(
  split: str, *, data_dir: str, config: str | None = None, label: str | None = None
) -> AudioSplit:
  """Returns one split of ``audiojax_music``, building the config on first use.

  Args:
    split: "train", "validation" or "test".
    data_dir: tfds data directory.
    config: a name in ``CONFIGS`` (None for "default").
    label: a ClassLabel field, "family" (default) or "collection".

  Returns:
    The split over the ArrayRecord data source.

  Raises:
    DataError: for an unknown config, split or label.
  """
  name = config or AudiojaxMusic.DEFAULT_BUILDER_CONFIG_NAME
  if name not in CONFIGS:
    raise DataError(f"unknown audiojax_music config {name!r}; valid: {sorted(CONFIGS)}")
  if split not in SPLITS:
    raise DataError(f"unknown audiojax_music split {split!r}; valid: {list(SPLITS)}")
  builder = AudiojaxMusic(config=name, data_dir=data_dir)
  features = builder.info.features
  label = label or "family"
  labels = sorted(
    k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)
  )
  if label not in labels:
    raise DataError(f"audiojax_music has no class label {label!r}; valid: {labels}")
  if not builder.is_prepared():
    logging.info("audiojax_music: building config %r in %s (first use)", name, data_dir)
    builder.download_and_prepare()
  return AudioSplit(
    source=builder.as_data_source(split=split),
    label_key=label,
    class_names=tuple(features[label].names),
    sample_rate=builder.builder_config.sample_rate,
    clip_samples=builder.builder_config.clip_samples,
  )
