"""Benchmark: the rating app's /rate latency under 32 raters, and generation turnover.

Two ``gradio_app.py`` processes on 127.0.0.1, each with a fresh workdir under a temp
dir and 8 clips of 5.1 s per generation (population 4 x 2 clips, ``clip_frames=160``,
no base clips):

* **latency** (``ratings.per_clip`` huge, so its generation never closes): 32
  simulated raters loop ``/next_clip`` (and fetch the WAV, as the page does), listen
  (``--think_seconds`` +-50 %, seeded), then ``/rate`` a random star. A rater who has
  rated every clip comes back under a new id. Run four ways: raw HTTP on Gradio's REST
  API (``POST gradio_api/call/rate`` then ``GET .../{event_id}``, one ``httpx.Client``
  and one Gradio ``session_hash`` per rater, as a page holds) and ``gradio_client``
  (``Client.predict``, whose SSE reader polls for messages every 50 ms; see
  ``--client_poll_ms``), each with the think time and back-to-back (think 0:
  saturation). The peer is the same ``RatingStore.rate`` call in-process, on a copy
  of the app's SQLite file: one thread after another (peer of the paced runs) and 32
  threads back-to-back (peer of saturation). app/store is the web stack's cost.
  Goal: p95 <= 50 ms at 32 concurrent raters.
* **turnover** (``ratings.per_clip`` = ``--per_clip``): once the session waits for
  ratings, ``--per_clip`` raters rate every clip, one request after another; the
  turnover runs from the acknowledgement of the rating that completes the generation
  to the first ``/next_clip`` (polled every 50 ms with a fresh rater id) that returns
  a clip of the next generation. Its peer is the session's own time to render the 8
  clips (``render_seconds`` of ``WORKDIR/generations.jsonl``). Turnover 0->1 includes
  the GA's first init and ask (compiled in this process; XLA's persistent cache may
  hold them), 1->2 the first tell; later ones are warm. Goal: <= 5 s.

The load generator shares the machine's cores with the app (and, on a 2-core machine,
its threads compete with the server for them); the load average is printed before and
after.

  .venv/bin/python benchmarks/rating_app.py  # tiny generator, trained here
  .venv/bin/python benchmarks/rating_app.py \
      --generator_workdir=runs/gen  # a finished music_generator:runlocal run

Without ``--generator_workdir`` the app trains the ``tiny`` generator (a few steps),
which renders far faster than a real one: its turnovers say nothing about the goal.
Data sets are built in ``$AUDIOJAX_DATA_DIR`` (default ~/tensorflow_datasets) on first
use.
"""

import os
import sys

# Run as a script from a checkout: the repository root holds the package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gradio  # noqa: E402
import gradio_client  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from audiojax.ratings.store import RatingStore  # noqa: E402
from benchmarks.rating_app_clients import (  # noqa: E402
  App,
  ClientRater,
  HttpRater,
  Refused,
  cap_client_poll,
)

