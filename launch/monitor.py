"""Flags anomalous audio files as they arrive in a folder.

  python -m launch.monitor --detector=DIR --watch=FOLDER [--rate=0.01] \\
      [--log=FOLDER/anomaly_log.jsonl] [--interval=1] [FILE ...]

Scores each FILE given, then every new file in FOLDER (recursively, once its size has
stopped changing), one line per file: verdict, score, the threshold at the false-alarm
rate, and the fault the signal statistics suggest. Every result is appended to the
JSONL log; a restarted monitor skips the files already in it. Files that are not
readable audio get an ERROR line and the monitor keeps going. --once scans FOLDER a
single time and exits (for scripts).
"""

from absl import app, flags

_DETECTOR = flags.DEFINE_string("detector", None, "a saved detector directory")
_WATCH = flags.DEFINE_string("watch", None, "folder to watch (optional)")
_RATE = flags.DEFINE_float("rate", None, "false-alarm rate (default: the detector's)")
_LOG = flags.DEFINE_string("log", None, "JSONL log (default: WATCH/anomaly_log.jsonl)")
_INTERVAL = flags.DEFINE_float("interval", 1.0, "seconds between scans")
_ONCE = flags.DEFINE_bool("once", False, "scan twice (to see sizes settle), then exit")
flags.mark_flags_as_required(["detector"])


def main(argv):
  files = argv[1:]
  if _WATCH.value is None and not files:
    raise app.UsageError("give --watch=FOLDER, files to score, or both")
  from audiojax import anomaly, platform
  from audiojax.anomaly.monitor import Monitor

  platform.configure()
  platform.quiet_library_logs()
  log = _LOG.value or (
    f"{_WATCH.value}/anomaly_log.jsonl" if _WATCH.value else "anomaly_log.jsonl"
  )
  monitor = Monitor(anomaly.load(_DETECTOR.value), log, rate=_RATE.value)
  print(
    f"detector {monitor.detector.name} at {monitor.detector.sample_rate} Hz, "
    f"threshold {monitor.threshold:.3f} (false alarms {monitor.rate:g}); log {log}",
    flush=True,
  )
  try:
    monitor.watch(
      _WATCH.value,
      files,
      interval=_INTERVAL.value,
      max_scans=2 if _ONCE.value else None,
    )
  except KeyboardInterrupt:
    pass


if __name__ == "__main__":
  app.run(main)
