"""The rating app of a human-in-the-loop GA session (Gradio).

  python gradio_app.py --config=experiments/human_ga.py:runlocal --workdir=runs/live \
      --port=7860 --admin_token=SECRET [--share] [--auth=user:password]

The page is up within seconds. Behind it, a worker thread gets the base generator
(restored if ``--config.generator_workdir`` or ``WORKDIR/generator`` holds a finished
run, else trained there first) and then runs the GA session, which waits for ratings.
Until the session is ready, the page and ``/status`` say what the server is doing and
how far it is, and every rater request is refused with "not ready yet: ...".

A new session starts from ``--config`` in ``--workdir``; a workdir that already holds
a session is resumed with the config it was started with (every stored rating, the
same generation). Raters use the page, scripts the API (``/next_clip``, ``/rate``,
``/next_pair``, ``/compare``, ``/status``, ``/admin``; see ``audiojax.ratings.page``).
Several replicas (processes on other ports or hosts, behind a load balancer) may
serve one session: give each the same ``--workdir`` (a directory they all see; the
clips are served from it) and ``--ratings_db=postgresql://...``. All of them serve
raters; the one holding the session's leader lock (:mod:`audiojax.ratings.leader`)
also runs the GA, and when it dies another takes the lock within
``--leader_poll_seconds`` and resumes the session from its checkpoint. A replica
started with ``--norun_ga`` never runs the GA, so taking it over cannot slow the
replicas that serve raters.

Under ``--auth`` a rater is their login name; otherwise the page issues each browser
an id it keeps. Votes from one address under more than
``--config.ratings.max_raters_per_address`` ids in a generation are refused.
"""

from __future__ import annotations

import json
import os
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# After every queued event Gradio rebuilds a pandas summary of up to 10,000 past
# events (queueing.compute_analytics_summary; only its "View API" page shows it). At
# 30 API calls/s that was a fifth of this server's CPU and tripled the p95 latency of
# /rate (benchmarks/rating_app.py); recompute it every 1,000 events over the last 2,000.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")

import ml_collections  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from audiojax import experiment, platform  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "experiments/human_ga.py[:variant], for a new session."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Session directory.", required=True)
_PORT = flags.DEFINE_integer("port", 7860, "Port to serve on.")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Interface (0.0.0.0 for a LAN).")
_SHARE = flags.DEFINE_bool("share", False, "Ask Gradio for a public share link.")
_AUTH = flags.DEFINE_multi_string("auth", [], "user:password pairs for the page.")
_RATINGS_DB = flags.DEFINE_string(
  "ratings_db",
  "",
  "Where votes live: sqlite:PATH or postgresql://USER@HOST/DB (default: the "
  "config's ratings.db, else WORKDIR/ratings.sqlite).",
)
_LEADER_POLL = flags.DEFINE_float(
  "leader_poll_seconds",
  2.0,
  "How often a replica that does not run the GA tries to take it over.",
)
_RUN_GA = flags.DEFINE_bool(
  "run_ga",
  True,
  "Stand for running the GA. --norun_ga: this replica only serves raters (e.g. the "
  "replicas behind the load balancer, while the GA runs on one outside it).",
)
_ADMIN_TOKEN = flags.DEFINE_string(
  "admin_token",
  os.environ.get("AUDIOJAX_ADMIN_TOKEN"),
  "Secret for the admin tab (default $AUDIOJAX_ADMIN_TOKEN; unset: no admin).",
)


