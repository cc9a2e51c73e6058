"""Simulated raters with a hidden taste, for tests, benchmarks and headless runs.

Each honest rater likes clips whose *brightness* (mean spectral centroid,
``librosa.feature.spectral_centroid``) is near a preferred value, on a log-frequency
scale: ``u = exp(-(log2(c / target) / width)^2)`` in [0, 1]; a star rating is
``round(1 + 4 u + bias + noise)`` clipped to 1..5, and a pairwise choice picks the clip
of higher ``u + noise`` (Thurstone's model). Panels also hold the raters that a real
shared link attracts: ``random`` (uniform stars), ``constant`` (always the same star)
and ``adversarial`` (6 minus the honest rating). Everything is seeded, so a panel rates
the same clips the same way in every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

import librosa
import numpy as np
import scipy.special

from audiojax import audio as audio_lib
from audiojax.registry import Registry


class Kind(NamedTuple):
  """How a kind of rater turns an honest opinion into a vote.

  Attributes:
    stars: ``(rater, honest_stars [N], draws [N, 2]) -> stars [N]``.
    preference: ``(honest_utilities [2], draws [4]) -> utilities [2]`` of a pair.
  """

  stars: Callable[[Any, np.ndarray, np.ndarray], np.ndarray]
  preference: Callable[[np.ndarray, np.ndarray], np.ndarray]


KINDS: Registry = Registry(
  "rater kind",
  {
    "honest": Kind(lambda r, honest, d: honest, lambda u, d: u),
    "adversarial": Kind(lambda r, honest, d: 6 - honest, lambda u, d: -u),
    "constant": Kind(
      lambda r, honest, d: np.full(len(honest), r.constant), lambda u, d: d[2:]
    ),
    # Uniform stars from the second draw: Phi(z) is uniform on (0, 1).
    "random": Kind(
      lambda r, honest, d: 1 + np.minimum((5 * _normal_cdf(d[:, 1])).astype(int), 4),
      lambda u, d: d[2:],
    ),
  },
)


def brightness(audio: np.ndarray, sample_rate: int) -> np.ndarray:
  """Mean spectral centroid in Hz of each clip of ``[N, samples]`` audio."""
  audio = np.atleast_2d(np.asarray(audio, np.float32))
  centroid = librosa.feature.spectral_centroid(y=audio, sr=sample_rate)  # [N, 1, T]
  return centroid[:, 0].mean(-1)


def utility(
  centroid_hz: np.ndarray, target_hz: float, width_octaves: float
) -> np.ndarray:
  """How much a clip of this brightness pleases a rater preferring ``target_hz``."""
  d = np.log2(np.maximum(centroid_hz, 1.0) / target_hz) / width_octaves
  return np.exp(-(d**2))


@dataclasses.dataclass(frozen=True)
class Rater:
  """One simulated rater (see the module docstring)."""

  rater_id: str
  kind: str = "honest"
  target_hz: float = 2000.0
  width_octaves: float = 1.0
  bias: float = 0.0
  noise: float = 0.5
  constant: int = 3
  seed: int = 0

  def __post_init__(self):
    KINDS.get(self.kind)  # An unknown kind fails here, naming the valid ones.

  def _draws(self, clip_ids: list[str], n: int = 1) -> np.ndarray:
    """``[len(clip_ids), n]`` standard normals that depend on (rater, clip) only."""
    return (
      np.stack(
        [
          np.random.default_rng([self.seed, _stable_hash(c)]).normal(size=n)
          for c in clip_ids
        ]
      )
      if clip_ids
      else np.zeros((0, n))
    )

  def rate(self, clip_ids: list[str], centroid_hz: np.ndarray) -> np.ndarray:
    """Stars 1..5 for clips with these brightnesses."""
    draws = self._draws(clip_ids, 2)
    honest = 1 + 4 * utility(centroid_hz, self.target_hz, self.width_octaves)
    honest = np.clip(np.rint(honest + self.bias + self.noise * draws[:, 0]), 1, 5)
    return KINDS.get(self.kind).stars(self, honest, draws).astype(int)

  def prefer(
    self, clip_a: str, clip_b: str, centroid_a: float, centroid_b: float
  ) -> str:
    """The clip this rater picks of a pair."""
    draws = self._draws([f"{clip_a}|{clip_b}"], 4)[0]
    u = utility(np.array([centroid_a, centroid_b]), self.target_hz, self.width_octaves)
    u = KINDS.get(self.kind).preference(u + 0.25 * self.noise * draws[:2], draws)
    return clip_a if u[0] >= u[1] else clip_b


def _stable_hash(text: str) -> int:
  # Python's hash() is salted per process; a panel must rate identically everywhere.
  return int.from_bytes(
    hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little"
  )


def _normal_cdf(z: np.ndarray) -> np.ndarray:
  return 0.5 * (1.0 + scipy.special.erf(z / np.sqrt(2.0)))


def make_panel(
  seed: int,
  *,
  honest: int,
  random: int = 0,
  constant: int = 0,
  adversarial: int = 0,
  target_hz: float = 2000.0,
  width_octaves: float = 1.0,
  bias_std: float = 0.4,
  noise: float = 0.5,
) -> list[Rater]:
  """A panel sharing one taste, with per-rater bias, and some unhelpful raters."""
  if not (np.isfinite(target_hz) and target_hz > 0):
    raise ValueError(f"target_hz must be a positive frequency, got {target_hz}")
  if not (np.isfinite(width_octaves) and width_octaves > 0):
    raise ValueError(f"width_octaves must be positive, got {width_octaves}")
  rng = np.random.default_rng(seed)
  panel = []
  for kind, n in (
    ("honest", honest),
    ("random", random),
    ("constant", constant),
    ("adversarial", adversarial),
  ):
    for i in range(n):
      panel.append(
        Rater(
          rater_id=f"sim-{kind}-{i}",
          kind=kind,
          target_hz=target_hz,
          width_octaves=width_octaves,
          bias=float(bias_std * rng.normal()),
          noise=noise,
          constant=int(rng.integers(1, 6)),
          seed=int(rng.integers(2**31)),
        )
      )
  return panel


class SimulatedPanel:
  """A panel voting through a :class:`~audiojax.ratings.store.RatingStore`, as the
  Gradio app's users do: each rater in turn asks for the next clip it has not rated
  (least-rated first) and votes, until every clip has ``per_clip`` votes.

  Votes carry a simulated clock (rater ``r``'s ``k``-th vote of generation ``g`` at
  ``g * 86400 + 5 k`` s: one vote per 5 s, under the store's rate limit), so a
  headless run does not depend on how fast the machine is.

  Args:
    raters: the panel.
    sample_rate: of the clips whose brightness is measured.
  """

  def __init__(self, raters: list[Rater], sample_rate: int):
    if not raters:
      raise ValueError("a panel needs at least one rater")
    self.raters = list(raters)
    self.sample_rate = sample_rate

  def rate_stars(
    self, store, generation: int, audio_by_clip: dict[str, np.ndarray], per_clip: int
  ) -> int:
    """Star-rates the clips of ``generation``; returns the number of votes cast."""
    bright = self._brightness(audio_by_clip)
    votes, active = 0, {r.rater_id: r for r in self.raters}
    casts = dict.fromkeys(active, 0)
    while active:
      counts = store.counts_per_clip(generation)
      if counts and min(counts.values()) >= per_clip:
        break
      for rater_id in list(active):
        clip = store.next_clip_for(rater_id, generation)
        if clip is None or clip.clip_id not in bright:
          del active[rater_id]
          continue
        stars = active[rater_id].rate([clip.clip_id], np.array([bright[clip.clip_id]]))[
          0
        ]
        now = generation * 86400.0 + 5.0 * casts[rater_id]
        store.rate(rater_id, clip.clip_id, int(stars), now=now)
        casts[rater_id] += 1
        votes += 1
    return votes

  def rate_pairs(
    self,
    store,
    generation: int,
    audio_by_clip: dict[str, np.ndarray],
    pairs_per_rater: int,
    seed: int = 0,
  ) -> int:
    """Each rater compares ``pairs_per_rater`` random pairs of clips rendered from
    the same noise (same clip suffix, different individuals); returns the votes."""
    bright = self._brightness(audio_by_clip)
    by_slot: dict[str, list[str]] = {}
    for clip_id in sorted(bright):
      by_slot.setdefault(clip_id.rsplit("-", 1)[-1], []).append(clip_id)
    slots = [v for _, v in sorted(by_slot.items()) if len(v) >= 2]
    if not slots:
      raise ValueError("no two clips share a noise slot; nothing to compare")
    votes = 0
    for r_index, rater in enumerate(self.raters):
      rng = np.random.default_rng([seed, generation, r_index])
      for k in range(pairs_per_rater):
        clips = slots[rng.integers(len(slots))]
        a, b = (clips[i] for i in rng.choice(len(clips), 2, replace=False))
        winner = rater.prefer(a, b, bright[a], bright[b])
        now = generation * 86400.0 + 5.0 * k
        try:
          store.compare(rater.rater_id, a, b, winner, now=now)
        except ValueError:  # DuplicateVote: the same pair drawn twice.
          continue
        votes += 1
    return votes

  def vote(self, store, generation: int, ratings: Any, *, seed: int = 0) -> int:
    """Votes on the published clips of ``generation`` as a session's ``ratings``
    config asks (stars until ``per_clip`` each, or ``pairs_per_rater`` pairwise
    rounds), listening to the WAV files raters get; returns the votes cast."""
    audio = {
      c.clip_id: audio_lib.load(c.file, sr=self.sample_rate)[0]
      for c in store.clips(generation)
    }
    if ratings.mode == "pairwise":
      return self.rate_pairs(store, generation, audio, ratings.pairs_per_rater, seed)
    return self.rate_stars(store, generation, audio, ratings.per_clip)

  def _brightness(self, audio_by_clip: dict[str, np.ndarray]) -> dict[str, float]:
    ids = sorted(audio_by_clip)
    if not ids:
      return {}
    values = brightness(np.stack([audio_by_clip[i] for i in ids]), self.sample_rate)
    return dict(zip(ids, map(float, values), strict=True))
