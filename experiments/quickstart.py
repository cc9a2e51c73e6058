"""The quickstart: build the embedded music set, train the log-mel CNN on instrument
family, evaluate, and print the results table.

  ./launch/quickstart.sh        (= set up, then the line below)
  python -m launch.run --config=experiments/quickstart.py --workdir=runs/quickstart
"""

import ml_collections

from experiments import classifier


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = classifier.get_config(",".join(filter(None, ["runlocal", arg])))
  c.name = "quickstart: instrument family from log-mel (embedded music set)"
  return c
