"""Typed rejections of the ratings store and the input checks that raise them.

Votes of the human-guided GA (Singh et al., 2025, "Improving AI-generated music with
user-guided training") come from a web form, so every id, star count and clip field
is checked before :class:`audiojax.ratings.store.RatingStore` touches the database.
A bad input raises a subclass of :class:`RatingError` (a ``ValueError``) naming the
offending value, and nothing is written.
"""

from __future__ import annotations

import math
import numbers
import time
import unicodedata

MAX_ID_LENGTH = 64


class RatingError(ValueError):
  """Base class of every rejected input to the store; nothing was written."""


class InvalidRater(RatingError):
  """An empty, over-long or control-character rater id, or a flagged rater."""


class UnknownClip(RatingError):
  """A clip id that was never added with :meth:`RatingStore.add_clip`."""


class InvalidClip(RatingError):
  """A malformed clip, or a clip id re-added with different metadata."""


class InvalidRating(RatingError):
  """A star rating that is not an integer in 1..5, or an impossible comparison."""


class DuplicateVote(RatingError):
  """A second vote by the same rater on the same clip or pair of clips."""


class RateLimited(RatingError):
  """More than ``max_per_minute`` votes by one rater in a sliding 60 s window."""


class AddressLimited(RatingError):
  """Votes from one client address under more rater ids than the store allows."""


def check_id(value: object, what: str, error: type[RatingError]) -> str:
  """Returns ``value`` stripped of surrounding spaces, or raises ``error``."""
  if not isinstance(value, str):
    raise error(f"{what} must be a string, got {value!r}")
  text = value.strip()
  if not text or len(text) > MAX_ID_LENGTH:
    raise error(f"{what} {value!r} must have 1..{MAX_ID_LENGTH} characters")
  # Cc/Cf/Cs: controls, invisible format characters and lone surrogates would make
  # two ids look identical on screen or break the CSV export.
  if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text):
    raise error(f"{what} {value!r} contains control characters")
  return text


def check_address(value: object) -> str | None:
  """A client's network address as text (None: a local caller), or
  :class:`InvalidRater`."""
  return None if value is None else check_id(value, "client address", InvalidRater)


def check_stars(value: object) -> int:
  """Returns ``value`` as an int in 1..5, or raises :class:`InvalidRating`."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise InvalidRating(f"rating must be an integer 1..5, got {value!r}")
  if not isinstance(value, numbers.Integral):
    # An integral float (a Gradio number box sends 4.0) is accepted; 3.5 and NaN not.
    if not math.isfinite(value) or value != int(value):
      raise InvalidRating(f"rating must be an integer 1..5, got {value!r}")
  if not 1 <= int(value) <= 5:
    raise InvalidRating(f"rating must be in 1..5, got {value!r}")
  return int(value)


def check_int(value: object, what: str, minimum: int | None = 0) -> int:
  """Returns ``value`` as an int >= ``minimum`` (None: any), or raises
  :class:`InvalidClip`."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise InvalidClip(f"{what} must be an integer, got {value!r}")
  if minimum is not None and value < minimum:
    raise InvalidClip(f"{what} must be >= {minimum}, got {value!r}")
  return int(value)


def check_time(now: float | None) -> float:
  """Returns ``now`` (seconds since the epoch) as a float, the current time if None,
  or raises :class:`RatingError` for a non-number or a non-finite one."""
  if now is None:
    return time.time()
  if isinstance(now, bool) or not isinstance(now, numbers.Real):
    raise RatingError(f"now must be a number of seconds, got {now!r}")
  if not math.isfinite(now):
    raise RatingError(f"now must be a number of seconds, got {now!r}")
  return float(now)
