"""The data owner's secret: which perturbation, its knobs, its key and the poison rate.

A :class:`ProtectionKey` is a small JSON file the owner keeps (``save`` / ``load``).
Everything random follows from it, through streams of the owner's key that never
mix:

* ``fold_in(key, 0)``: the perturbation (each class's filter and patch positions,
  :mod:`audiojax.unlearnable.blur`);
* ``fold_in(key, 1)``: which clips are protected when the poison rate is below 1.

So a saved key reproduces the protected set bit for bit, and protecting the same
clips in another order or another batching gives the same clips.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.unlearnable import PERTURBATIONS
from audiojax.unlearnable.blur import UnlearnableError

PERTURB_STREAM, POISON_STREAM = 0, 1
FORMAT = "audiojax.unlearnable.ProtectionKey/1"


def poison_mask(key: jax.Array, n: int, rate: float) -> np.ndarray:
  """Exactly ``round(rate * n)`` of ``n`` clips, drawn from ``key``.

  Returns:
    ``[n]`` bool, True for the clips to protect.
  """
  _check_rate(rate)
  count = round(rate * n)
  order = np.asarray(jax.random.permutation(key, n))
  mask = np.zeros(n, bool)
  mask[order[:count]] = True
  return mask


def _check_rate(rate) -> float:
  if (
    not isinstance(rate, numbers.Real)
    or isinstance(rate, bool)
    or not math.isfinite(rate)
    or not 0.0 <= rate <= 1.0
  ):
    raise UnlearnableError(f"poison_rate must be a number in [0, 1], got {rate!r}")
  return float(rate)


@dataclasses.dataclass(frozen=True)
class ProtectionKey:
  """A perturbation with its knobs, the owner's key and the share of clips it covers.

  Attributes:
    method: a name in :data:`audiojax.unlearnable.PERTURBATIONS`.
    key_data: the owner's ``jax.random`` key as ``uint32`` words
      (``jax.random.key_data``), the secret.
    knobs: keyword arguments of the perturbation (patch length, blur, ...).
    poison_rate: the share of clips protected, honoured exactly.
  """

  method: str
  key_data: tuple[int, ...]
  knobs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  poison_rate: float = 1.0

  def __post_init__(self):
    PERTURBATIONS.get(self.method)  # an unknown name fails here, listing the valid
    _check_rate(self.poison_rate)
    words = tuple(self.key_data)
    if not words or not all(
      isinstance(w, numbers.Integral) and 0 <= w < 2**32 for w in words
    ):
      raise UnlearnableError(f"key_data must be uint32 words, got {self.key_data!r}")
    object.__setattr__(self, "key_data", tuple(int(w) for w in words))
    object.__setattr__(self, "knobs", dict(self.knobs))

  @classmethod
  def generate(
    cls,
    method: str,
    seed: int | None = None,
    *,
    poison_rate: float = 1.0,
    **knobs: Any,
  ) -> ProtectionKey:
    """A new key: from ``seed`` (reproducible), or from the OS's randomness."""
    if seed is None:
      seed = secrets.randbits(63)
    data = jax.random.key_data(jax.random.key(seed))
    return cls(method, tuple(np.asarray(data).tolist()), knobs, poison_rate)

  @property
  def key(self) -> jax.Array:
    return jax.random.wrap_key_data(jnp.asarray(self.key_data, jnp.uint32))

  def perturb(self, x: jax.Array, y: jax.Array) -> jax.Array:
    """Every clip of the batch protected (the poison rate is not applied)."""
    fn = PERTURBATIONS.get(self.method)
    return fn(x, y, jax.random.fold_in(self.key, PERTURB_STREAM), **self.knobs)

  def protect(
    self, audio: np.ndarray | Sequence[np.ndarray], labels, *, batch_size: int = 128
  ) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """A whole set, the poison rate applied.

    Args:
      audio: ``[n, samples]`` float waveforms in [-1, 1], or a sequence of ``n``
        1-D clips of any lengths (clips of one length are protected together; a
        class's patch positions follow its clips' length).
      labels: ``[n]`` integer labels.
      batch_size: clips per jitted call (every call of a length has this shape; the
        last batch is padded), which bounds memory and compiles once per length.

    Returns:
      ``(protected, poisoned [n] bool)``: ``protected`` as ``audio`` came (an array
      or a list), float32; unprotected clips are returned unchanged.
    """
    labels = np.asarray(labels)
    if isinstance(audio, np.ndarray) and audio.ndim == 2:  # one length: one group
      out = np.array(audio, np.float32)  # a copy, filled in place
      groups = [(np.arange(len(out)), out)]
    else:
      out = [np.asarray(a, np.float32) for a in audio]
      if any(c.ndim != 1 for c in out):
        raise UnlearnableError("audio must be [n, samples] or n 1-D clips")
      lengths = np.array([len(c) for c in out])
      groups = [
        (idx, np.stack([out[i] for i in idx]))
        for idx in (np.flatnonzero(lengths == n) for n in np.unique(lengths))
      ]
    if labels.shape != (len(out),):
      raise UnlearnableError(
        f"audio holds {len(out)} clips but labels have shape {labels.shape}"
      )
    poisoned = poison_mask(
      jax.random.fold_in(self.key, POISON_STREAM), len(out), self.poison_rate
    )
    for idx, clips in groups:  # clips[j] is example idx[j]
      local = np.flatnonzero(poisoned[idx])
      for start in range(0, len(local), batch_size):
        rows = local[start : start + batch_size]
        pad = batch_size - len(rows)
        x, y = clips[rows], labels[idx[rows]].astype(np.int32)
        if pad:  # every call of a length has one shape: one compile
          x, y = np.pad(x, ((0, pad), (0, 0))), np.pad(y, (0, pad))
        protected = np.asarray(self.perturb(x, y))[: len(rows)]
        if isinstance(out, np.ndarray):
          out[idx[rows]] = protected
        else:
          for j, i in enumerate(idx[rows]):
            out[i] = protected[j]
    return out, poisoned

  def describe(self) -> dict[str, Any]:
    """What the protection was, without the secret: safe to publish with the data."""
    return {
      "method": self.method,
      "knobs": dict(self.knobs),
      "poison_rate": self.poison_rate,
    }

  def to_json(self) -> dict[str, Any]:
    return {
      "format": FORMAT,
      "method": self.method,
      "key_data": list(self.key_data),
      "knobs": dict(self.knobs),
      "poison_rate": self.poison_rate,
    }

  def save(self, path: str, **extra: Any) -> None:
    """Writes the key as JSON, readable by its owner only (mode 600), atomically (a
    crash leaves the old file or none); ``extra`` fields (e.g. the class names
    ``launch.protect`` keeps) are stored beside it."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
      json.dump({**self.to_json(), **extra}, f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load(path: str) -> ProtectionKey:
  """Reads a key written by :meth:`ProtectionKey.save`.

  Raises:
    UnlearnableError: naming the file, for a missing, unreadable or malformed key.
  """
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise UnlearnableError(f"cannot read protection key {path}: {e}") from e
  if not isinstance(record, dict) or record.get("format") != FORMAT:
    raise UnlearnableError(f"{path} is not a protection key (no format {FORMAT!r})")
  try:
    return ProtectionKey(
      method=record["method"],
      key_data=tuple(record["key_data"]),
      knobs=record.get("knobs", {}),
      poison_rate=record.get("poison_rate", 1.0),
    )
  except (KeyError, TypeError, ValueError) as e:
    raise UnlearnableError(f"malformed protection key {path}: {e!s}") from e
