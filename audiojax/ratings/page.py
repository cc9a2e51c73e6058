"""The raters' Gradio page over a :class:`~audiojax.ratings.service.RatingService`.

Its events are the public API: ``/next_clip`` (rater_id -> audio, clip_id), ``/rate``
(rater_id, clip_id, rating -> confirmation), ``/next_pair``, ``/compare``,
``/status`` and ``/admin``; a refused request raises ``gr.Error`` with the reason.

Who a rater is comes from the server, not from a box the rater types in: under
``--auth`` it is the login name (whatever id a request carries); otherwise the page
is issued an id on its first visit and keeps it in the browser's storage
(``gr.BrowserState``), so a reload is the same rater and another browser another one.
Scripts keep passing ``rater_id``; every vote records the client's address, and the
store refuses an address that votes under more ids than it allows.
"""

import functools
import uuid
from typing import Any

import gradio as gr

from audiojax.ratings.errors import RatingError
from audiojax.ratings.service import ADMIN_ACTIONS, RatingService

RATER_ID_PREFIX = "rater-"
_STORAGE_KEY = "audiojax-rater-id"


def new_rater_id() -> str:
  return f"{RATER_ID_PREFIX}{uuid.uuid4().hex[:10]}"


def _address(request: gr.Request | None) -> str | None:
  client = getattr(request, "client", None)
  return getattr(client, "host", None)


def _rater(rater_id: Any, request: gr.Request | None) -> Any:
  """The logged-in user under ``--auth``, else the id the request carries."""
  return getattr(request, "username", None) or rater_id


def assign_rater(stored: Any, request: gr.Request) -> tuple[str, str, str]:
  """On page load: the rater id to show and keep (login name, stored id, or new)."""
  rater = getattr(request, "username", None)
  if not rater:
    ok = isinstance(stored, str) and stored.startswith(RATER_ID_PREFIX)
    rater = stored if ok and len(stored) <= 32 else new_rater_id()
  return rater, rater, f"You are rating as **{rater}**."


def progress_report(status: dict[str, Any]):
  """The progress panel of a :meth:`RatingService.status`: a Markdown summary and
  table, and the ``(generation, mean rating)`` frame the curve plots (generations
  without ratings left out)."""
  import pandas as pd

  s, means = status, status["mean_rating_per_generation"]
  if s["preparing"] is not None:
    p = s["preparing"]
    where = f", step {p['step']} of {p['total']}" if p["total"] else ""
    head = f"**Getting ready:** {p['error'] or p['task']}{where}."
  else:
    head = (
      f"**Generation {s['generation']}** ({'paused' if s['paused'] else s['phase']}):"
      f" {s['clips']} clips, {s['ratings']} ratings,"
      f" at least {s['min_ratings_per_clip']} per clip."
    )
  lines = [head, "", "| generation | mean rating |", "| --- | --- |"]
  lines += [
    f"| {g} | {'-' if m is None else f'{m:.2f}'} |" for g, m in enumerate(means)
  ]
  curve = pd.DataFrame(
    [(g, m) for g, m in enumerate(means) if m is not None],
    columns=["generation", "mean rating"],
  )
  return "\n".join(lines), curve


def _guard(fn):
  """A refused request (a :class:`RatingError`) becomes a ``gr.Error``."""

  @functools.wraps(fn)  # Gradio reads the signature (and injects gr.Request).
  def wrapped(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except RatingError as e:
      raise gr.Error(str(e), print_exception=False) from e

  return wrapped


def build_app(service: RatingService, *, title: str, pairwise: bool = False):
  """The Gradio page: rate (or compare), progress, admin. Returns ``gr.Blocks``."""

  @_guard
  def next_clip(rater_id: str, request: gr.Request):
    return service.next_clip(_rater(rater_id, request))

  @_guard
  def rate(rater_id: str, clip_id: str, rating: int, request: gr.Request):
    rater = _rater(rater_id, request)
    return service.rate(rater, clip_id, rating, address=_address(request))

  @_guard
  def next_pair(rater_id: str, request: gr.Request):
    return service.next_pair(_rater(rater_id, request))

  @_guard
  def compare(
    rater_id: str, clip_a: str, clip_b: str, winner: str, request: gr.Request
  ):
    rater, address = _rater(rater_id, request), _address(request)
    return service.compare(rater, clip_a, clip_b, winner, address=address)

  @_guard
  def admin(token: str, action: str):
    return service.admin(token, action)

  def status():
    return service.status()

  progress = lambda: progress_report(service.status())

  locked = dict(interactive=False, value=None)
  with gr.Blocks(title=title, analytics_enabled=False) as demo:
    gr.Markdown(f"# {title}")
    stored_id = gr.BrowserState(None, storage_key=_STORAGE_KEY)
    rater = gr.Textbox(visible=False)
    who = gr.Markdown(elem_id="rater-id")
    demo.load(
      assign_rater, stored_id, [rater, stored_id, who], api_visibility="private"
    )
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
        next_clip,
        rater,
        [player, clip_id],
        api_name="next_clip",
        concurrency_limit=None,
      ).then(lock, None, [stars, submit], api_visibility="private")
      skip_btn.click(
        next_clip,
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
        rate, [rater, clip_id, stars], message, api_name="rate", concurrency_limit=None
      ).success(next_clip, rater, [player, clip_id], api_visibility="private").then(
        lock, None, [stars, submit], api_visibility="private"
      )
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
        next_pair,
        rater,
        [audio_a, audio_b, id_a, id_b],
        api_name="next_pair",
        concurrency_limit=None,
      )
      winner = gr.Textbox(visible=False)
      for button, chosen in ((pick_a, id_a), (pick_b, id_b)):
        button.click(lambda w: w, chosen, winner, api_visibility="private").then(
          compare, [rater, id_a, id_b, winner], pair_message, api_visibility="private"
        )
      gr.Button(visible=False).click(
        compare,
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
      run_btn.click(admin, [token, action], admin_out, api_name="admin")
    status_json = gr.JSON(visible=False)
    gr.Button(visible=False).click(status, None, status_json, api_name="status")
  return demo