_GENERATOR_WORKDIR = flags.DEFINE_string(
  "generator_workdir",
  None,
  "A finished music_generator run (config experiments/music_generator.py:runlocal); "
  "unset: the tiny generator, trained by the app.",
)
_THINK = flags.DEFINE_float(
  "think_seconds", 2.0, "Listening time between /next_clip and /rate (+-50 %)."
)
_RATERS = flags.DEFINE_integer("raters", 32, "Concurrent simulated raters.")
_PACED = flags.DEFINE_float(
  "paced_seconds", 30.0, "Measured window of each run with think time."
)
_SATURATION = flags.DEFINE_float(
  "saturation_seconds", 15.0, "Measured window of each back-to-back run."
)
_WARMUP = flags.DEFINE_float(
  "warmup_seconds", 3.0, "Requests started this early in a run are not counted."
)
_TURNOVERS = flags.DEFINE_integer("turnovers", 3, "Generation turnovers to time.")
_PER_CLIP = flags.DEFINE_integer(
  "per_clip", 3, "ratings.per_clip of the turnover app (votes to close a generation)."
)
_STORE_CALLS = flags.DEFINE_integer(
  "store_calls", 400, "RatingStore.rate calls per in-process peer run."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of think times and stars.")
_TIMEOUT = flags.DEFINE_float(
  "timeout_seconds", 600.0, "Longest wait for an app to start or a generation."
)
_KEEP = flags.DEFINE_bool("keep_workdirs", False, "Keep the temp dir (app logs).")
_GRADIO_ANALYTICS = flags.DEFINE_bool(
  "gradio_default_analytics",
  False,
  "Run the apps with Gradio's own event-analytics setting (a pandas summary of up to "
  "10,000 events after every event) instead of gradio_app.py's (every 1,000).",
)
_CLIENT_POLL = flags.DEFINE_float(
  "client_poll_ms",
  0.0,
  "If > 0, cap gradio_client's message-poll sleep (a fixed 50 ms in "
  "gradio_client.utils.stream_sse_v1plus) at this many ms: shows how much of its "
  "latency is the client's own polling. 0: the stock client.",
)
_SESSION_PER_CALL = flags.DEFINE_bool(
  "session_per_call",
  False,
  "Raw HTTP raters send no session_hash, so the server builds a new Gradio session "
  "state for every call (a REST client that does not keep one).",
)

POPULATION, CLIPS_PER_INDIVIDUAL, CLIP_FRAMES = 4, 2, 160
MAX_PER_MINUTE = 1_000_000
POLL_SECONDS = 0.05


def _config_args(per_clip: int, generations: int, generator_dir: str | None):
  variant = "runlocal" if _GENERATOR_WORKDIR.value else "tiny"
  args = [
    f"--config=experiments/human_ga.py:{variant}",
    f"--config.ga.population_size={POPULATION}",
    f"--config.clips_per_individual={CLIPS_PER_INDIVIDUAL}",
    f"--config.clip_frames={CLIP_FRAMES}",
    "--config.base_clips=0",
    f"--config.ratings.per_clip={per_clip}",
    f"--config.ratings.max_per_minute={MAX_PER_MINUTE}",
    # The simulated raters share this machine's address; the per-address limit is
    # what stops one person switching ids on a shared link, not a load test.
    "--config.ratings.max_raters_per_address=0",
    f"--config.generations={generations}",
  ]
  if generator_dir:
    args.append(f"--config.generator_workdir={generator_dir}")
  return args


# Latency.


def _percentiles(seconds: list[float]) -> tuple[float, float]:
  if not seconds:
    return float("nan"), float("nan")
  p50, p95 = np.percentile(np.asarray(seconds) * 1e3, [50, 95])
  return float(p50), float(p95)


def _own_cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _run_raters(
  app_: App, make_rater, n: int, think: float, window: float, seed: int
) -> dict:
  """``n`` rater threads for ``--warmup_seconds`` + ``window``; /rate and /next_clip
  latencies of requests started after the warm-up and done by the end, and the CPU
  time the app and this process spent per rating from the raters' start to the end."""
  warmup = _WARMUP.value
  clock: dict[str, float] = {}

  def started() -> None:
    clock.update(t0=time.monotonic(), app=app_.cpu_seconds(), own=_own_cpu_seconds())

  barrier = threading.Barrier(n, action=started)
  rate_lat: list[tuple[float, float]] = []  # (start, end) of acknowledged /rate.
  next_lat: list[tuple[float, float]] = []  # (start, end) of /next_clip with a clip.
  calls: list[float] = []  # End of every API call (answered or refused).
  errors: list[str] = []
  lock = threading.Lock()

  def rater(index: int) -> None:
    rng = np.random.default_rng([seed, index])
    mine: dict[str, list] = dict(rate=[], next=[], calls=[], errors=[])

    def timed(api: str, fn, *args):
      """``fn(*args)``, or None after recording an error; logs the call's times."""
      start = time.monotonic()
      try:
        out = fn(*args)
      except Refused as e:
        mine["calls"].append(time.monotonic())
        if api == "/next_clip" and "rated every clip" in str(e):
          return "rated every clip"
        mine["errors"].append(f"{api}: {e}")
      except Exception as e:  # Transport failures: counted, the rater goes on.
        mine["errors"].append(f"{api}: {type(e).__name__}: {e}")
      else:
        mine["calls"].append(end := time.monotonic())
        mine["rate" if api == "/rate" else "next"].append((start, end))
        return out
      time.sleep(0.1)
      return None

    try:
      client = make_rater()
    except Exception as e:
      with lock:
        errors.append(f"client: {e!r}")
      barrier.abort()
      return
    try:
      barrier.wait()
      end = clock["t0"] + warmup + window
      identity = 0
      while time.monotonic() < end:
        rater_id = f"r{index:02d}-{identity}"
        clip_id = timed("/next_clip", client.next_clip, rater_id)
        if clip_id == "rated every clip":
          identity += 1  # A new rater arrives.
          continue
        if clip_id is None:
          continue
        if think > 0:
          time.sleep(think * rng.uniform(0.5, 1.5))
        if time.monotonic() >= end:
          break
        message = timed(
          "/rate", client.rate, rater_id, clip_id, int(rng.integers(1, 6))
        )
        if message is not None and not message.startswith("thanks"):
          mine["errors"].append(f"/rate: unexpected answer {message!r}")
    except threading.BrokenBarrierError:
      pass
    finally:
      client.close()
      with lock:
        rate_lat.extend(mine["rate"])
        next_lat.extend(mine["next"])
        calls.extend(mine["calls"])
        errors.extend(mine["errors"])

  threads = [threading.Thread(target=rater, args=(i,)) for i in range(n)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  app_cpu, own_cpu = app_.cpu_seconds(), _own_cpu_seconds()
  if "t0" not in clock:
    raise RuntimeError(f"raters did not start: {errors[:3]}")
  lo, hi = clock["t0"] + warmup, clock["t0"] + warmup + window
  counted = lambda lat: [b - a for a, b in lat if a >= lo and b <= hi]
  rate = counted(rate_lat)
  return dict(
    rate=_percentiles(rate),
    next=_percentiles(counted(next_lat)),
    n=len(rate),
    per_second=len(rate) / window,
    calls_per_second=sum(lo <= t <= hi for t in calls) / window,
    app_cpu_ms=1e3 * (app_cpu - clock["app"]) / max(1, len(rate_lat)),
    own_cpu_ms=1e3 * (own_cpu - clock["own"]) / max(1, len(rate_lat)),
    errors=errors,
  )


def _copy_db(src: str, dst: str) -> None:
  """A consistent copy of a WAL database (sqlite's backup API)."""
  a, b = sqlite3.connect(src), sqlite3.connect(dst)
  try:
    a.backup(b)
  finally:
    a.close()
    b.close()


def _store_peer(path: str, clip_ids: list[str], threads: int, calls: int) -> dict:
  """``RatingStore.rate`` in-process: ``threads`` threads back-to-back, ``calls`` in
  all, each thread's raters rating every clip in turn (new raters as needed)."""
  store = RatingStore(path, max_per_minute=MAX_PER_MINUTE)
  lat: list[float] = []
  lock = threading.Lock()
  barrier = threading.Barrier(threads)

  def worker(w: int) -> None:
    rng = np.random.default_rng([_SEED.value, 99, w])
    mine = []
    barrier.wait()
    for i in range(w, calls, threads):
      rater_id = f"peer{threads}-{w}-{i // (threads * len(clip_ids))}"
      clip_id = clip_ids[(i // threads) % len(clip_ids)]
      start = time.perf_counter()
      store.rate(rater_id, clip_id, int(rng.integers(1, 6)))
      mine.append(time.perf_counter() - start)
    with lock:
      lat.extend(mine)

  pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
  start = time.perf_counter()
  for t in pool:
    t.start()
  for t in pool:
    t.join()
  wall = time.perf_counter() - start
  store.close()
  return dict(rate=_percentiles(lat), n=len(lat), per_second=len(lat) / wall)


# Turnover.


def _turnover(app_: App, generation: int, per_clip: int, rng) -> dict:
  """Rates ``generation`` to completion; seconds until the next one's first clip."""
  status = app_.wait_status(
    lambda s: s["generation"] == generation and s["phase"] == "rating",
    f"generation {generation} rating",
    _TIMEOUT.value,
  )
  http = HttpRater(app_.url, download=False)
  try:
    last_ack = None
    for r in range(per_clip):
      rater_id = f"t{generation}-{r}"
      for _ in range(status["clips"]):
        clip_id = http.next_clip(rater_id)
        message = http.rate(rater_id, clip_id, int(rng.integers(1, 6)))
        last_ack = time.monotonic()
        if not message.startswith("thanks"):
          raise RuntimeError(f"unexpected answer {message!r}")
    prefix = f"g{generation + 1:03d}-"
    deadline = last_ack + _TIMEOUT.value
    polls, refusals = 0, set()
    while time.monotonic() < deadline:
      app_._check_alive()
      start = time.monotonic()
      polls += 1
      try:
        clip_id = http.next_clip(f"poll{generation}")
        if clip_id.startswith(prefix):
          first = time.monotonic()
          break
      except Refused as e:
        if "rendered" not in str(e):
          refusals.add(str(e))
      time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - start)))
    else:
      raise TimeoutError(f"no clip of generation {generation + 1}")
  finally:
    http.close()
  return dict(seconds=first - last_ack, polls=polls, refusals=sorted(refusals))


# The report.


def _ms(x: float) -> str:
  return "-" if not np.isfinite(x) else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def main(argv):
  del argv
  logging.getLogger("httpx").setLevel(logging.WARNING)  # One line per request.
  if _CLIENT_POLL.value > 0:
    cap_client_poll(_CLIENT_POLL.value)
  wall_start = time.monotonic()
  load_start = os.getloadavg()
  generator = _GENERATOR_WORKDIR.value
  if generator and not os.path.exists(os.path.join(generator, "config.json")):
    raise app.UsageError(f"--generator_workdir={generator} holds no generator run")
  tmp = tempfile.mkdtemp(prefix="rating_app_bench_")
  gradio_tmp = os.path.join(tmp, "gradio")
  lat_dir, turn_dir = os.path.join(tmp, "latency"), os.path.join(tmp, "turnover")
  turnovers = _TURNOVERS.value
  lat_args = _config_args(10**9, 1, generator)
  turn_args = _config_args(_PER_CLIP.value, turnovers + 1, generator)
  apps: list[App] = []
  results: dict[str, Any] = {}
  timings: dict[str, float] = {}
  try:
    # The latency app first: it builds the data and (tiny) trains the generator,
    # which the turnover app then loads; its first render overlaps that start-up.
    t = time.monotonic()
    lat_app = App(lat_dir, lat_args, gradio_tmp, _GRADIO_ANALYTICS.value)
    apps.append(lat_app)
    lat_app.wait_ready(_TIMEOUT.value)
    timings["latency app page up"] = time.monotonic() - t
    # The page is up at once; the generator (trained here on first use) is ready
    # when the session is.
    lat_app.wait_status(lambda s: s["ready"], "the generator", _TIMEOUT.value)
    timings["latency app ready"] = time.monotonic() - t
    if not generator:
      turn_args.append(
        f"--config.generator_workdir={os.path.join(lat_dir, 'generator')}"
      )
    t = time.monotonic()
    turn_app = App(turn_dir, turn_args, gradio_tmp, _GRADIO_ANALYTICS.value)
    apps.append(turn_app)
    turn_app.wait_ready(_TIMEOUT.value)
    timings["turnover app ready"] = time.monotonic() - t
    for a in (lat_app, turn_app):
      a.wait_status(
        lambda s: s["phase"] == "rating" and s["clips"] > 0,
        "generation 0 published",
        _TIMEOUT.value,
      )
    timings["both apps rating generation 0"] = time.monotonic() - wall_start

    # Latency: four runs on the latency app (the turnover app idles meanwhile).
    downloads = os.path.join(tmp, "client_downloads")
    makers = {
      "raw HTTP": lambda: HttpRater(
        lat_app.url, session_per_call=_SESSION_PER_CALL.value
      ),
      "gradio_client": lambda: ClientRater(lat_app.url, downloads),
    }
    runs = [
      (name, think, window)
      for think, window in ((_THINK.value, _PACED.value), (0.0, _SATURATION.value))
      for name in makers
    ]
    for i, (name, think, window) in enumerate(runs):
      t = time.monotonic()
      results[(name, think)] = _run_raters(
        lat_app, makers[name], _RATERS.value, think, window, _SEED.value * 100 + i
      )
      timings[f"{name}, think {think:g} s"] = time.monotonic() - t
    lat_app.stop()
    db_copy = os.path.join(tmp, "store_copy.sqlite")
    _copy_db(os.path.join(lat_dir, "ratings.sqlite"), db_copy)
    with RatingStore(db_copy, max_per_minute=MAX_PER_MINUTE) as store:
      clip_ids = [c.clip_id for c in store.clips(0)]
      db_ratings = len(store.ratings())
    results["store 1"] = _store_peer(db_copy, clip_ids, 1, _STORE_CALLS.value)
    results["store n"] = _store_peer(
      db_copy, clip_ids, _RATERS.value, _STORE_CALLS.value
    )

    # Turnover.
    rng = np.random.default_rng([_SEED.value, 7])
    turns = []
    for g in range(turnovers):
      t = time.monotonic()
      turns.append(_turnover(turn_app, g, _PER_CLIP.value, rng))
      timings[f"turnover {g}->{g + 1}"] = time.monotonic() - t
    turn_app.wait_status(
      lambda s: s["generation"] == turnovers and s["phase"] == "rating",
      f"generation {turnovers} published",
      _TIMEOUT.value,
    )
    starts = {
      r["generation"]: r for r in turn_app.generations_log() if "render_seconds" in r
    }
  except BaseException:
    print(f"failed; workdirs and app logs are in {tmp}", file=sys.stderr)
    raise
  finally:
    for a in apps:
      a.stop()
  load_end = os.getloadavg()

  # Print.
  data_dir = os.environ.get("AUDIOJAX_DATA_DIR", "~/tensorflow_datasets (default)")
  which = (
    f"runlocal generator {generator}"
    if generator
    else "TINY generator (trained by the app; renders far faster than a real one, "
    "so its turnovers do not test the goal)"
  )
  print(
    f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), load average "
    f"{' '.join(f'{x:.2f}' for x in load_start)} at start, "
    f"{' '.join(f'{x:.2f}' for x in load_end)} at end; gradio {gradio.__version__}, "
    f"gradio_client {gradio_client.__version__}, httpx {httpx.__version__}"
  )
  print(
    f"{which}; {POPULATION} x {CLIPS_PER_INDIVIDUAL} = "
    f"{POPULATION * CLIPS_PER_INDIVIDUAL} clips of {CLIP_FRAMES} frames "
    f"(5.1 s) per generation, no base clips; AUDIOJAX_DATA_DIR={data_dir}"
  )
  print(f"latency app:  gradio_app.py {' '.join(lat_args)}")
  print(f"turnover app: gradio_app.py {' '.join(turn_args)}")
  print(
    f"the latency app's store held {db_ratings} ratings after the runs; the load "
    "generator runs on the same cores as the app"
  )
  print()
  print("| measurement | n | p50 ms | p95 ms | /next_clip p95 ms | throughput "
        "| peer: in-process RatingStore.rate | peer p50 / p95 ms "
        "| app/peer (p50, p95) | CPU ms per rating: app, raters | goal |")  # fmt: skip
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for (name, think), r in ((k, v) for k, v in results.items() if isinstance(k, tuple)):
    peer = results["store 1"] if think > 0 else results["store n"]
    p_threads = 1 if think > 0 else _RATERS.value
    (a50, a95), (s50, s95) = r["rate"], peer["rate"]
    mode = f"think {think:g} s +-50 %" if think > 0 else "back-to-back"
    errors = f", {len(r['errors'])} errors" if r["errors"] else ""
    goal = f"p95 <= 50 ms: {'yes' if a95 <= 50 else 'NO'}" if think > 0 else "stress"
    print(
      f"| /rate, {_RATERS.value} raters, {mode}, {name}{errors} | {r['n']} "
      f"| {_ms(a50)} | {_ms(a95)} | {_ms(r['next'][1])} "
      f"| {r['per_second']:.1f} ratings/s ({r['calls_per_second']:.0f} API calls/s) "
      f"| {p_threads} thread{'s' if p_threads > 1 else ''}"
      f"{'' if think > 0 else ' back-to-back'}, {peer['per_second']:.0f} /s "
      f"| {_ms(s50)} / {_ms(s95)} | {a50 / s50:.0f}x, {a95 / s95:.0f}x "
      f"| {r['app_cpu_ms']:.1f}, {r['own_cpu_ms']:.1f} "
      f"| {goal} |"
    )
  for g, turn in enumerate(turns):
    render = starts.get(g + 1, {}).get("render_seconds", float("nan"))
    finetune = starts.get(g + 1, {}).get("finetune_seconds", float("nan"))
    note = {0: "cold: GA init + first ask", 1: "first tell"}.get(g, "warm")
    print(
      f"| turnover {g}->{g + 1} ({note}) | 1 | {turn['seconds']:.2f} s | | "
      f"| {turn['polls']} polls | render of generation {g + 1}'s 8 clips "
      f"(fine-tune after it: {finetune:.1f} s) | {render:.2f} s "
      f"| {turn['seconds'] / render:.2f}x | "
      f"| <= 5 s: {'yes' if turn['seconds'] <= 5 else 'NO'} |"
    )
  print()
  print(
    "One rating = /next_clip + a GET of its WAV + /rate; CPU per rating covers all "
    "three (from the raters' start to their end, warm-up included); API calls/s "
    "counts /next_clip and /rate answers, refusals included. The latency app's GA "
    "session idles (waiting for votes) meanwhile; the fine-tune that follows each "
    "turnover (turnover rows) runs in the app process while raters rate. The peer is "
    "RatingStore.rate alone, without the service's generation and clip checks. A "
    "turnover runs from the acknowledgement of the completing /rate to the first "
    "/next_clip answer with a clip of the next generation (polled every "
    f"{1e3 * POLL_SECONDS:.0f} ms, so up to that much is polling); clips are "
    "published per sampling batch, so a first clip can come before the whole render."
  )
  if 0 in starts:
    print(
      f"generation 0 render (first compile of the sampler in this process): "
      f"{starts[0]['render_seconds']:.2f} s"
    )
  for (name, think), r in ((k, v) for k, v in results.items() if isinstance(k, tuple)):
    if r["errors"]:
      print(f"errors, {name}, think {think:g}: {sorted(set(r['errors']))[:5]}")
  for g, turn in enumerate(turns):
    if turn["refusals"]:
      print(f"turnover {g}->{g + 1}: unexpected refusals {turn['refusals']}")
  for a in apps:
    lines = a.suspicious_lines()
    name = a.logfile if _KEEP.value else os.path.basename(a.logfile)
    print(f"app log {name}: {len(lines)} warning/error lines")
    for line in lines[:10]:
      print(f"  {line[:200]}")
  print(
    "phases (s): "
    + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    + f"; total {time.monotonic() - wall_start:.1f}"
  )
  print(
    "flags: "
    + " ".join(
      f"--{f.name}={f.value}"
      for f in (
        _GENERATOR_WORKDIR,
        _THINK,
        _RATERS,
        _PACED,
        _SATURATION,
        _WARMUP,
        _TURNOVERS,
        _PER_CLIP,
        _STORE_CALLS,
        _SEED,
        _GRADIO_ANALYTICS,
        _SESSION_PER_CALL,
        _CLIENT_POLL,
      )
    )
  )
  if _KEEP.value:
    print(f"workdirs and app logs kept in {tmp}")
  else:
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
  app.run(main)
