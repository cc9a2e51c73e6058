"""Protect a folder of labelled audio: what a data owner runs before publishing.

The input folder holds one sub-folder per class (``INPUT/<class>/<file>``, any format
libsndfile reads; the layout of torchvision's ``ImageFolder`` and of most audio
classification sets). :func:`protect_folder` reads every file, protects the clips with
the owner's :class:`~audiojax.unlearnable.keys.ProtectionKey` (made and saved on first
use, reused after), and writes ``OUTPUT/<class>/<file stem>.wav`` (16-bit PCM, the
file's own sample rate) plus the same clips as an ``audiojax_protected`` tfds data set
in ``OUTPUT/tfds``, with ``OUTPUT/protection.json`` saying what was done.

Nothing is half-written: every input is read and checked before anything is written
(unreadable files are listed together, naming each, unless ``skip_bad``), the output
is assembled in a temporary folder beside ``OUTPUT`` and renamed into place at the
end, and an existing ``OUTPUT`` is never overwritten. Class indices follow the key:
a key made here stores the sorted class names, and a later batch protected with the
same key must use those classes, so every clip of a class gets the same patches.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from audiojax import audio as audio_lib
from audiojax.unlearnable import dataset, keys
from audiojax.unlearnable.blur import UnlearnableError


class ProtectError(UnlearnableError):
  """The folder, its files or the key cannot be protected as asked."""


@dataclasses.dataclass(frozen=True)
class Clip:
  path: str  # relative to the input folder
  label: int
  audio: np.ndarray
  sample_rate: int


def read_folder(
  input_dir: str, classes: list[str] | None = None, *, skip_bad: bool = False
) -> tuple[list[Clip], list[str], list[str]]:
  """Every audio file under ``input_dir/<class>/``.

  Args:
    input_dir: the folder of class folders.
    classes: the class names in label order (a key's); None: the sorted folders.
    skip_bad: leave unreadable files out (listed in the third return value) instead
      of raising.

  Returns:
    ``(clips, classes, skipped)``.

  Raises:
    ProtectError: for a missing folder, no class folders, a class folder the key
      does not know, mixed sample rates, or (without ``skip_bad``) unreadable files,
      all named at once.
  """
  if not os.path.isdir(input_dir):
    raise ProtectError(f"input folder {input_dir} does not exist")
  found = sorted(
    d for d in os.listdir(input_dir) if os.path.isdir(os.path.join(input_dir, d))
  )
  if not found:
    raise ProtectError(f"{input_dir} has no class folders (expected INPUT/<class>/)")
  if classes is None:
    classes = found
  unknown = sorted(set(found) - set(classes))
  if unknown:
    raise ProtectError(
      f"class folders {unknown} are not among the key's classes {classes}"
    )
  clips, bad = [], []
  for label, name in enumerate(classes):
    folder = os.path.join(input_dir, name)
    if not os.path.isdir(folder):
      continue
    for root, _, files in sorted(os.walk(folder)):
      for file in sorted(files):
        path = os.path.join(root, file)
        try:
          y, sr = audio_lib.load(path)
        except (audio_lib.AudioError, OSError) as e:
          bad.append(f"{os.path.relpath(path, input_dir)}: {e}")
          continue
        clips.append(Clip(os.path.relpath(path, input_dir), label, y, sr))
  if bad and not skip_bad:
    raise ProtectError(
      f"{len(bad)} file(s) cannot be read (nothing was written):\n  " + "\n  ".join(bad)
    )
  if not clips:
    raise ProtectError(f"no readable audio in {input_dir}")
  rates = sorted({c.sample_rate for c in clips})
  if len(rates) > 1:
    odd = next(c.path for c in clips if c.sample_rate != clips[0].sample_rate)
    raise ProtectError(
      f"files have several sample rates {rates} (e.g. {odd}); the patch length is "
      "in samples, so resample the folder to one rate first"
    )
  return clips, list(classes), bad


def stored_classes(key_path: str) -> list[str] | None:
  """The class names a key made by :func:`protect_folder` stores (None: none)."""
  with open(key_path) as f:
    classes = json.load(f).get("classes")
  if classes is not None and not (
    isinstance(classes, list) and all(isinstance(c, str) for c in classes)
  ):
    raise ProtectError(f"{key_path}: 'classes' must be a list of names")
  return classes


def protect_folder(
  input_dir: str,
  key_path: str,
  output_dir: str,
  *,
  method: str = "poscuda",
  poison_rate: float = 1.0,
  knobs: dict[str, Any] | None = None,
  skip_bad: bool = False,
) -> dict[str, Any]:
  """Protects ``input_dir`` into ``output_dir`` (see the module docstring).

  ``method``, ``poison_rate`` and ``knobs`` make a new key when ``key_path`` does
  not exist; an existing key's own settings are used and these are ignored.

  Returns:
    The summary written to ``OUTPUT/protection.json``.
  """
  if os.path.exists(output_dir):
    raise ProtectError(f"output {output_dir} exists; protection never overwrites")
  key, stored = None, None
  if os.path.exists(key_path):
    key, stored = keys.load(key_path), stored_classes(key_path)
  clips, classes, skipped = read_folder(input_dir, stored, skip_bad=skip_bad)
  created = key is None
  if created:  # from the OS's randomness: the owner's secret
    key = keys.ProtectionKey.generate(method, poison_rate=poison_rate, **(knobs or {}))
  labels = np.array([c.label for c in clips])
  protected, poisoned = key.protect([c.audio for c in clips], labels)
  sample_rate = clips[0].sample_rate

  parent = os.path.dirname(os.path.abspath(output_dir))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".protect-", dir=parent)
  try:
    files = []
    for clip, y, p in zip(clips, protected, poisoned, strict=True):
      rel = os.path.splitext(clip.path)[0] + ".wav"
      path = os.path.join(tmp, rel)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      audio_lib.save(path, y, sample_rate)
      files.append({"file": rel, "class": classes[clip.label], "protected": bool(p)})
    dataset.write(
      os.path.join(tmp, "tfds"),
      {"train": (protected, labels, poisoned)},
      class_names=classes,
      sample_rate=sample_rate,
      clip_samples=max(len(y) for y in protected),
      protection=key.describe(),
    )
    summary = {
      **key.describe(),
      "classes": classes,
      "sample_rate": sample_rate,
      "clips": len(clips),
      "protected": int(poisoned.sum()),
      "skipped": skipped,
    }
    with open(os.path.join(tmp, "protection.json"), "w") as f:
      json.dump(summary, f, indent=2)
    if created:  # the key is saved only with a finished output
      key.save(key_path, classes=classes)
    os.replace(tmp, output_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  summary["key_created"] = created
  summary["files"] = files
  return summary
