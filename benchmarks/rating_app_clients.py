"""The rating app seen from outside, for ``rating_app.py``: REST and ``gradio_client``
raters, and ``gradio_app.py`` run in a subprocess on 127.0.0.1."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import types
import uuid
from typing import Any

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Refused(Exception):
  """The app refused a request (a ``gr.Error``); the message is its reason."""


# Clients of the app.


def _parse_sse(text: str) -> list:
  """The data of Gradio's ``event: complete`` (raises Refused on ``event: error``)."""
  event = None
  for line in text.splitlines():
    if line.startswith("event:"):
      event = line[len("event:") :].strip()
    elif line.startswith("data:") and event in ("complete", "error"):
      payload = line[len("data:") :].strip()
      data = json.loads(payload) if payload else None
      if event == "complete":
        return data
      raise Refused(data.get("error") if isinstance(data, dict) else str(data))
  raise RuntimeError(f"no complete/error event in {text[:300]!r}")


class HttpRater:
  """Gradio's REST API over one keep-alive ``httpx.Client``, in one Gradio session
  (``session_hash``) per rater, as the page and ``gradio_client`` hold one: without
  it (``session_per_call``) every call makes the server build a new session state
  (~4 ms of CPU here)."""

  def __init__(self, url: str, download: bool = True, session_per_call: bool = False):
    self.url = url
    self.download = download
    self.http = httpx.Client(timeout=120.0)
    self.session_hash = None if session_per_call else uuid.uuid4().hex[:11]

  def call(self, api: str, *data: Any) -> list:
    body: dict[str, Any] = {"data": list(data)}
    if self.session_hash:
      body["session_hash"] = self.session_hash
    r = self.http.post(f"{self.url}gradio_api/call/{api}", json=body)
    r.raise_for_status()
    r = self.http.get(f"{self.url}gradio_api/call/{api}/{r.json()['event_id']}")
    r.raise_for_status()
    return _parse_sse(r.text)

  def next_clip(self, rater_id: str) -> str:
    audio, clip_id = self.call("next_clip", rater_id)
    if self.download:  # The page's player fetches the clip.
      self.http.get(audio["url"]).raise_for_status()
    return clip_id

  def rate(self, rater_id: str, clip_id: str, stars: int) -> str:
    return self.call("rate", rater_id, clip_id, stars)[0]

  def status(self) -> dict:
    return self.call("status")[0]

  def close(self) -> None:
    self.http.close()


def cap_client_poll(ms: float) -> None:
  """Caps the sleeps of ``gradio_client.utils`` (its SSE message polling) at ``ms``."""
  import gradio_client.utils as client_utils

  shim = types.SimpleNamespace(
    **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}
  )
  shim.sleep = lambda seconds: time.sleep(min(seconds, ms / 1e3))
  client_utils.time = shim


class ClientRater:
  """``gradio_client.Client.predict`` (downloads the clip, as by default)."""

  def __init__(self, url: str, download_dir: str):
    from gradio_client import Client

    # Plain http on localhost: ssl_verify=False spares a TLS context per request.
    self.client = Client(
      url,
      verbose=False,
      ssl_verify=False,
      download_files=download_dir,
      analytics_enabled=False,
    )

  def _predict(self, *args: Any, api_name: str):
    from gradio_client.exceptions import AppError

    try:
      return self.client.predict(*args, api_name=api_name)
    except AppError as e:
      raise Refused(str(e)) from e

  def next_clip(self, rater_id: str) -> str:
    return self._predict(rater_id, api_name="/next_clip")[1]

  def rate(self, rater_id: str, clip_id: str, stars: int) -> str:
    return self._predict(rater_id, clip_id, stars, api_name="/rate")

  def close(self) -> None:
    self.client.close()


# The app.


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class App:
  """``gradio_app.py`` on 127.0.0.1 in a subprocess, logging to WORKDIR.log.

  ``gradio_default_analytics``: run it with Gradio's own event-analytics setting
  instead of the one ``gradio_app.py`` sets.
  """

  def __init__(
    self,
    workdir: str,
    config_args: list[str],
    gradio_tmp: str,
    gradio_default_analytics: bool = False,
    logfile: str | None = None,
  ):
    self.workdir = workdir
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}/"
    self.logfile = logfile or f"{workdir}.log"
    self.log = open(self.logfile, "w")
    env = dict(
      os.environ,
      GRADIO_ANALYTICS_ENABLED="False",
      GRADIO_TEMP_DIR=gradio_tmp,
      PYTHONUNBUFFERED="1",
    )
    if gradio_default_analytics:
      env.update(
        GRADIO_ANALYTICS_CACHE_FREQUENCY="1", GRADIO_ANALYTICS_MAX_EVENTS="10000"
      )
    self.args = [f"--port={self.port}", *config_args]
    self.proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "gradio_app.py"), f"--workdir={workdir}"]
      + self.args,
      cwd=ROOT,
      env=env,
      stdout=self.log,
      stderr=subprocess.STDOUT,
    )

  def _check_alive(self) -> None:
    if self.proc.poll() is not None:
      with open(self.logfile) as f:
        tail = f.read()[-3000:]
      raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{tail}")

  def wait_ready(self, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      self._check_alive()
      with open(self.logfile) as f:
        if "Rating app ready" in f.read():
          return
      time.sleep(0.25)
    raise TimeoutError(f"{self.logfile}: no 'Rating app ready' in {timeout:.0f} s")

  def wait_status(self, ok, what: str, timeout: float) -> dict:
    """Polls /status until ``ok(status)``."""
    http = HttpRater(self.url, download=False)
    deadline = time.monotonic() + timeout
    try:
      while time.monotonic() < deadline:
        self._check_alive()
        status = http.status()
        if ok(status):
          return status
        time.sleep(0.1)
    finally:
      http.close()
    raise TimeoutError(f"{self.url}: {what} not reached in {timeout:.0f} s")

  def generations_log(self) -> list[dict]:
    path = os.path.join(self.workdir, "generations.jsonl")
    if not os.path.exists(path):
      return []
    with open(path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def stop(self) -> None:
    if self.proc.poll() is None:
      self.proc.terminate()
      try:
        self.proc.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()
    self.log.close()

  def cpu_seconds(self) -> float:
    """User + system CPU time of the app process so far (all its threads)."""
    with open(f"/proc/{self.proc.pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

  def suspicious_lines(self) -> list[str]:
    """Warnings, errors and tracebacks in the log (absl W/E/F lines, Python's)."""
    pattern = re.compile(r"^[WEF]\d{4} |Traceback|Error|Exception|failed", re.I)
    with open(self.logfile) as f:
      return [
        line.rstrip()
        for line in f
        if pattern.search(line) and not re.match(r"I\d{4} ", line)
      ]
