"""Benchmark: one training step of K out-of-fold classifiers, three ways, in one run.

``audiojax.anomaly.folds`` trains the K models of confident learning as one pytree in
one step of the shared loop. How the K models share that step is ``fold_loss``'s
``stack``: ``"unroll"`` (K copies of the model in the traced step) or ``"vmap"`` (one
``jax.vmap`` over the stacked params). The peer is what a user would otherwise do:
train the K models one after another, a step of one model at a time (K steps of the
single model's gradient).

Timed: the jitted gradient of the loss (what dominates a step) for the runlocal
``mel_cnn`` on the log-mel front end, 2 s clips at 16 kHz, batch 32, K = 4; compile
and first call apart, then the median of interleaved repeats.

  .venv/bin/python benchmarks/fold_models.py [--folds=4] [--repeats=5]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from audiojax import platform  # noqa: E402
from audiojax.anomaly import folds  # noqa: E402
from audiojax.models.classifier import build_classifier  # noqa: E402
from audiojax.train import losses  # noqa: E402
from experiments import classifier  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--folds", type=int, default=4)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  platform.configure()
  print(f"load average {os.getloadavg()[0]:.2f}; devices {jax.devices()}")
  k_models, batch = args.folds, args.batch
  model = build_classifier(classifier.get_config("runlocal"), 10, 16000)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(-0.3, 0.3, (batch, 32000)).astype(np.float32))
  data = {
    "audio": x,
    "label": jnp.asarray(np.arange(batch) % 10),
    "fold": jnp.asarray(np.arange(batch) % k_models),
  }
  init = jax.jit(lambda key: jax.vmap(lambda k: model.init(k, x[:1]))(key))
  params = init(jax.random.split(jax.random.key(0), k_models))
  single = losses.classification_loss(model.apply)
  one_params = jax.tree.map(lambda p: p[0], params)
  one_batch = {"audio": x, "label": data["label"]}

  def stacked(stack):
    grad = jax.jit(
      jax.grad(
        lambda p, b, k: folds.fold_loss(model.apply, k_models, stack)(p, b, k)[0]
      )
    )
    return lambda key: grad(params, data, key)

  one_grad = jax.jit(jax.grad(lambda p, b, k: single(p, b, k)[0]))

  def sequential(key):
    return [
      one_grad(one_params, one_batch, jax.random.fold_in(key, i))
      for i in range(k_models)
    ]

  runs = {
    f"peer: {k_models} single-model steps in turn": sequential,
    'stack="unroll"': stacked("unroll"),
    'stack="vmap"': stacked("vmap"),
  }
  times = {name: [] for name in runs}
  for name, fn in runs.items():
    t = time.perf_counter()
    jax.block_until_ready(fn(jax.random.key(1)))
    print(f"{name}: compile + first call {time.perf_counter() - t:.1f} s")
  for r in range(args.repeats):
    for name, fn in runs.items():
      t = time.perf_counter()
      jax.block_until_ready(fn(jax.random.key(2 + r)))
      times[name].append(time.perf_counter() - t)
  peer = statistics.median(times[next(iter(runs))])
  print("\n| run | median s per step | speed vs the peer |")
  print("| --- | --- | --- |")
  for name, ts in times.items():
    m = statistics.median(ts)
    print(f"| {name} | {m:.2f} | {peer / m:.2f}x |")


if __name__ == "__main__":
  main()
