"""The live Gradio app of a GA session, in a subprocess, driven by gradio_client."""

import concurrent.futures
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from audiojax.ratings.store import RatingStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The live app, in a subprocess, driven by gradio_client.


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class App:
  """``gradio_app.py`` on 127.0.0.1 in a subprocess."""

  def __init__(self, workdir, config_args=(), admin_token="tok"):
    self.port = _free_port()
    self.url = f"http://127.0.0.1:{self.port}/"
    self.log = open(os.path.join(workdir, f"app-{self.port}.log"), "w")
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    self.proc = subprocess.Popen(
      [
        sys.executable,
        os.path.join(ROOT, "gradio_app.py"),
        f"--workdir={workdir}",
        f"--port={self.port}",
        f"--admin_token={admin_token}",
        *config_args,
      ],
      cwd=ROOT,
      env=env,
      stdout=self.log,
      stderr=subprocess.STDOUT,
    )
    self.logfile = self.log.name
    self._wait_ready()

  def _wait_ready(self, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
      if self.proc.poll() is not None:
        raise RuntimeError("app exited:\n" + open(self.logfile).read()[-3000:])
      if "Rating app ready" in open(self.logfile).read():
        return
      time.sleep(0.5)
    raise TimeoutError(open(self.logfile).read()[-3000:])

  def client(self):
    from gradio_client import Client

    # The app is plain http on localhost; without ssl_verify=False gradio_client
    # builds a TLS context (CA bundle load, ~40 ms CPU) for every request.
    return Client(self.url, verbose=False, ssl_verify=False)

  def kill(self):
    self.proc.send_signal(signal.SIGKILL)
    self.proc.wait()
    self.log.close()

  def stop(self):
    if self.proc.poll() is None:
      self.proc.terminate()
      try:
        self.proc.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self.proc.kill()
    self.log.close()


def _config_args(data_dir, generator_dir):
  return [
    "--config=experiments/human_ga.py:apptest",
    f"--config.generator.dataset.data_dir={data_dir}",
    f"--config.generator_workdir={generator_dir}",
  ]


def _rate_many(app, rater_id, n, acked):
  """``n`` ratings by one rater through the API; retries while a generation renders."""
  client = app.client()
  rng = np.random.default_rng(abs(hash(rater_id)) % 2**32)
  done = 0
  while done < n:
    try:
      _, clip_id = client.predict(rater_id, api_name="/next_clip")
      msg = client.predict(rater_id, clip_id, int(rng.integers(1, 6)), api_name="/rate")
    except Exception as e:  # gradio_client raises AppError with the gr.Error text.
      if any(m in str(e) for m in ("not ready", "rendered", "rated every", "closed")):
        time.sleep(0.3)
        continue
      raise
    assert msg.startswith("thanks")
    acked.append((rater_id, clip_id))
    done += 1


def _wait_generation(client, at_least, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline:
    status = client.predict(api_name="/status")
    if status["generation"] >= at_least:
      return status
    time.sleep(0.5)
  raise TimeoutError(f"generation stayed at {status['generation']}")


def test_live_app_32_concurrent_raters(tmp_path, generator_dir, data_dir, music_tiny):
  app = App(str(tmp_path), _config_args(data_dir, generator_dir))
  try:
    acked: list = []
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
      futures = [
        pool.submit(_rate_many, app, f"rater{r:02d}", 50, acked) for r in range(32)
      ]
      for f in futures:
        f.result()
    assert len(acked) == 1600
    client = app.client()
    status = _wait_generation(client, 1)
    store = RatingStore(tmp_path / "ratings.sqlite")
    rows = store.ratings()
    assert len(rows) == 1600
    assert sorted((r.rater_id, r.clip_id) for r in rows) == sorted(acked)
    counts = store.counts_per_clip(0)
    assert len(counts) == 64 and min(counts.values()) >= 20
    log = (tmp_path / "generations.jsonl").read_text()
    assert '"fitness"' in log and status["mean_rating_per_generation"][0] is not None
    store.close()
    # Bad requests through the API get the reason and change nothing.
    for args, reason in (
      (("eve", "../../../etc/passwd", 3), "unknown clip"),
      (("eve", rows[0].clip_id, 4), "closed"),
    ):
      with pytest.raises(Exception, match=reason):
        client.predict(*args, api_name="/rate")
    with pytest.raises(Exception, match="wrong admin token"):
      client.predict("nope", "advance", api_name="/admin")
    store = RatingStore(tmp_path / "ratings.sqlite")
    assert len(store.ratings()) == 1600
    store.close()
  finally:
    app.stop()


def test_app_killed_mid_generation_resumes_with_every_rating(
  tmp_path, generator_dir, data_dir, music_tiny
):
  app = App(str(tmp_path), _config_args(data_dir, generator_dir))
  acked: list = []
  try:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      for f in [pool.submit(_rate_many, app, f"r{i}", 10, acked) for i in range(4)]:
        f.result()
    generation = app.client().predict(api_name="/status")["generation"]
  finally:
    app.kill()
  assert generation == 0
  # Restarted without --config: the workdir's session is resumed.
  app = App(str(tmp_path))
  try:
    client = app.client()
    status = client.predict(api_name="/status")
    assert status["generation"] == generation and status["ratings"] == 40
    store = RatingStore(tmp_path / "ratings.sqlite")
    assert sorted((r.rater_id, r.clip_id) for r in store.ratings()) == sorted(acked)
    store.close()
    _wait_ready(client)  # The page is up before the session is restored.
    _, clip_id = client.predict("r0", api_name="/next_clip")
    assert clip_id not in {c for r, c in acked if r == "r0"}
  finally:
    app.stop()


@pytest.mark.skipif(
  shutil.which("chromium") is None,
  reason="needs Debian chromium (launch/setup.sh installs it as root)",
)
def test_rater_page_screenshot_shows_player_and_rating(
  tmp_path, generator_dir, data_dir, music_tiny
):
  app = App(str(tmp_path), _config_args(data_dir, generator_dir))
  try:
    png = tmp_path / "rater_page.png"
    size = "--window-size=1000,1300"
    _chromium(app.url, tmp_path / "chrome", size, f"--screenshot={png}")
    dom = _chromium(app.url, tmp_path / "chrome", size, "--dump-dom")
  finally:
    app.stop()
  from PIL import Image

  pixels = np.asarray(Image.open(png).convert("L"), np.float32)
  assert pixels.shape == (1300, 1000) and pixels.std() > 5  # Not a blank page.
  assert "Rate the music: which clips do you like?" in dom  # The raters' title.
  assert "Rating (1 = dislike, 5 = love)" in dom  # The rating control...
  assert "Submit rating" in dom and "Next clip" in dom
  assert 'data-testid="audio"' in dom or "audio" in dom.lower()  # ...and the player.


def _chromium(url, user_data_dir, *args):
  flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--user-data-dir={user_data_dir}",
    "--virtual-time-budget=15000",
  ]
  return subprocess.run(
    ["chromium", *flags, *args, url],
    check=True,
    capture_output=True,
    timeout=120,
    text=True,
  ).stdout


def _wait_ready(client, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline:
    status = client.predict(api_name="/status")
    if status["ready"] and status["clips"]:
      return status
    time.sleep(0.5)
  raise TimeoutError(f"the app never got ready: {status}")


@pytest.mark.skipif(
  shutil.which("chromium") is None,
  reason="needs Debian chromium (launch/setup.sh installs it as root)",
)
def test_browsers_keep_their_own_rater_id_and_one_address_cannot_switch_ids(
  tmp_path, generator_dir, data_dir, music_tiny
):
  args = [
    *_config_args(data_dir, generator_dir),
    "--config.ratings.max_raters_per_address=2",
  ]
  app = App(str(tmp_path), args)
  try:
    ids = [
      re.findall(r"rater-[0-9a-f]{10}", _chromium(app.url, tmp_path / d, "--dump-dom"))
      for d in ("browser_a", "browser_a", "browser_b")
    ]
    client = app.client()
    _wait_ready(client)
    for rater in ("ann", "bob"):
      _, clip_id = client.predict(rater, api_name="/next_clip")
      assert client.predict(rater, clip_id, 4, api_name="/rate").startswith("thanks")
    _, clip_id = client.predict("cat", api_name="/next_clip")
    with pytest.raises(Exception, match=r"127\.0\.0\.1 .*limit 2 raters per address"):
      client.predict("cat", clip_id, 5, api_name="/rate")
  finally:
    app.stop()
  first, reloaded, other = (set(found) for found in ids)
  assert len(first) == 1 and reloaded == first  # A reload is the same rater.
  assert len(other) == 1 and other != first  # Another browser is another rater.
  store = RatingStore(tmp_path / "ratings.sqlite")
  assert sorted(r.rater_id for r in store.ratings()) == ["ann", "bob"]
  store.close()


@pytest.mark.slow
def test_app_is_up_at_once_and_says_what_it_waits_for(tmp_path, data_dir, music_tiny):
  # The runlocal session on a new workdir: the page must not wait for the generator.
  # (The tiny data set, so the generator starts training within the test's time.)
  start = time.monotonic()
  app = App(
    str(tmp_path),
    [
      "--config=experiments/human_ga.py:runlocal",
      f"--config.generator.dataset.data_dir={data_dir}",
      "--config.generator.dataset.config=tiny",
      "--config.generator.batch_size=8",
    ],
  )
  try:
    client = app.client()
    status = client.predict(api_name="/status")
    assert time.monotonic() - start < 30
    assert not status["ready"] and status["preparing"]["error"] is None
    with pytest.raises(Exception, match="not ready yet: (loading|training) the gen"):
      client.predict("ann", api_name="/next_clip")
    deadline, seen = time.monotonic() + 180, []
    while time.monotonic() < deadline:
      p = client.predict(api_name="/status")["preparing"]
      if p["task"] == "training the generator" and p["step"]:
        seen.append(p["step"])
        if len(set(seen)) >= 2:
          break
      time.sleep(1.0)
    assert len(set(seen)) >= 2 and p["total"] == 900, p  # Progress moves on.
    with pytest.raises(Exception, match=r"training the generator, step \d+/900"):
      client.predict("ann", "g000-i00-s0", 3, api_name="/rate")
  finally:
    app.stop()


def _log(app):
  with open(app.logfile) as f:
    return f.read()


@pytest.mark.slow
def test_two_replicas_on_postgresql_share_one_session_and_the_ga_fails_over(
  tmp_path, generator_dir, data_dir, music_tiny, postgresql_server
):
  import uuid

  import psycopg

  _, base_url = postgresql_server
  db = f"replicas_{uuid.uuid4().hex[:8]}"
  with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
    conn.execute(f'CREATE DATABASE "{db}"')
  args = [*_config_args(data_dir, generator_dir), f"--ratings_db={base_url}/{db}"]
  first = App(str(tmp_path), args)
  second = server_only = None
  acked: list = []
  try:
    _wait_ready(first.client())
    second = App(str(tmp_path), args)
    assert "another replica runs the GA" in _log(second)
    assert "this replica runs the GA" in _log(first)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      jobs = [
        pool.submit(_rate_many, app, f"r{i}", 5, acked)
        for i, app in enumerate((first, second, first, second))
      ]
      for job in jobs:
        job.result()
    server_only = App(str(tmp_path), [*args, "--norun_ga"])
    first.kill()  # The GA's replica dies; its raters go on at the other one.
    _rate_many(second, "r0", 5, acked)
    _rate_many(server_only, "r5", 2, acked)  # Serves what the GA published.
    deadline = time.time() + 60
    while "this replica runs the GA" not in _log(second):
      assert time.time() < deadline, "the surviving replica never took over the GA"
      time.sleep(0.2)
    assert "runs the GA" not in _log(server_only)
    client = second.client()
    client.predict("tok", "advance", api_name="/admin")
    status = _wait_generation(client, 1)  # Told and published by the new leader.
    assert status["generation"] == 1
    store = RatingStore(f"{base_url}/{db}")
    stored = sorted((r.rater_id, r.clip_id) for r in store.ratings())
    store.close()
    assert len(acked) == 27 and stored == sorted(acked)  # None lost, none twice.
  finally:
    for app in (first, second, server_only):
      if app is not None and app.proc.poll() is None:
        app.stop()
