"""The rating service behind the Gradio app, and the app itself.

:class:`RatingService` is plain Python over a :class:`RatingStore` (so it is tested
without a browser): it hands raters the clips of the *current* generation, least
rated first, records stars or pairwise choices, reports progress, and runs the admin
actions behind a token. Every refusal is a :class:`RatingError` (a ``ValueError``)
naming the reason, and changes nothing. :func:`build_app` wraps it in a
``gr.Blocks`` page whose events are the public API: ``/next_clip`` (rater_id -> audio,
clip_id), ``/rate`` (rater_id, clip_id, rating -> confirmation), ``/next_pair``,
``/compare``, ``/status`` and ``/admin``; a refused request raises ``gr.Error`` with
the reason.
"""

from __future__ import annotations

import hmac
import os
import time
import uuid
from typing import Any

import numpy as np

from audiojax.evolve import session as session_lib
from audiojax.evolve.rating_errors import RatingError, check_id
from audiojax.evolve.ratings import InvalidRater, RatingStore, UnknownClip

ADMIN_ACTIONS = ("advance", "pause", "resume", "export")


class AdminError(RatingError):
  """An admin action without the right token, or an unknown action."""


class ClosedGeneration(RatingError):
  """A vote for a clip of a generation that is no longer being rated."""


class NotReady(RatingError):
  """No clip to serve right now (paused, rendering, or all clips rated)."""


