"""The real launcher in a subprocess, as the kill and multi-process tests run it."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def classifier_cmd(workdir, data_dir, steps: int, *extra: str) -> list[str]:
  """``python -m launch.run`` of the tiny classifier for ``steps`` steps."""
  return [
    sys.executable,
    "-m",
    "launch.run",
    "--config=experiments/classifier.py:tiny",
    f"--workdir={workdir}",
    f"--config.dataset.data_dir={data_dir}",
    f"--config.total_steps={steps}",
    "--config.checkpoint_every=4",
    *extra,
  ]
