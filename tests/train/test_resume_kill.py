"""A run killed with SIGKILL at a random step and rerun ends bit-identical to an
uninterrupted one (params, optimizer state, metrics), through the real launcher."""

import os
import signal
import subprocess
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.train.launcher import REPO, classifier_cmd

STEPS = 40


def _cmd(workdir, data_dir):
  return classifier_cmd(workdir, data_dir, STEPS, "--config.eval_every=8")


def _last_step(workdir):
  try:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      lines = f.read().splitlines()
  except FileNotFoundError:
    return 0
  import json

  steps = []
  for line in lines:
    try:
      steps.append(json.loads(line)["step"])
    except ValueError:
      pass
  return max(steps, default=0)


def _numpy(x):
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return np.asarray(x)


def _final_state(workdir):
  manager = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"))
  step = manager.latest_step()
  restored = manager.restore(
    step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
  )
  manager.close()
  return step, restored["state"]


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, music_tiny, data_dir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  straight = tmp_path / "straight"
  subprocess.run(
    _cmd(straight, data_dir), cwd=REPO, env=env, check=True, capture_output=True
  )

  kill_after = int(np.random.default_rng().integers(3, STEPS - 6))
  killed = tmp_path / "killed"
  proc = subprocess.Popen(
    _cmd(killed, data_dir),
    cwd=REPO,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  deadline = time.time() + 300
  while _last_step(killed) < kill_after and proc.poll() is None:
    assert time.time() < deadline, "run did not reach the kill step"
    time.sleep(0.005)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL, "the run finished before it was killed"
  assert _last_step(killed) < STEPS

  subprocess.run(
    _cmd(killed, data_dir), cwd=REPO, env=env, check=True, capture_output=True
  )
  step_a, a = _final_state(straight)
  step_b, b = _final_state(killed)
  assert step_a == step_b == STEPS
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 4
  for x, y in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_array_equal(_numpy(x), _numpy(y))
  assert (straight / "metrics.jsonl").read_text() == (
    killed / "metrics.jsonl"
  ).read_text()
