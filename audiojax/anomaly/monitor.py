"""Scoring audio files as they arrive in a folder (a studio's incoming takes).

:class:`Monitor` keeps one saved detector and a JSONL log. :meth:`Monitor.scan` looks
at a folder once: every audio file not yet in the log, whose size has stopped
changing since the previous look (so a file still being copied is not read half
written), is loaded at the detector's sample rate, scored, printed as one line and
appended to the log. A file that cannot be read (not audio, truncated, too short)
gets an ``error`` line and record and the scan goes on. The log is the memory: a
monitor restarted on the same log skips what it already reported, and every record
is flushed as it is written, so a crash loses at most the file being scored.

``python -m launch.monitor`` runs :meth:`Monitor.watch`, a scan every
``--interval`` seconds.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from audiojax import audio as audio_lib
from audiojax.anomaly import base


@dataclasses.dataclass
class Record:
  """One scored (or failed) file: one log line."""

  time: str
  path: str
  size: int
  verdict: str  # "anomalous" | "ok" | "error"
  score: float | None = None
  threshold: float | None = None
  rate: float | None = None
  fault: str | None = None
  error: str | None = None

  def line(self) -> str:
    if self.verdict == "error":
      return f"{self.time}  ERROR      {self.path}: {self.error}"
    word = "ANOMALOUS" if self.verdict == "anomalous" else "ok"
    return (
      f"{self.time}  {word:<9}  score={self.score:.3f} threshold={self.threshold:.3f}"
      f" (false alarms {self.rate:g})  fault={self.fault}  {self.path}"
    )


def statistics_of(detector: base.Detector):
  """The statistics detector that names faults: the detector itself, or its
  ``statistics`` member; ``None`` if it has neither."""
  if detector.name == "statistics":
    return detector
  for member in getattr(detector, "members", ()):
    found = statistics_of(member)
    if found is not None:
      return found
  return None


class Monitor:
  """Scores new audio files with ``detector`` and logs them to ``log_path``.

  Args:
    detector: a calibrated detector (``anomaly.load(dir)``).
    log_path: the JSONL log (appended to; read at start to skip reported files).
    rate: the false-alarm rate of the threshold (default: the detector's own).
    fault_namer: a statistics detector whose :meth:`suggest` names the fault (by
      default the detector's own statistics, if it has them).
    echo: where each line goes (``print`` by default).
  """

  def __init__(
    self,
    detector: base.Detector,
    log_path: str,
    *,
    rate: float | None = None,
    fault_namer=None,
    echo: Callable[[str], Any] | None = None,
  ):
    self.detector = detector
    self.rate = detector.false_alarm_rate if rate is None else base.check_rate(rate)
    self.threshold = detector.threshold(self.rate)
    self.namer = fault_namer or statistics_of(detector)
    self.log_path = log_path
    self.echo = echo or functools.partial(print, flush=True)
    self.reported = self._read_log()
    self._sizes: dict[str, int] = {}

  def _read_log(self) -> set[tuple[str, int]]:
    done = set()
    if not os.path.exists(self.log_path):
      return done
    with open(self.log_path) as f:
      for line in f:
        try:
          record = json.loads(line)
          done.add((record["path"], int(record["size"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
          continue  # a torn last line from a crash
    return done

  def _append(self, record: Record) -> None:
    directory = os.path.dirname(os.path.abspath(self.log_path))
    os.makedirs(directory, exist_ok=True)
    with open(self.log_path, "a") as f:
      f.write(json.dumps(dataclasses.asdict(record)) + "\n")
      f.flush()
      os.fsync(f.fileno())

  def score_file(self, path: str) -> Record:
    """Scores one file, prints its line, logs it; never raises for a bad file."""
    path = os.path.abspath(path)
    now = datetime.datetime.now().isoformat(timespec="seconds")
    size = os.path.getsize(path) if os.path.exists(path) else -1
    try:
      y, _ = audio_lib.load(path, sr=self.detector.sample_rate)
      score = float(self.detector.score(y)[0])
      anomalous = score > self.threshold
      fault = "none"  # a clip that passes is not given a fault
      if anomalous:
        fault = self.namer.suggest(y)[0] if self.namer is not None else "unknown"
      record = Record(
        now,
        path,
        size,
        "anomalous" if anomalous else "ok",
        score=score,
        threshold=self.threshold,
        rate=self.rate,
        fault=fault,
      )
    except (audio_lib.AudioError, base.DetectorError, OSError, ValueError) as e:
      record = Record(now, path, size, "error", error=f"{type(e).__name__}: {e}")
    self.echo(record.line())
    self._append(record)
    self.reported.add((path, size))
    return record

  def _is_new(self, path: str) -> bool:
    return (path, os.path.getsize(path)) not in self.reported

  def scan(self, folder: str) -> list[Record]:
    """Scores the files of ``folder`` (recursively) not reported yet whose size did
    not change since the previous scan."""
    records = []
    for path in sorted(_files(folder, os.path.abspath(self.log_path))):
      try:
        size = os.path.getsize(path)
      except OSError:
        continue  # removed meanwhile
      if not self._is_new(path):
        continue
      if self._sizes.get(path) != size:  # first sight, or still growing
        self._sizes[path] = size
        continue
      records.append(self.score_file(path))
    return records

  def watch(
    self,
    folder: str | None,
    files: Iterable[str] = (),
    *,
    interval: float = 1.0,
    max_scans: int | None = None,
  ) -> None:
    """Scores ``files``, then scans ``folder`` every ``interval`` s (forever, or
    ``max_scans`` times)."""
    for path in files:
      self.score_file(path)
    scans = 0
    while folder is not None and (max_scans is None or scans < max_scans):
      self.scan(folder)
      scans += 1
      if max_scans is None or scans < max_scans:
        time.sleep(interval)


def _files(folder: str, skip: str) -> Iterable[str]:
  """Every non-hidden file under ``folder`` but ``skip`` (the log): a file that is not
  audio gets an error line rather than silence, so nothing dropped in goes unseen."""
  for root, dirs, names in os.walk(folder):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    for name in names:
      path = os.path.abspath(os.path.join(root, name))
      if not name.startswith(".") and path != skip:
        yield path


def summary(records: Iterable[Record]) -> dict[str, int]:
  counts = {"anomalous": 0, "ok": 0, "error": 0}
  for r in records:
    counts[r.verdict] += 1
  return counts


__all__ = ["Monitor", "Record", "statistics_of", "summary"]
