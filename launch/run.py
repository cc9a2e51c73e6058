"""Launches one experiment.

  python -m launch.run --config=experiments/quickstart.py[:runlocal] --workdir=runs/x \
      [--config.total_steps=100 ...]

Rerunning with the same --workdir resumes. Prints the results table at the end.
"""

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (resumed if it exists)")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  from audiojax import experiment, platform

  platform.configure()
  platform.quiet_library_logs()
  experiment.run(_CONFIG.value, _WORKDIR.value)
  with open(f"{_WORKDIR.value}/results.md") as f:
    print(f.read())


if __name__ == "__main__":
  app.run(main)
