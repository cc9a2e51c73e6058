"""Data sets: embedded (generated here from packages) and catalog (tfds, with data_dir).

``load(name, split, ...)`` is the one entry point; each data set module registers a
loader ``fn(split, *, data_dir, config, label) -> AudioSplit`` in ``DATASETS``.
"""

from __future__ import annotations

from audiojax.data.source import (
  ArraySource,
  AudioSplit,
  DataError,
  default_data_dir,
)
from audiojax.registry import Registry

DATASETS: Registry = Registry("data set")


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
  return loader(
    split, data_dir=data_dir or default_data_dir(), config=config, label=label
  )


# Registration happens on import of each data set module.
from audiojax.data import catalog, keywords, music  # noqa: E402,F401

__all__ = [
  "DATASETS",
  "ArraySource",
  "AudioSplit",
  "DataError",
  "load",
  "default_data_dir",
]
