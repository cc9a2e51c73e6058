"""The ratings store of the human-in-the-loop GA: clips, raters, stars, pairwise votes.

Raters give clips of the current generation 1-5 stars or pick the better of two, as in
Singh et al., 2025, "Improving AI-generated music with user-guided training". Votes
arrive from many Gradio threads and the process may be killed at any moment, so a
vote is acknowledged only once durable: by default in one SQLite file in WAL mode
with ``synchronous=FULL``, or on PostgreSQL for several app replicas
(:mod:`audiojax.ratings.backends`; the SQL here is the dialect both share).

Every vote runs in one write transaction (SQLite's ``BEGIN IMMEDIATE``; on
PostgreSQL under a store-wide advisory lock) that validates, checks the rate and
address limits and inserts, so a rejected vote changes nothing and two concurrent
votes, from any replica, cannot both slip under a limit; the tables' unique
constraints refuse a repeated vote even from outside this code. Bad input raises a
subclass of :class:`RatingError` (:mod:`audiojax.ratings.errors`) naming the
offending value.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import IO, Any

from audiojax.ratings import export
from audiojax.ratings.db import (
  Clip,
  Comparison,
  RaterInfo,
  Rating,
  RatingDatabase,
)
from audiojax.ratings.errors import (
  AddressLimited,
  DuplicateVote,
  InvalidClip,
  InvalidRater,
  InvalidRating,
  RateLimited,
  UnknownClip,
  check_address,
  check_id,
  check_int,
  check_stars,
  check_time,
)

WINDOW_SECONDS = 60.0


def _tie_break(rater_id: str, clip_id: str) -> bytes:
  # A per-rater, process-independent order, so that raters arriving together do not
  # all hear the same clip first (and in the same order).
  return hashlib.blake2b(f"{rater_id}\0{clip_id}".encode(), digest_size=8).digest()


class RatingStore(RatingDatabase):
  """Clips, raters, star ratings and pairwise comparisons.

  Safe for many threads and for several processes (SQLite: one connection behind a
  lock, WAL, ``busy_timeout``; PostgreSQL: a connection pool, several replicas).
  Usable as a context manager.

  Args:
    path: database file (or ``sqlite:PATH``), created with its schema if missing,
      or a ``postgresql://`` URL.
    max_per_minute: votes (ratings plus comparisons) one rater may cast in any
      sliding 60 s window.
    max_raters_per_address: how many rater ids may vote from one client address in
      one generation (0: no limit). A shared link lets anybody invent ids; this is
      what stops one person from stuffing a generation by switching them. People
      behind one NAT (a lab, a household) share an address: set it to their number.
    busy_timeout: seconds to wait for another process's write lock.
  """

  def __init__(
    self,
    path: str | os.PathLike,
    *,
    max_per_minute: int = 30,
    max_raters_per_address: int = 0,
    busy_timeout=30.0,
  ):
    for name, value, low in (
      ("max_per_minute", max_per_minute, 1),
      ("max_raters_per_address", max_raters_per_address, 0),
    ):
      if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
      if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    self.max_per_minute = max_per_minute
    self.max_raters_per_address = max_raters_per_address
    super().__init__(path, busy_timeout=busy_timeout)

  @classmethod
  def from_config(cls, path: str | os.PathLike, ratings: Any) -> RatingStore:
    """The store a session's ``ratings`` config block asks for: ``ratings.db``
    (``sqlite:PATH`` or ``postgresql://...``) if set, else the file ``path``."""
    return cls(
      ratings.get("db") or path,
      max_per_minute=ratings.max_per_minute,
      max_raters_per_address=ratings.max_raters_per_address,
    )

  # Clips, raters and session state.

  def add_clip(
    self, clip_id: str, generation: int, individual: int, seed: int, file: str
  ) -> Clip:
    """Registers a rendered clip; re-adding the identical clip is a no-op.

    Returns:
      The stored clip. Raises :class:`InvalidClip` if ``clip_id`` exists with other
      metadata or an argument is malformed.
    """
    clip_id = check_id(clip_id, "clip id", InvalidClip)
    generation = check_int(generation, "generation")
    individual = check_int(individual, "individual")
    seed = check_int(seed, "seed", minimum=None)
    if not isinstance(file, str | os.PathLike):
      raise InvalidClip(f"file of clip {clip_id!r} must be a path, got {file!r}")
    file = os.fspath(file)
    with self._write() as db:
      row = db.execute("SELECT * FROM clips WHERE clip_id=?", (clip_id,)).fetchone()
      if row is not None:
        if tuple(row[1:5]) != (generation, individual, seed, file):
          raise InvalidClip(f"clip {clip_id!r} already exists as {tuple(row)}")
        return Clip(*row)
      clip = Clip(clip_id, generation, individual, seed, file, time.time())
      db.execute("INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?)", clip)
    return clip

  def clips(self, generation: int) -> list[Clip]:
    """The clips of one generation, by individual, seed and id."""
    rows = self._query(
      "SELECT * FROM clips WHERE generation=? ORDER BY individual, seed, clip_id",
      (generation,),
    )
    return [Clip(*r) for r in rows]

  def register_rater(self, rater_id: str, *, now: float | None = None) -> str:
    """Adds a rater (idempotent) and returns the normalised id."""
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    with self._write() as db:
      self._ensure_rater(db, rater_id, check_time(now))
    return rater_id

  def flag_rater(self, rater_id: str, reason: str | None) -> None:
    """Blocks a rater's future votes (``reason=None`` unblocks); keeps past votes."""
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    if reason is not None and not isinstance(reason, str):
      raise InvalidRater(f"flag reason for {rater_id!r} must be text, got {reason!r}")
    with self._write() as db:
      self._ensure_rater(db, rater_id, time.time())
      db.execute("UPDATE raters SET flagged=? WHERE rater_id=?", (reason, rater_id))

  def raters(self) -> list[RaterInfo]:
    """Every rater, by id."""
    return [RaterInfo(*r) for r in self._query("SELECT * FROM raters ORDER BY 1")]

  def set_meta(self, key: str, value: str) -> None:
    """Stores a session value (e.g. the current generation) as text."""
    with self._write() as db:
      db.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
        " SET value=excluded.value",
        (key, str(value)),
      )

  def get_meta(self, key: str, default: str | None = None) -> str | None:
    """A value stored by :meth:`set_meta`, or ``default``."""
    rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
    return rows[0][0] if rows else default

  # Votes.

  def rate(
    self,
    rater_id: str,
    clip_id: str,
    rating: int,
    *,
    now: float | None = None,
    address: str | None = None,
  ) -> Rating:
    """Records ``rating`` stars (1..5) by ``rater_id`` for ``clip_id``.

    Args:
      rater_id, clip_id, rating: the vote.
      now: its time (seconds since the epoch; default: now).
      address: the client's network address, recorded with the vote and checked
        against ``max_raters_per_address`` (None: a local caller, not checked).

    Returns:
      The stored rating, once it is durable. Raises a :class:`RatingError` subclass
      (and stores nothing) for a bad rater, clip or rating, a repeated vote, a rater
      over the rate limit, or an address over its rater limit.
    """
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    rating = check_stars(rating)
    now = check_time(now)
    address = check_address(address)
    with self._write() as db:
      clip = self._clip(db, clip_id)
      self._admit(db, rater_id, now, address, clip.generation)
      if db.execute(
        "SELECT 1 FROM ratings WHERE rater_id=? AND clip_id=?", (rater_id, clip.clip_id)
      ).fetchone():
        raise DuplicateVote(f"rater {rater_id!r} already rated clip {clip.clip_id!r}")
      vote_id = self._insert(
        db,
        "INSERT INTO ratings (rater_id, clip_id, rating, created, address)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (rater_id, clip.clip_id, rating, now, address),
        f"rater {rater_id!r} already rated clip {clip.clip_id!r}",
      )
    return Rating(vote_id, rater_id, clip.clip_id, rating, now, *clip[1:3])

  def compare(
    self,
    rater_id: str,
    clip_a: str,
    clip_b: str,
    winner: str,
    *,
    now: float | None = None,
    address: str | None = None,
  ) -> Comparison:
    """Records that ``rater_id`` preferred ``winner`` of two clips of one generation.

    Returns:
      The stored comparison, with the pair in sorted order. Raises like :meth:`rate`,
      and :class:`InvalidRating` for a clip compared with itself, a winner that is not
      one of the two, or clips of different generations.
    """
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    now = check_time(now)
    address = check_address(address)
    with self._write() as db:
      a, b = self._clip(db, clip_a), self._clip(db, clip_b)
      if a.clip_id == b.clip_id:
        raise InvalidRating(f"clip {a.clip_id!r} cannot be compared with itself")
      if winner not in (a.clip_id, b.clip_id):
        raise InvalidRating(
          f"winner {winner!r} is neither {a.clip_id!r} nor {b.clip_id!r}"
        )
      if a.generation != b.generation:
        raise InvalidRating(
          f"clips {a.clip_id!r} (generation {a.generation}) and {b.clip_id!r} "
          f"(generation {b.generation}) are from different generations"
        )
      a, b = sorted((a, b))
      self._admit(db, rater_id, now, address, a.generation)
      if db.execute(
        "SELECT 1 FROM comparisons WHERE rater_id=? AND clip_a=? AND clip_b=?",
        (rater_id, a.clip_id, b.clip_id),
      ).fetchone():
        raise DuplicateVote(
          f"rater {rater_id!r} already compared {a.clip_id!r} with {b.clip_id!r}"
        )
      vote_id = self._insert(
        db,
        "INSERT INTO comparisons"
        " (rater_id, clip_a, clip_b, winner, created, address)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (rater_id, a.clip_id, b.clip_id, winner, now, address),
        f"rater {rater_id!r} already compared {a.clip_id!r} with {b.clip_id!r}",
      )
    row = (vote_id, rater_id, a.clip_id, b.clip_id, winner, now, a.generation)
    return Comparison(*row, a.individual, b.individual)

  def _insert(self, db: Any, sql: str, args: tuple, duplicate: str) -> int:
    """Inserts a vote and returns its id; the unique constraint's refusal (a vote
    that got past the check above from outside this code) is a
    :class:`DuplicateVote` too."""
    try:
      return int(db.execute(sql, args).fetchone()[0])
    except self._integrity_errors as e:
      raise DuplicateVote(duplicate) from e

  def _clip(self, db: Any, clip_id: object) -> Clip:
    row = None
    if isinstance(clip_id, str):
      row = db.execute("SELECT * FROM clips WHERE clip_id=?", (clip_id,)).fetchone()
    if row is None:
      raise UnknownClip(f"unknown clip id {clip_id!r}")
    return Clip(*row)

  def _ensure_rater(self, db: Any, rater_id: str, now: float) -> tuple:
    db.execute(
      "INSERT INTO raters (rater_id, created) VALUES (?, ?) ON CONFLICT DO NOTHING",
      (rater_id, now),
    )
    return db.execute("SELECT * FROM raters WHERE rater_id=?", (rater_id,)).fetchone()

  def _admit(
    self,
    db: Any,
    rater_id: str,
    now: float,
    address: str | None,
    generation: int,
  ) -> None:
    """Registers the rater; raises if flagged, over the sliding-window limit, or
    voting from an address that too many other raters used this generation."""
    if address is not None and self.max_raters_per_address:
      others = db.execute(
        "SELECT DISTINCT v.rater_id FROM (SELECT rater_id, clip_id AS clip, address"
        " FROM ratings UNION ALL SELECT rater_id, clip_a, address FROM comparisons)"
        " v JOIN clips c ON c.clip_id = v.clip"
        " WHERE v.address=? AND c.generation=? AND v.rater_id<>?",
        (address, generation, rater_id),
      ).fetchall()
      if len(others) >= self.max_raters_per_address:
        raise AddressLimited(
          f"address {address} already voted in generation {generation} as "
          f"{len(others)} other rater(s) (limit {self.max_raters_per_address} "
          "raters per address); one vote per person, please"
        )
    flagged = self._ensure_rater(db, rater_id, now)[3]
    if flagged is not None:
      raise InvalidRater(f"rater {rater_id!r} is blocked: {flagged}")
    window = "WHERE rater_id=:r AND created>:t0 AND created<=:t1"
    recent = db.execute(
      f"SELECT created FROM ratings {window} UNION ALL"
      f" SELECT created FROM comparisons {window}",
      dict(r=rater_id, t0=now - WINDOW_SECONDS, t1=now),
    ).fetchall()
    if len(recent) >= self.max_per_minute:
      wait = min(recent)[0] + WINDOW_SECONDS - now
      raise RateLimited(
        f"rater {rater_id!r} cast {len(recent)} votes in the last "
        f"{WINDOW_SECONDS:.0f} s (limit {self.max_per_minute}); retry in {wait:.0f} s"
      )

  # Queries.

  def ratings(self, generation: int | None = None) -> list[Rating]:
    """Star ratings in insertion order, of one generation or all."""
    sql = (
      "SELECT r.id, r.rater_id, r.clip_id, r.rating, r.created, c.generation,"
      " c.individual FROM ratings r JOIN clips c USING (clip_id)"
    )
    args: tuple = ()
    if generation is not None:
      sql, args = sql + " WHERE c.generation=?", (generation,)
    return [Rating(*r) for r in self._query(sql + " ORDER BY r.id", args)]

  def comparisons(self, generation: int | None = None) -> list[Comparison]:
    """Pairwise votes in insertion order, of one generation or all."""
    sql = (
      "SELECT p.id, p.rater_id, p.clip_a, p.clip_b, p.winner, p.created,"
      " a.generation, a.individual, b.individual FROM comparisons p"
      " JOIN clips a ON a.clip_id=p.clip_a JOIN clips b ON b.clip_id=p.clip_b"
    )
    args: tuple = ()
    if generation is not None:
      sql, args = sql + " WHERE a.generation=?", (generation,)
    return [Comparison(*r) for r in self._query(sql + " ORDER BY p.id", args)]

  def counts_per_clip(self, generation: int) -> dict[str, int]:
    """Number of star ratings of every clip of ``generation`` (zeros included)."""
    return dict(
      self._query(
        "SELECT c.clip_id, COUNT(r.id) FROM clips c LEFT JOIN ratings r"
        " USING (clip_id) WHERE c.generation=? GROUP BY c.clip_id ORDER BY 1",
        (generation,),
      )
    )

  def next_clip_for(self, rater_id: str, generation: int) -> Clip | None:
    """A clip of ``generation`` that ``rater_id`` has not rated, or None.

    Picks among the clips with the fewest ratings so far; ties are broken by a hash of
    (rater, clip), deterministic but different for each rater.
    """
    rater_id = check_id(rater_id, "rater id", InvalidRater)
    rows = self._query(
      "SELECT c.*, (SELECT COUNT(*) FROM ratings r WHERE r.clip_id=c.clip_id)"
      " FROM clips c WHERE c.generation=? AND c.clip_id NOT IN"
      " (SELECT clip_id FROM ratings WHERE rater_id=?)",
      (generation, rater_id),
    )
    if not rows:
      return None
    best = min(rows, key=lambda r: (r[-1], _tie_break(rater_id, r[0])))
    return Clip(*best[:-1])

  def export_csv(self, path_or_file: str | os.PathLike | IO[str]) -> int:
    """Writes every rating and comparison, from one snapshot, as CSV
    (:func:`audiojax.ratings.export.export_csv`); returns the number of rows."""
    return export.export_csv(self, path_or_file)
