"""Data sets: embedded (generated here from packages) and catalog (tfds, with data_dir).

``load(name, split, ...)`` is the one entry point; every data set is a loader
``fn(split, *, data_dir, config, label) -> AudioSplit`` listed in ``DATASETS`` (lazily:
asking for one imports only its module). ``load_split(config.dataset, split)`` reads
the fields an experiment config declares.
"""

from __future__ import annotations

import jax
import ml_collections

from audiojax import distributed
from audiojax.data import pipeline
from audiojax.data.source import AudioSplit, default_data_dir
from audiojax.registry import Registry

DATASETS: Registry = Registry(
  "data set",
  {
    "audiojax_music": "audiojax.data.music:load_split",
    "audiojax_keywords": "audiojax.data.keywords:load_split",
    "audiojax_ecg": "audiojax.data.ecg_builder:load_split",
    # A data set written by audiojax.unlearnable.dataset.write (data_dir names it).
    "audiojax_protected": "audiojax.unlearnable.dataset:load_split",
    "speech_commands": "audiojax.data.catalog:load_speech_commands",
    "gtzan": "audiojax.data.catalog:load_gtzan",
    "nsynth": "audiojax.data.catalog:load_nsynth",
  },
)


def load(
  name: str,
  split: str,
  *,
  data_dir: str | None = None,
  config: str | None = None,
  label: str | None = None,
) -> AudioSplit:
  """Returns one split of data set ``name``, building embedded sets on first use.

  Args:
    name: a registered data set (``audiojax.data.DATASETS``).
    split: "train", "validation" or "test" (catalog sets may name others).
    data_dir: where tfds keeps built data; defaults to ``default_data_dir()``.
    config: a builder config name (e.g. "tiny"), or None for the default.
    label: which example field is the class label, or None for the default.
  """
  loader = DATASETS.get(name)
  kwargs = dict(data_dir=data_dir or default_data_dir(), config=config, label=label)
  if jax.process_count() == 1:
    return loader(split, **kwargs)
  # Several processes: the primary builds an embedded set (one writer to the shared
  # data_dir), the others read it once it is there.
  out = loader(split, **kwargs) if distributed.is_primary() else None
  distributed.barrier(f"data {name}/{config}/{split}")
  return out if out is not None else loader(split, **kwargs)


def load_split(
  dataset: ml_collections.ConfigDict, split: str, *, label: str | None = None
) -> AudioSplit:
  """One split of the data set an experiment config describes.

  Args:
    dataset: ``config.dataset`` with ``name``, ``config``, ``data_dir``, ``label``
      and ``in_memory`` (read the whole split into memory once).
    split: the split to load.
    label: another label field than ``dataset.label`` (e.g. "collection").
  """
  out = load(
    dataset.name,
    split,
    data_dir=dataset.data_dir,
    config=dataset.config,
    label=label or dataset.label,
  )
  return pipeline.load_in_memory(out) if dataset.in_memory else out