class RatingService:
  """What raters and admins can do, over the session's ratings store.

  Args:
    store: the session's store (shared with the session thread).
    population_size: ``P``; clips of individual ``P`` are the base generator's.
    admin_token: the secret admin actions need (None: admin actions disabled).
    export_dir: where CSV exports are written.
  """

  def __init__(
    self,
    store: RatingStore,
    population_size: int,
    *,
    admin_token: str | None,
    export_dir: str,
  ):
    self.store = store
    self.population_size = population_size
    self.admin_token = admin_token
    self.export_dir = export_dir

  # State.

  def generation(self) -> int:
    return int(self.store.get_meta(session_lib.META_GENERATION, "0"))

  def paused(self) -> bool:
    return self.store.get_meta(session_lib.META_PAUSED, "0") == "1"

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
      "generation": g,
      "phase": self.store.get_meta(session_lib.META_PHASE, "render"),
      "paused": self.paused(),
      "clips": len(counts),
      "ratings": int(sum(counts.values())),
      "min_ratings_per_clip": int(min(counts.values())) if counts else 0,
      "mean_rating_per_generation": means,
    }

  # Raters.

  def _check_open(self) -> int:
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

  def rate(self, rater_id: str, clip_id: str, rating: Any) -> str:
    """Stores ``rating`` stars; returns a confirmation."""
    g = self._check_open()
    clip = self._current_clip(clip_id, g)
    stored = self.store.rate(rater_id, clip.clip_id, rating)
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

  def compare(self, rater_id: str, clip_a: str, clip_b: str, winner: str) -> str:
    g = self._check_open()
    a, b = self._current_clip(clip_a, g), self._current_clip(clip_b, g)
    self.store.compare(rater_id, a.clip_id, b.clip_id, winner)
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
      self.store.set_meta(session_lib.META_ADVANCE, str(g))
      return f"generation {g} will close now"
    if action in ("pause", "resume"):
      self.store.set_meta(session_lib.META_PAUSED, "1" if action == "pause" else "0")
      return f"session {action}d at generation {g}"
    os.makedirs(self.export_dir, exist_ok=True)
    path = os.path.join(
      self.export_dir, f"ratings-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    )
    self.store.export_csv(path)
    return path


def new_rater_id() -> str:
  return f"rater-{uuid.uuid4().hex[:10]}"


def progress_report(status: dict[str, Any]):
  """The progress panel of a :meth:`RatingService.status`: a Markdown summary and
  table, and the ``(generation, mean rating)`` frame the curve plots (generations
  without ratings left out)."""
  import pandas as pd

  s, means = status, status["mean_rating_per_generation"]
  lines = [
    f"**Generation {s['generation']}** ({'paused' if s['paused'] else s['phase']}):"
    f" {s['clips']} clips, {s['ratings']} ratings,"
    f" at least {s['min_ratings_per_clip']} per clip.",
    "",
    "| generation | mean rating |",
    "| --- | --- |",
  ]
  lines += [
    f"| {g} | {'-' if m is None else f'{m:.2f}'} |" for g, m in enumerate(means)
  ]
  curve = pd.DataFrame(
    [(g, m) for g, m in enumerate(means) if m is not None],
    columns=["generation", "mean rating"],
  )
  return "\n".join(lines), curve


def build_app(service: RatingService, *, title: str, pairwise: bool = False):
  """The Gradio page: rate (or compare), progress, admin. Returns ``gr.Blocks``."""
  import gradio as gr

  def guard(fn):
    def wrapped(*args):
      try:
        return fn(*args)
      except RatingError as e:
        raise gr.Error(str(e), print_exception=False) from e

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped

  def next_clip(rater_id: str):
    return service.next_clip(rater_id)

  def rate(rater_id: str, clip_id: str, rating: int):
    return service.rate(rater_id, clip_id, rating)

  def next_pair(rater_id: str):
    return service.next_pair(rater_id)

  def compare(rater_id: str, clip_a: str, clip_b: str, winner: str):
    return service.compare(rater_id, clip_a, clip_b, winner)

  def admin(token: str, action: str):
    return service.admin(token, action)

  def status():
    return service.status()

  progress = lambda: progress_report(service.status())

  locked = dict(interactive=False, value=None)
  with gr.Blocks(title=title, analytics_enabled=False) as demo:
    gr.Markdown(f"# {title}")
    rater = gr.Textbox(label="Your rater id", interactive=True)
    demo.load(new_rater_id, None, rater, api_visibility="private")
    with gr.Tab("Rate"):
      gr.Markdown("Listen to the clip to the end, or at least start it, then rate it.")
      with gr.Row():
        next_btn = gr.Button("Next clip", variant="primary")
        skip_btn = gr.Button("Skip")
      player = gr.Audio(label="Clip", type="filepath", interactive=False)
      clip_id = gr.Textbox(label="clip", visible=False)
      stars = gr.Radio(
        [1, 2, 3, 4, 5], label="Rating (1 = dislike, 5 = love)", interactive=False
      )
      submit = gr.Button("Submit rating", interactive=False)
      message = gr.Markdown()
      lock = lambda: (gr.update(**locked), gr.update(interactive=False))
      next_btn.click(
        guard(next_clip),
        rater,
        [player, clip_id],
        api_name="next_clip",
        concurrency_limit=None,
      ).then(lock, None, [stars, submit], api_visibility="private")
      skip_btn.click(
        guard(next_clip),
        rater,
        [player, clip_id],
        api_visibility="private",
        concurrency_limit=None,
      ).then(lock, None, [stars, submit], api_visibility="private")
      # Rating opens only once the clip has played.
      player.play(
        lambda: (gr.update(interactive=True), gr.update(interactive=True)),
        None,
        [stars, submit],
        api_visibility="private",
      )
      submit.click(
        guard(rate),
        [rater, clip_id, stars],
        message,
        api_name="rate",
        concurrency_limit=None,
      ).success(
        guard(next_clip), rater, [player, clip_id], api_visibility="private"
      ).then(lock, None, [stars, submit], api_visibility="private")
    with gr.Tab("Compare", visible=pairwise):
      gr.Markdown("Which of the two clips do you prefer?")
      pair_btn = gr.Button("Next pair", variant="primary")
      with gr.Row():
        audio_a = gr.Audio(label="A", type="filepath", interactive=False)
        audio_b = gr.Audio(label="B", type="filepath", interactive=False)
      id_a = gr.Textbox(visible=False)
      id_b = gr.Textbox(visible=False)
      with gr.Row():
        pick_a = gr.Button("A is better")
        pick_b = gr.Button("B is better")
      pair_message = gr.Markdown()
      pair_btn.click(
        guard(next_pair),
        rater,
        [audio_a, audio_b, id_a, id_b],
        api_name="next_pair",
        concurrency_limit=None,
      )
      winner = gr.Textbox(visible=False)
      for button, chosen in ((pick_a, id_a), (pick_b, id_b)):
        button.click(lambda w: w, chosen, winner, api_visibility="private").then(
          guard(compare),
          [rater, id_a, id_b, winner],
          pair_message,
          api_visibility="private",
        )
      gr.Button(visible=False).click(
        guard(compare),
        [rater, id_a, id_b, winner],
        pair_message,
        api_name="compare",
        concurrency_limit=None,
      )
    with gr.Tab("Progress"):
      board = gr.Markdown()
      curve = gr.LinePlot(
        x="generation",
        y="mean rating",
        title="Mean rating per generation",
        y_lim=[1, 5],
        x_axis_format="d",
      )
      gr.Timer(2.0).tick(progress, None, [board, curve], api_visibility="private")
      demo.load(progress, None, [board, curve], api_visibility="private")
    with gr.Tab("Admin"):
      token = gr.Textbox(label="Admin token", type="password")
      action = gr.Radio(list(ADMIN_ACTIONS), label="Action", value="advance")
      run_btn = gr.Button("Run")
      admin_out = gr.Textbox(label="Result", interactive=False)
      run_btn.click(guard(admin), [token, action], admin_out, api_name="admin")
    status_json = gr.JSON(visible=False)
    gr.Button(visible=False).click(status, None, status_json, api_name="status")
  return demo
