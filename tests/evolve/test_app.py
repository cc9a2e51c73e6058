"""The rating service (bad requests change nothing) and the live Gradio app."""

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from audiojax.evolve import session as session_lib
from audiojax.evolve.app import (
  AdminError,
  ClosedGeneration,
  NotReady,
  RatingService,
  progress_report,
)
from audiojax.evolve.rating_errors import (
  DuplicateVote,
  InvalidRater,
  InvalidRating,
  RatingError,
  UnknownClip,
)
from audiojax.evolve.ratings import RatingStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def service(tmp_path):
  store = RatingStore(tmp_path / "ratings.sqlite", max_per_minute=1000)
  for g in (0, 1):
    for i in range(3):
      for s in range(2):
        cid = f"g{g:03d}-i{i:02d}-s{s}"
        store.add_clip(cid, g, i, s, str(tmp_path / f"{cid}.wav"))
  store.set_meta(session_lib.META_GENERATION, "1")
  yield RatingService(
    store, 2, admin_token="sesame", export_dir=str(tmp_path / "exports")
  )
  store.close()


def _votes(service):
  return [tuple(r) for r in service.store.ratings()], service.store.comparisons()


@pytest.mark.parametrize(
  "args, error, match",
  [
    (("ann", "g001-i09-s0", 3), UnknownClip, "unknown clip"),
    (("ann", "../../etc/passwd", 3), UnknownClip, "unknown clip"),
    (("ann", "g001-i00-s0/../../x", 3), UnknownClip, "unknown clip"),
    (("ann", None, 3), UnknownClip, "unknown clip"),
    (("ann", "g001-i00-s0", 0), InvalidRating, "1..5"),
    (("ann", "g001-i00-s0", 6), InvalidRating, "1..5"),
    (("ann", "g001-i00-s0", 3.5), InvalidRating, "integer"),
    (("ann", "g001-i00-s0", "5"), InvalidRating, "integer"),
    (("", "g001-i00-s0", 3), InvalidRater, "rater id"),
    (("ann\x00", "g001-i00-s0", 3), InvalidRater, "control"),
    (("ann", "g000-i00-s0", 3), ClosedGeneration, "generation 0, which is closed"),
  ],
)
def test_bad_ratings_are_refused_and_change_nothing(service, args, error, match):
  before = _votes(service)
  with pytest.raises(error, match=match):
    service.rate(*args)
  assert _votes(service) == before


def test_second_vote_is_refused(service):
  assert "4 stars" in service.rate("ann", "g001-i00-s0", 4)
  before = _votes(service)
  with pytest.raises(DuplicateVote):
    service.rate("ann", "g001-i00-s0", 2)
  assert _votes(service) == before


def test_admin_needs_the_token(service, tmp_path):
  before = {k: service.store.get_meta(k) for k in ("paused", "advance_generation")}
  for token in ("", "sesam", None, "sesame\n"):
    with pytest.raises(AdminError, match="wrong admin token"):
      service.admin(token, "pause")
  with pytest.raises(AdminError, match="unknown admin action"):
    service.admin("sesame", "drop_tables")
  assert {k: service.store.get_meta(k) for k in before} == before
  no_admin = RatingService(service.store, 2, admin_token=None, export_dir=str(tmp_path))
  with pytest.raises(AdminError, match="disabled"):
    no_admin.admin("sesame", "advance")

  assert "paused" in service.admin("sesame", "pause")
  with pytest.raises(NotReady, match="paused"):
    service.next_clip("ann")
  with pytest.raises(NotReady, match="paused"):
    service.rate("ann", "g001-i00-s0", 3)
  service.admin("sesame", "resume")
  service.rate("ann", "g001-i00-s0", 3)
  service.admin("sesame", "advance")
  assert service.store.get_meta(session_lib.META_ADVANCE) == "1"
  path = service.admin("sesame", "export")
  assert open(path).read().count("\n") == 2  # Header + the one rating.


def test_next_clip_serves_the_current_generation_least_rated_first(service):
  seen = set()
  for _ in range(6):
    path, clip_id = service.next_clip("bob")
    assert clip_id.startswith("g001-") and path.endswith(f"{clip_id}.wav")
    service.rate("bob", clip_id, 3)
    seen.add(clip_id)
  assert len(seen) == 6
  with pytest.raises(NotReady, match="rated every clip"):
    service.next_clip("bob")
  _, first = service.next_clip("cat")
  assert first in seen  # All have one rating now; any is least rated.


def test_pairs_compare_clips_of_the_same_noise(service):
  a_file, b_file, a, b = service.next_pair("dan")
  assert a.rsplit("-", 1)[1] == b.rsplit("-", 1)[1] and a != b
  assert "preferred" in service.compare("dan", a, b, b)
  with pytest.raises(InvalidRating, match="neither"):
    service.compare("dan", a, b, "g001-i02-s1")
  with pytest.raises(RatingError):
    service.compare("dan", a, b, a)  # The same pair again.
  assert len(service.store.comparisons()) == 1


def test_progress_panel_reports_generation_votes_and_the_rating_curve(service):
  service.store.rate("ann", "g000-i00-s0", 2)  # Generation 0, before it closed.
  service.store.rate("bob", "g000-i01-s0", 4)
  service.store.rate("ann", "g000-i02-s0", 5)  # Individual 2 = P: the base, left out.
  service.rate("ann", "g001-i00-s0", 5)
  text, curve = progress_report(service.status())
  assert "**Generation 1** (render): 6 clips, 1 ratings, at least 0 per clip." in text
  assert "| 0 | 3.00 |" in text and "| 1 | 5.00 |" in text
  assert curve.to_dict("list") == {"generation": [0, 1], "mean rating": [3.0, 5.0]}
  service.store.set_meta(session_lib.META_GENERATION, "2")
  text, curve = progress_report(service.status())
  assert "| 2 | - |" in text and list(curve["generation"]) == [0, 1]


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
      if "rendered" in str(e) or "rated every clip" in str(e) or "closed" in str(e):
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
    flags = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      f"--user-data-dir={tmp_path / 'chrome'}",
      "--virtual-time-budget=15000",
      "--window-size=1000,1300",
    ]
    png = tmp_path / "rater_page.png"
    subprocess.run(
      ["chromium", *flags, f"--screenshot={png}", app.url],
      check=True,
      capture_output=True,
      timeout=120,
    )
    dom = subprocess.run(
      ["chromium", *flags, "--dump-dom", app.url],
      check=True,
      capture_output=True,
      timeout=120,
      text=True,
    ).stdout
  finally:
    app.stop()
  from PIL import Image

  pixels = np.asarray(Image.open(png).convert("L"), np.float32)
  assert pixels.shape == (1300, 1000) and pixels.std() > 5  # Not a blank page.
  assert "Rate the music: which clips do you like?" in dom  # The raters' title.
  assert "Rating (1 = dislike, 5 = love)" in dom  # The rating control...
  assert "Submit rating" in dom and "Next clip" in dom
  assert 'data-testid="audio"' in dom or "audio" in dom.lower()  # ...and the player.
