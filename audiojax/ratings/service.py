"""The rating service: what raters and admins can do, over a ratings store.

:class:`RatingService` is plain Python over a :class:`RatingStore` (so it is tested
without a browser, and imports no JAX): it hands raters the clips of the *current*
generation, least rated first, records stars or pairwise choices with the client's
address, reports progress, and runs the admin actions behind a token. Every refusal is
a :class:`RatingError` (a ``ValueError``) naming the reason, and changes nothing.
:mod:`audiojax.ratings.page` wraps it in the Gradio page whose events are the public
API.

The service runs before the thing it serves exists: while the GA's generator trains
or loads, a :class:`Progress` says what the server is preparing and how far it is, and
every rater request is refused with a :class:`NotReady` naming it, unless a generation
is already published (a restart, another replica running the GA): that one is
served. The session and the service talk only through the store's ``meta`` table
(generation, phase, paused, advance), so they may live in different threads or
processes.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
import threading
import time
from typing import Any

import numpy as np

from audiojax.ratings.errors import InvalidRater, RatingError, UnknownClip, check_id
from audiojax.ratings.store import RatingStore

ADMIN_ACTIONS = ("advance", "pause", "resume", "export")

# Keys of the store's meta table, written by the session and read by the service.
META_GENERATION, META_PHASE = "generation", "phase"
META_PAUSED, META_ADVANCE = "paused", "advance_generation"


class AdminError(RatingError):
  """An admin action without the right token, or an unknown action."""


class ClosedGeneration(RatingError):
  """A vote for a clip of a generation that is no longer being rated."""


class NotReady(RatingError):
  """No clip to serve right now (preparing, paused, rendering, or all rated)."""


@dataclasses.dataclass
class Progress:
  """What the server is preparing before it can serve clips, shared across threads.

  Attributes:
    task: what it is doing ("training the generator"); empty once ready.
    step: how far (e.g. training steps done), when countable.
    total: out of how many.
    error: set when preparing failed; every request then reports it.
  """

  task: str = "starting"
  step: int | None = None
  total: int | None = None
  error: str | None = None
  _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

  def update(self, task: str, step: int | None = None, total: int | None = None):
    with self._lock:
      self.task, self.step, self.total = task, step, total

  def fail(self, error: str) -> None:
    with self._lock:
      self.error = error

  def done(self) -> None:
    self.update("")

  @property
  def ready(self) -> bool:
    with self._lock:
      return not self.task and self.error is None

  def describe(self) -> str:
    with self._lock:
      if self.error is not None:
        return f"not ready: {self.error}"
      where = f", step {self.step}/{self.total}" if self.total else ""
      return f"not ready yet: {self.task}{where}; try again in a minute"

  def as_dict(self) -> dict[str, Any] | None:
    with self._lock:
      if not self.task and self.error is None:
        return None
      return {
        "task": self.task,
        "step": self.step,
        "total": self.total,
        "error": self.error,
      }


def wait_for_generation(
  store: RatingStore,
  generation: int,
  *,
  mode: str,
  per_clip: int,
  timeout_seconds: float = 0.0,
  stop: threading.Event | None = None,
  poll: float = 0.2,
) -> bool:
  """Blocks until ``generation`` can be concluded; False if ``stop`` is set first.

  A generation ends when every clip has ``per_clip`` star votes (``mode="stars"``),
  ``timeout_seconds`` (> 0) passed, or an admin asked to advance it; never while the
  session is paused.
  """
  start = time.monotonic()
  while stop is None or not stop.is_set():
    if store.get_meta(META_PAUSED, "0") != "1":
      if store.get_meta(META_ADVANCE) == str(generation):
        return True
      if mode == "stars":
        counts = store.counts_per_clip(generation)
        if counts and min(counts.values()) >= per_clip:
          return True
      if timeout_seconds and time.monotonic() - start > timeout_seconds:
        return True
    time.sleep(poll)
  return False


class RatingService:
  """What raters and admins can do, over the session's ratings store.

  Args:
    store: the session's store (shared with the session thread).
    population_size: ``P``; clips of individual ``P`` are the base generator's.
    admin_token: the secret admin actions need (None: admin actions disabled).
    export_dir: where CSV exports are written.
    progress: what the server is still preparing (None: ready from the start).
  """

  def __init__(
    self,
    store: RatingStore,
    population_size: int,
    *,
    admin_token: str | None,
    export_dir: str,
    progress: Progress | None = None,
  ):
    self.store = store
    self.population_size = population_size
    self.admin_token = admin_token
    self.export_dir = export_dir
    self.progress = progress or Progress(task="")

  # State.

  def generation(self) -> int:
    return int(self.store.get_meta(META_GENERATION, "0"))

  def paused(self) -> bool:
    return self.store.get_meta(META_PAUSED, "0") == "1"

  def status(self) -> dict[str, Any]:
    """Generation, phase, this generation's clips and votes, and the mean rating of
    every generation so far (population clips)."""
    g = self.generation()
    counts = self.store.counts_per_clip(g)
    means = []
    for h in range(g + 1):
      stars = [
        r.rating for r in self.store.ratings(h) if r.individual < self.population_size
      ]
      means.append(float(np.mean(stars)) if stars else None)
    return {
      "ready": self.progress.ready,
      "preparing": self.progress.as_dict(),
      "generation": g,
      "phase": self.store.get_meta(META_PHASE, "render"),
      "paused": self.paused(),
      "clips": len(counts),
      "ratings": int(sum(counts.values())),
      "min_ratings_per_clip": int(min(counts.values())) if counts else 0,
      "mean_rating_per_generation": means,
    }

  # Raters.

  def _check_open(self) -> int:
    # A published generation is served whatever this process is still preparing:
    # after a restart, or on a replica taking over the GA, raters go on rating it.
    if not self.progress.ready and (
      self.progress.error is not None or self.store.get_meta(META_PHASE) != "rating"
    ):
      raise NotReady(self.progress.describe())
    if self.paused():
      raise NotReady("the session is paused; please come back in a moment")
    return self.generation()

  def next_clip(self, rater_id: str) -> tuple[str, str]:
    """``(file, clip_id)`` of a clip of the current generation ``rater_id`` has not
    rated (least rated first)."""
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    g = self._check_open()
    clip = self.store.next_clip_for(rater_id, g)
    if clip is None:
      if not self.store.clips(g):
        raise NotReady(f"generation {g} is being rendered; try again in a few seconds")
      raise NotReady(
        f"you have rated every clip of generation {g}; the next generation starts "
        "when the others have rated too"
      )
    return clip.file, clip.clip_id

  def _current_clip(self, clip_id: object, g: int):
    if not isinstance(clip_id, str):
      raise UnknownClip(f"unknown clip id {clip_id!r}")
    clip = next((c for c in self.store.clips(g) if c.clip_id == clip_id), None)
    if clip is not None:
      return clip
    for h in range(g):
      if any(c.clip_id == clip_id for c in self.store.clips(h)):
        raise ClosedGeneration(
          f"clip {clip_id!r} belongs to generation {h}, which is closed (now {g})"
        )
    raise UnknownClip(f"unknown clip id {clip_id!r}")

  def rate(
    self, rater_id: str, clip_id: str, rating: Any, *, address: str | None = None
  ) -> str:
    """Stores ``rating`` stars from client ``address``; returns a confirmation."""
    g = self._check_open()
    clip = self._current_clip(clip_id, g)
    stored = self.store.rate(rater_id, clip.clip_id, rating, address=address)
    return f"thanks: {stored.rating} stars for {stored.clip_id}"

  def next_pair(self, rater_id: str) -> tuple[str, str, str, str]:
    """Two clips of the current generation rendered from the same noise by different
    individuals, not yet compared by ``rater_id``: ``(file_a, file_b, id_a, id_b)``."""
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    g = self._check_open()
    done = {
      (c.clip_a, c.clip_b) for c in self.store.comparisons(g) if c.rater_id == rater_id
    }
    by_slot: dict[str, list] = {}
    for c in self.store.clips(g):
      by_slot.setdefault(c.clip_id.rsplit("-", 1)[-1], []).append(c)
    rng = np.random.default_rng(
      [g, len(done), int.from_bytes(rater_id.encode()[:8], "little")]
    )
    slots = [v for _, v in sorted(by_slot.items()) if len(v) >= 2]
    for _ in range(64):
      if not slots:
        break
      clips = slots[rng.integers(len(slots))]
      a, b = (clips[i] for i in rng.choice(len(clips), 2, replace=False))
      if (
        a.individual != b.individual
        and tuple(sorted((a.clip_id, b.clip_id))) not in done
      ):
        return a.file, b.file, a.clip_id, b.clip_id
    raise NotReady(f"no new pair of generation {g} to compare right now")

  def compare(
    self,
    rater_id: str,
    clip_a: str,
    clip_b: str,
    winner: str,
    *,
    address: str | None = None,
  ) -> str:
    """Stores that ``rater_id`` preferred ``winner``; returns a confirmation."""
    g = self._check_open()
    a, b = self._current_clip(clip_a, g), self._current_clip(clip_b, g)
    self.store.compare(rater_id, a.clip_id, b.clip_id, winner, address=address)
    return f"thanks: you preferred {winner}"

  # Admin.

  def admin(self, token: str, action: str) -> str:
    """Runs ``action`` (one of :data:`ADMIN_ACTIONS`); returns what it did (the CSV
    path for ``export``)."""
    if not self.admin_token:
      raise AdminError(
        "admin actions are disabled (the app was started without --admin_token)"
      )
    if not isinstance(token, str) or not hmac.compare_digest(
      token.encode(), self.admin_token.encode()
    ):
      raise AdminError("wrong admin token")
    if action not in ADMIN_ACTIONS:
      raise AdminError(
        f"unknown admin action {action!r}; valid: {', '.join(ADMIN_ACTIONS)}"
      )
    g = self.generation()
    if action == "advance":
      self.store.set_meta(META_ADVANCE, str(g))
      return f"generation {g} will close now"
    if action in ("pause", "resume"):
      self.store.set_meta(META_PAUSED, "1" if action == "pause" else "0")
      return f"session {action}d at generation {g}"
    os.makedirs(self.export_dir, exist_ok=True)
    path = os.path.join(
      self.export_dir, f"ratings-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    )
    self.store.export_csv(path)
    return path
