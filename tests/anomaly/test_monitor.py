"""The folder monitor: a faulty take dropped into a watched folder is flagged and named,
a clean one passes, files that are not audio get an error line and the scan goes on,
a half-written file waits, and a restarted monitor skips what its log holds."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from audiojax import anomaly
from audiojax import audio as audio_lib
from audiojax.anomaly.monitor import Monitor, summary
from audiojax.data import faults

SR = 16000
SAMPLES = SR  # one-second clips


@pytest.fixture(scope="module")
def setup(music_tiny, tmp_path_factory):
  """A calibrated statistics detector saved to disk, and clean clips it never saw."""
  audio = np.stack([music_tiny["train"].source[i]["audio"] for i in range(16)])
  clips = audio[:, : 2 * SAMPLES].reshape(-1, SAMPLES)
  detector = anomaly.fit("statistics", clips[:24], SR, None)
  detector.calibrate(clips[24:], false_alarm_rate=0.05)
  directory = str(tmp_path_factory.mktemp("detector"))
  detector.save(directory)
  held_out = np.stack(
    [music_tiny["test"].source[i]["audio"][:SAMPLES] for i in range(4)]
  )
  return directory, detector, held_out


def _clean_file(detector, clips):
  """A held-out clip the detector passes (the monitor must not invent faults)."""
  scores = detector.score(clips)
  assert np.any(scores <= detector.threshold()), scores
  return clips[int(np.argmin(scores))]


def _drop(folder, name, y):
  path = os.path.join(folder, name)
  audio_lib.save(path, y, SR)
  return path


def _scan_until_settled(monitor, folder):
  """Two looks: the first notes each size, the second scores the settled files."""
  first = monitor.scan(folder)
  return first + monitor.scan(folder)


def test_flags_a_faulty_take_passes_a_clean_one_and_survives_junk(setup, tmp_path):
  directory, detector, held_out = setup
  folder = tmp_path / "incoming"
  folder.mkdir()
  clipped = np.asarray(
    faults.inject("clipping", held_out[1], SR, jax.random.key(0), 0.8)
  )
  _drop(folder, "take_clean.wav", _clean_file(detector, held_out))
  _drop(folder, "take_clipped.wav", clipped)
  (folder / "notes.txt").write_text("tempo 120, second take was the keeper\n")
  whole = (folder / "take_clean.wav").read_bytes()
  (folder / "take_truncated.wav").write_bytes(whole[: len(whole) // 3])
  (folder / ".hidden.wav").write_bytes(b"ignored")

  lines = []
  log = str(tmp_path / "log.jsonl")
  monitor = Monitor(anomaly.load(directory), log, echo=lines.append)
  records = {os.path.basename(r.path): r for r in _scan_until_settled(monitor, folder)}

  assert sorted(records) == [
    "notes.txt",
    "take_clean.wav",
    "take_clipped.wav",
    "take_truncated.wav",
  ]
  assert records["take_clipped.wav"].verdict == "anomalous"
  assert records["take_clipped.wav"].fault == "clipping"
  assert records["take_clipped.wav"].score > records["take_clipped.wav"].threshold
  assert records["take_clean.wav"].verdict == "ok"
  assert records["take_clean.wav"].fault == "none"  # a take that passes is not named
  for junk in ("notes.txt", "take_truncated.wav"):
    assert records[junk].verdict == "error"
    assert "AudioError" in records[junk].error
  assert summary(records.values()) == {"anomalous": 1, "ok": 1, "error": 2}
  # One printed line and one log record per file, in the same order.
  with open(log) as f:
    logged = [json.loads(line) for line in f]
  assert [r["path"] for r in logged] == [r.path for r in records.values()]
  assert len(lines) == 4 and sum("ANOMALOUS" in line for line in lines) == 1
  assert sum("ERROR" in line for line in lines) == 2


def test_waits_for_a_growing_file_and_a_restart_skips_logged_files(setup, tmp_path):
  directory, detector, held_out = setup
  folder = tmp_path / "incoming"
  folder.mkdir()
  log = str(tmp_path / "log.jsonl")
  first = _drop(folder, "a.wav", held_out[0])
  monitor = Monitor(anomaly.load(directory), log, echo=lambda line: None)
  assert monitor.scan(folder) == []  # first sight: size noted, not read
  assert [r.path for r in monitor.scan(folder)] == [first]

  # A file still being written (its size changes between looks) is not read.
  growing = folder / "b.wav"
  growing.write_bytes(b"RIFF")
  assert monitor.scan(folder) == []
  with open(growing, "ab") as f:
    f.write(b"\0" * 100)
  assert monitor.scan(folder) == []
  _drop(folder, "b.wav", held_out[2])
  assert monitor.scan(folder) == []
  assert [os.path.basename(r.path) for r in monitor.scan(folder)] == ["b.wav"]

  # A torn last line (a crash while writing) is ignored; logged files are skipped.
  with open(log, "a") as f:
    f.write('{"path": "/x", "si')
  restarted = Monitor(anomaly.load(directory), log, echo=lambda line: None)
  assert _scan_until_settled(restarted, folder) == []
  # A file replaced under the same name with other content is scored again.
  _drop(folder, "a.wav", held_out[3][: SAMPLES // 2])
  assert [r.path for r in _scan_until_settled(restarted, folder)] == [first]


def test_command_line_monitor(setup, tmp_path):
  directory, _, held_out = setup
  folder = tmp_path / "incoming"
  folder.mkdir()
  gap = np.asarray(faults.inject("dropout", held_out[0], SR, jax.random.key(1), 1.0))
  _drop(folder, "dropout.wav", gap)
  (folder / "readme.md").write_text("not audio")
  extra = _drop(tmp_path, "given.wav", held_out[1])
  env = dict(os.environ, PYTHONPATH=os.getcwd())
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "launch.monitor",
      f"--detector={directory}",
      f"--watch={folder}",
      "--once",
      "--interval=0.05",
      "--rate=0.05",
      extra,
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
    check=False,
  )
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  flagged = [line for line in lines if "dropout.wav" in line]
  assert (
    len(flagged) == 1 and "ANOMALOUS" in flagged[0] and "fault=dropout" in flagged[0]
  )
  assert any("ERROR" in line and "readme.md" in line for line in lines)
  assert any("given.wav" in line for line in lines)
  with open(folder / "anomaly_log.jsonl") as f:
    assert len(f.readlines()) == 3
