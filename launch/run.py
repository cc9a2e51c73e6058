"""Launches one experiment.

  python -m launch.run --config=experiments/quickstart.py[:runlocal] --workdir=runs/x \
      [--config.total_steps=100 ...]

Rerunning with the same --workdir resumes. Prints the results table at the end.

On several hosts (or several processes of one), run the same command once per
process with ``--coordinator=HOST:PORT --num_processes=N --process_id=I``, or with
``--multihost`` where the cluster's environment says it (SLURM, Cloud TPU, ...); the
workdir must be one directory every process sees.
"""

from absl import app, flags
from ml_collections import config_flags

from audiojax import distributed

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (resumed if it exists)")
flags.mark_flags_as_required(["config", "workdir"])
_DISTRIBUTED = distributed.define_flags()


def main(argv):
  del argv
  from audiojax import experiment, platform

  distributed.initialize_from_flags(_DISTRIBUTED)  # Before any device is touched.
  platform.configure()
  platform.quiet_library_logs()
  experiment.run(_CONFIG.value, _WORKDIR.value)
  if distributed.is_primary():
    with open(f"{_WORKDIR.value}/results.md") as f:
      print(f.read())


if __name__ == "__main__":
  app.run(main)
