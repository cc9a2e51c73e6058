"""Benchmark: 256 raters against 1 and 4 app replicas; a replica killed mid-load.

Runs, each on a fresh session (population 4 x 2 clips of 5.1 s, no base clips, a
generation that never closes by votes):

* ``sqlite x1``: one ``gradio_app.py`` on the session's SQLite file (the default);
* ``postgresql x1``: one replica on a local PostgreSQL server
  (:mod:`launch.local_postgres`);
* ``postgresql x4``: four replicas on one PostgreSQL session sharing the workdir
  (the clip store), raters spread over them as a load balancer with sticky
  sessions would;
* ``postgresql x4-kill``: the same, and ``--kill_after`` seconds into the measured
  window the replica running the GA (the first one, which took the leader lock) is
  SIGKILLed: its raters move to the next live replica and retry what was not
  acknowledged; the /rate p95 is also split before and after the kill.

Each of ``--raters`` simulated raters loops: ``/next_clip``, fetch the WAV, listen
``--think_seconds`` (+-50 %, seeded), ``/rate`` a random star; a rater who rated every
clip comes back under a new id. Reported: p50/p95 of ``/rate`` over the window after
the warm-up, acknowledged ratings/s, CPU ms per rating of the replicas and of the
PostgreSQL server, and the audit of the store after the load: acknowledged votes
missing (lost), votes stored twice (duplicates), and the GA failover: seconds from the
kill until another replica holds the leader lock, and (after the load) until that
replica, asked by the admin to advance, publishes the next generation.

  .venv/bin/python benchmarks/rating_replicas.py [--generator_workdir=runs/gen]

Without ``--generator_workdir`` the tiny generator is trained once (by the first
app) into the temp dir. The load generator shares the machine's cores with the
replicas and the database server.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from audiojax.ratings.store import RatingStore  # noqa: E402
from benchmarks.rating_app_clients import App, HttpRater, Refused  # noqa: E402
from launch.local_postgres import LocalPostgres  # noqa: E402

_GENERATOR_WORKDIR = flags.DEFINE_string(
  "generator_workdir", None, "A finished music_generator run (default: tiny)."
)
_RATERS = flags.DEFINE_integer("raters", 256, "Concurrent simulated raters.")
_THINK = flags.DEFINE_float("think_seconds", 10.0, "Listening time (+-50 %).")
_WINDOW = flags.DEFINE_float("seconds", 60.0, "Measured window of each run.")
_WARMUP = flags.DEFINE_float("warmup_seconds", 10.0, "Uncounted ramp-up.")
_KILL_AFTER = flags.DEFINE_float(
  "kill_after", 20.0, "Seconds into the window of the x4 run to kill the leader."
)
_RUNS = flags.DEFINE_list(
  "runs",
  ["sqlite:1", "postgresql:1", "postgresql:4", "postgresql:4:kill"],
  "backend:replicas[:kill] runs (kill: SIGKILL the GA's replica mid-load).",
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of think times and stars.")
_TIMEOUT = flags.DEFINE_float("timeout_seconds", 900.0, "Longest wait for an app.")
_KEEP = flags.DEFINE_bool("keep_workdirs", False, "Keep the temp dir (app logs).")

TOKEN = "bench"


def _config_args(generator_dir: str) -> list[str]:
  variant = "runlocal" if _GENERATOR_WORKDIR.value else "tiny"
  return [
    f"--config=experiments/human_ga.py:{variant}",
    "--config.ga.population_size=4",
    "--config.clips_per_individual=2",
    "--config.clip_frames=160",
    "--config.base_clips=0",
    "--config.ratings.per_clip=1000000",
    "--config.ratings.max_per_minute=1000000",
    "--config.ratings.max_raters_per_address=0",
    "--config.generations=100",
    f"--config.generator_workdir={generator_dir}",
    f"--admin_token={TOKEN}",
  ]


def _proc_cpu(pid: int, children: bool = False) -> float:
  try:
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
  except FileNotFoundError:
    return 0.0
  ticks = int(fields[11]) + int(fields[12])
  if children:
    ticks += int(fields[13]) + int(fields[14])
  return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(server: LocalPostgres | None) -> float:
  """CPU seconds of the server: the postmaster, its reaped and its live children."""
  if server is None:
    return 0.0
  with open(os.path.join(server.data, "postmaster.pid")) as f:
    master = int(f.readline())
  total = _proc_cpu(master, children=True)
  for pid in os.listdir("/proc"):
    if pid.isdigit():
      try:
        with open(f"/proc/{pid}/stat") as f:
          ppid = int(f.read().rsplit(")", 1)[1].split()[1])
      except (FileNotFoundError, ProcessLookupError):
        continue
      if ppid == master:
        total += _proc_cpu(int(pid))
  return total


class Cluster:
  """Replicas of one session, and which are alive."""

  def __init__(self, apps: list[App]):
    self.apps = apps
    self.dead: set[int] = set()
    self.last: dict[int, float] = {}
    self.lock = threading.Lock()

  def live_after(self, index: int) -> int:
    with self.lock:
      for k in range(1, len(self.apps) + 1):
        j = (index + k) % len(self.apps)
        if j not in self.dead:
          return j
    raise RuntimeError("no replica is alive")

  def cpu(self) -> float:
    """CPU seconds of every replica so far (a killed one's as last read)."""
    with self.lock:
      for i, a in enumerate(self.apps):
        if i not in self.dead:
          self.last[i] = _proc_cpu(a.proc.pid)
      return sum(self.last.values())


def _load(cluster: Cluster, window: float, kill) -> dict:
  """``--raters`` threads for warm-up + window; ``kill(t0)`` runs beside them."""
  n, warmup = _RATERS.value, _WARMUP.value
  clock: dict[str, float] = {}
  barrier = threading.Barrier(n + 1, action=lambda: clock.update(t0=time.monotonic()))
  results = dict(rate=[], acked=[], retried=0, errors=[], refused=[], moved=0)
  lock = threading.Lock()

  def rater(index: int) -> None:
    rng = np.random.default_rng([_SEED.value, index])
    replica = index % len(cluster.apps)
    client = HttpRater(cluster.apps[replica].url)
    mine = dict(rate=[], acked=[], retried=0, errors=[], refused=[], moved=0)

    def call(fn, *args):
      """``fn(*args)`` on this rater's replica; on a dead one, move and retry."""
      nonlocal client, replica
      for _ in range(len(cluster.apps) + 1):
        try:
          return fn(client, *args), True
        except Refused:
          raise
        except (httpx.TransportError, httpx.HTTPStatusError) as e:
          if replica not in cluster.dead:
            mine["errors"].append(f"{type(e).__name__}: {e}")
            time.sleep(0.2)
            return None, False
          client.close()
          replica = cluster.live_after(replica)
          client = HttpRater(cluster.apps[replica].url)
          mine["moved"] += 1
      return None, False

    barrier.wait()
    end = clock["t0"] + warmup + window
    identity = 0
    try:
      while time.monotonic() < end:
        rater_id = f"r{index:03d}-{identity}"
        try:
          clip_id, ok = call(HttpRater.next_clip, rater_id)
        except Refused as e:
          if "rated every clip" in str(e):
            identity += 1
          else:
            mine["refused"].append(f"/next_clip: {e}")
            time.sleep(0.5)
          continue
        if not ok:
          continue
        time.sleep(_THINK.value * rng.uniform(0.5, 1.5))
        if time.monotonic() >= end:
          break
        stars = int(rng.integers(1, 6))
        for attempt in range(3):
          start, moved = time.monotonic(), mine["moved"]
          try:
            message, ok = call(HttpRater.rate, rater_id, clip_id, stars)
          except Refused as e:
            retried = attempt or mine["moved"] > moved
            if retried and "already rated" in str(e):  # The lost answer was a yes.
              mine["acked"].append((rater_id, clip_id))
              mine["retried"] += 1
            else:
              mine["refused"].append(f"/rate: {e}")
            break
          if ok:
            mine["rate"].append((start, time.monotonic()))
            if message.startswith("thanks"):
              mine["acked"].append((rater_id, clip_id))
            break
    finally:
      client.close()
      with lock:
        for key in ("rate", "acked", "errors", "refused"):
          results[key].extend(mine[key])
        results["retried"] += mine["retried"]
        results["moved"] += mine["moved"]

  threads = [threading.Thread(target=rater, args=(i,)) for i in range(n)]
  for t in threads:
    t.start()
  barrier.wait()
  killer = threading.Thread(target=kill, args=(clock["t0"] + warmup,))
  killer.start()
  for t in threads:
    t.join()
  killer.join()
  lo, hi = clock["t0"] + warmup, clock["t0"] + warmup + window
  lat = [b - a for a, b in results["rate"] if a >= lo and b <= hi]
  p50, p95 = np.percentile(np.asarray(lat) * 1e3, [50, 95]) if lat else (np.nan, np.nan)
  return dict(
    rate=results["rate"],
    p50=float(p50),
    p95=float(p95),
    counted=len(lat),
    per_second=len(lat) / window,
    acked=results["acked"],
    retried=results["retried"],
    moved=results["moved"],
    errors=results["errors"],
    refused=results["refused"],
    t0=clock["t0"],
  )


def _wait_log(app_: App, text: str, timeout: float) -> float:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    with open(app_.logfile) as f:
      if text in f.read():
        return time.monotonic()
    time.sleep(0.05)
  raise TimeoutError(f"{app_.logfile}: no {text!r}")


def _run(
  backend: str, replicas: int, kill_leader: bool, tmp: str, generator_dir: str
) -> dict:
  name = f"{backend}x{replicas}" + ("-kill" if kill_leader else "")
  workdir = os.path.join(tmp, name)
  os.makedirs(workdir)
  server, args = None, _config_args(generator_dir)
  if backend == "postgresql":
    server = LocalPostgres(os.path.join(tmp, f"pg-{name}"))
    target = server.start(max_connections=100 + 20 * replicas)
    args.append(f"--ratings_db={target}")
  else:
    target = os.path.join(workdir, "ratings.sqlite")
  gradio_tmp = os.path.join(tmp, "gradio")
  apps: list[App] = []
  try:
    apps.append(App(workdir, args, gradio_tmp, logfile=f"{workdir}-0.log"))
    apps[0].wait_ready(_TIMEOUT.value)
    apps[0].wait_status(
      lambda s: s["phase"] == "rating" and s["clips"], "rating", _TIMEOUT.value
    )
    for i in range(1, replicas):
      apps.append(App(workdir, args, gradio_tmp, logfile=f"{workdir}-{i}.log"))
    for a in apps[1:]:
      a.wait_ready(_TIMEOUT.value)
    _wait_log(apps[0], "this replica runs the GA", 60)
    cluster = Cluster(apps)
    failover: dict = {}

    def kill(window_start: float) -> None:
      if not kill_leader or replicas < 2:
        return
      time.sleep(max(0.0, window_start + _KILL_AFTER.value - time.monotonic()))
      cluster.cpu()
      with cluster.lock:
        cluster.dead.add(0)
      killed_at = failover["killed_at"] = time.monotonic()
      apps[0].proc.kill()
      apps[0].proc.wait()
      deadline = killed_at + _TIMEOUT.value
      leader = None
      while leader is None and time.monotonic() < deadline:
        for i, a in enumerate(apps[1:], 1):
          with open(a.logfile) as f:
            if "this replica runs the GA" in f.read():
              leader = i
        time.sleep(0.05)
      failover["lock_seconds"] = time.monotonic() - killed_at
      failover["leader"] = leader

    cpu0, db0 = cluster.cpu(), _postgres_cpu(server)
    out = _load(cluster, _WINDOW.value, kill)
    cpu1, db1 = cluster.cpu(), _postgres_cpu(server)
    if "killed_at" in failover:  # /rate before the kill, and in the 30 s after it.
      k = failover.pop("killed_at")
      lo = out["t0"] + _WARMUP.value
      for part, keep in (
        ("before_kill", lambda a, b: lo <= a and b < k),
        ("after_kill", lambda a, b: k <= a < k + 30),
      ):
        lat = [b - a for a, b in out["rate"] if keep(a, b)]
        if lat:
          failover[f"p95_ms_{part}"] = float(np.percentile(lat, 95) * 1e3)
    if "leader" in failover:  # After the load: the new leader runs the GA.
      leader = apps[failover["leader"]]
      http = HttpRater(leader.url, download=False)
      start = time.monotonic()
      try:
        http.call("admin", TOKEN, "advance")
        leader.wait_status(
          lambda s: s["generation"] >= 1 and s["phase"] == "rating",
          "generation 1",
          _TIMEOUT.value,
        )
      finally:
        http.close()
      failover["next_generation_seconds"] = time.monotonic() - start
    time.sleep(1.0)
    with RatingStore(target) as store:
      stored = [(r.rater_id, r.clip_id) for r in store.ratings()]
    acked = set(out["acked"])
    total = max(1, len(out["acked"]))
    out.update(
      name=name,
      lost=len(acked - set(stored)),
      duplicates=len(stored) - len(set(stored)),
      acked_twice=len(out["acked"]) - len(acked),
      stored=len(stored),
      unacknowledged_stored=len(set(stored) - acked),
      app_cpu_ms=1e3 * (cpu1 - cpu0) / total,
      db_cpu_ms=1e3 * (db1 - db0) / total,
      failover=failover,
    )
    return out
  finally:
    for a in apps:
      a.stop()
    if server is not None:
      server.stop()


def main(argv):
  del argv
  logging.getLogger("httpx").setLevel(logging.WARNING)  # One line per request.
  tmp = tempfile.mkdtemp(prefix="audiojax-replicas-")
  os.chmod(tmp, 0o755)  # The database server runs as its own user.
  generator_dir = _GENERATOR_WORKDIR.value or os.path.join(tmp, "generator")
  rows = []
  try:
    for spec in _RUNS.value:
      backend, replicas, *kill = spec.split(":")
      row = _run(backend, int(replicas), kill == ["kill"], tmp, generator_dir)
      rows.append(row)
      print(
        f"{row['name']}: p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms, "
        f"{row['per_second']:.1f} ratings/s, lost {row['lost']}, duplicates "
        f"{row['duplicates']}, transport errors {len(row['errors'])} "
        f"{row['errors'][:3]}, refused {len(row['refused'])} {row['refused'][:3]}, "
        f"failover {row['failover']}",
        flush=True,
      )
  finally:
    if _KEEP.value:
      print(f"kept {tmp}")
    else:
      shutil.rmtree(tmp, ignore_errors=True)
  print(
    f"\n{_RATERS.value} raters, listening {_THINK.value:.0f} s +-50 %, "
    f"{_WINDOW.value:.0f} s window after {_WARMUP.value:.0f} s warm-up\n"
  )
  print(
    "| run | /rate p50 ms | p95 ms | ratings/s | replica CPU ms/rating | "
    "db CPU ms/rating | acknowledged | lost | duplicates | moved raters | "
    "leader lock after kill s | advance -> next generation s (new leader) |"
    " p95 ms before kill | p95 ms 30 s after kill |"
  )
  print("|" + " --- |" * 14)
  for r in rows:
    f = r["failover"]
    print(
      f"| {r['name']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['per_second']:.1f} | "
      f"{r['app_cpu_ms']:.1f} | {r['db_cpu_ms']:.1f} | {len(set(r['acked']))} | "
      f"{r['lost']} | {r['duplicates']} | {r['moved']} | "
      f"{f.get('lock_seconds', float('nan')):.1f} | "
      f"{f.get('next_generation_seconds', float('nan')):.1f} | "
      f"{f.get('p95_ms_before_kill', float('nan')):.0f} | "
      f"{f.get('p95_ms_after_kill', float('nan')):.0f} |"
    )


if __name__ == "__main__":
  app.run(main)