def session_config(workdir: str, config: ml_collections.ConfigDict | None):
  """The config of the session in ``workdir`` (resumed), else ``config`` (new)."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      saved = ml_collections.ConfigDict(json.load(f))
    if config is not None and config.to_json(sort_keys=True) != saved.to_json(
      sort_keys=True
    ):
      logging.warning("%s holds a session: resuming it with its own config", workdir)
    return saved
  if config is None:
    raise app.UsageError(f"{workdir} holds no session; give --config to start one")
  return config


def _parse_auth(pairs: list[str]) -> list[tuple[str, str]] | None:
  out = []
  for pair in pairs:
    user, sep, password = pair.partition(":")
    if not sep or not user or not password:
      raise app.UsageError(f"--auth needs user:password, got {pair!r}")
    out.append((user, password))
  return out or None


def _lead(config, workdir, store, progress, stop, opened, poll) -> None:
  """The worker: wait for the leader lock, then run the GA until done or stopped."""
  lock = store.leader_lock("ga")
  try:
    announced = False
    while not lock.try_acquire():
      if not announced:
        logging.info("another replica runs the GA; this one serves raters")
        progress.update("waiting for the replica running the GA to publish clips")
        announced = True
      if stop.wait(poll):
        return
    logging.info("this replica runs the GA (it holds the leader lock)")
    session_stop = threading.Event()

    def watch():  # A leader that lost its lock stops; another has taken over.
      while not stop.wait(poll):
        if not lock.held():
          logging.error("lost the leader lock: stopping this replica's GA")
          progress.fail("this replica lost the GA to another one")
          break
      session_stop.set()

    threading.Thread(target=watch, name="leader-watch", daemon=True).start()
    _run_session(config, workdir, store, progress, session_stop, opened)
  except Exception as e:  # The page stays up; the error is logged and shown.
    logging.exception("electing the GA leader failed")
    progress.fail(f"electing the GA leader failed ({type(e).__name__}: {e})")
  finally:
    lock.release()


def _run_session(config, workdir, store, progress, stop, opened) -> None:
  """Gets the generator, then runs the session until done or stopped."""
  try:
    progress.update("loading the generator (building its data on first use)")
    from audiojax.evolve import base
    from audiojax.evolve.session import Session

    generator = base.load(
      config,
      workdir,
      on_step=lambda step, total: progress.update(
        "training the generator", step, total
      ),
    )
    progress.update("preparing the first generation")
    session = Session(config, workdir, generator=generator, store=store)
    opened.append(session)
    progress.done()
    session.run(config.generations, stop)
  except Exception as e:  # The page stays up; the error is logged and shown.
    logging.exception("the GA session failed")
    progress.fail(f"the GA session failed ({type(e).__name__}: {e}); see the log")


def main(argv):
  del argv
  platform.configure()
  platform.quiet_library_logs()
  from audiojax.ratings.page import build_app
  from audiojax.ratings.service import Progress, RatingService
  from audiojax.ratings.store import RatingStore

  workdir = _WORKDIR.value
  config = session_config(workdir, _CONFIG.value)
  if _RATINGS_DB.value:
    config.ratings.db = _RATINGS_DB.value
  os.makedirs(workdir, exist_ok=True)
  experiment.save_config(config, workdir)
  store = RatingStore.from_config(
    os.path.join(workdir, "ratings.sqlite"), config.ratings
  )
  progress, stop, opened = Progress(), threading.Event(), []
  worker = threading.Thread(
    target=_lead,
    args=(config, workdir, store, progress, stop, opened, _LEADER_POLL.value),
    name="ga-session",
    daemon=True,
  )
  service = RatingService(
    store,
    config.ga.population_size,
    admin_token=_ADMIN_TOKEN.value,
    export_dir=os.path.join(workdir, "exports"),
    progress=progress,
  )
  demo = build_app(
    service, title=config.app_title, pairwise=config.ratings.mode == "pairwise"
  )
  demo.queue(default_concurrency_limit=None)
  clips_dir = os.path.join(workdir, "clips")
  os.makedirs(clips_dir, exist_ok=True)
  demo.launch(
    server_name=_HOST.value,
    server_port=_PORT.value,
    share=_SHARE.value,
    auth=_parse_auth(_AUTH.value),
    allowed_paths=[os.path.abspath(clips_dir)],
    prevent_thread_lock=True,
    show_error=True,
  )
  if _RUN_GA.value:
    worker.start()
  else:
    progress.update("serving only: the GA runs on another replica")
  url = f"http://{_HOST.value}:{_PORT.value}"
  if _SHARE.value and not getattr(demo, "share_url", None):
    print(
      f"No share link (Gradio's share server is unreachable); serving on {url} only."
    )
  print(f"Rating app ready on {url}", flush=True)
  try:
    demo.block_thread()
  finally:
    stop.set()
    worker.join(timeout=30)
    for session in opened:
      session.close()
    store.close()


if __name__ == "__main__":
  app.run(main)
