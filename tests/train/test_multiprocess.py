"""Two processes on loopback (gloo collectives, one CPU device each) run the real
launcher as a two-host slice would: the same losses as one process with two devices,
and a SIGKILL of one process, then a restart of both, ends bit-identical to an
uninterrupted two-process run; a run resumes on another process count."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from audiojax.train.checkpoint import finished_steps
from tests.train.launcher import REPO, classifier_cmd

STEPS = 16

pytestmark = pytest.mark.slow


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _cmd(workdir, data_dir, *extra):
  return classifier_cmd(workdir, data_dir, STEPS, *extra)


def _env(devices=1):
  return dict(
    os.environ,
    JAX_PLATFORMS="cpu",
    XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
  )


def _start_two(workdir, data_dir):
  port = _free_port()
  return [
    subprocess.Popen(
      _cmd(
        workdir,
        data_dir,
        f"--coordinator=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={i}",
      ),
      cwd=REPO,
      env=_env(),
      stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]


def _run_two(workdir, data_dir):
  procs = _start_two(workdir, data_dir)
  for p in procs:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]


def _run_one(workdir, data_dir, devices=2):
  proc = subprocess.run(
    _cmd(workdir, data_dir),
    cwd=REPO,
    env=_env(devices),
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]


def _metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _checkpoint_steps(workdir):
  return finished_steps(os.path.join(workdir, "checkpoints"))


def _final_state(workdir):
  manager = ocp.CheckpointManager(
    os.path.join(workdir, "checkpoints"),
    item_handlers={"state": ocp.StandardCheckpointHandler()},
  )
  step = manager.latest_step()
  # Saved over two devices; read back whole onto this process's one.
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(
    lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
    manager.item_metadata(step)["state"].tree,
  )
  restored = manager.restore(
    step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
  )
  manager.close()
  leaves = [
    np.asarray(jax.random.key_data(x))
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    else np.asarray(x)
    for x in jax.tree.leaves(restored["state"])
  ]
  return step, leaves


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, music_tiny, data_dir):
  workdir = tmp_path_factory.mktemp("two_process")
  _run_two(workdir, data_dir)
  return workdir


def test_two_processes_equal_one_process_with_two_devices(
  two_process_run, tmp_path, data_dir
):
  one = tmp_path / "one"
  _run_one(one, data_dir, devices=2)
  a, b = _metrics(two_process_run), _metrics(one)
  assert [r["step"] for r in a] == [r["step"] for r in b]
  assert len(a) >= STEPS // 2
  for x, y in zip(a, b, strict=True):
    assert x.keys() == y.keys()
    for k in x:
      assert abs(x[k] - y[k]) <= 1e-6 * max(1.0, abs(y[k])), (x["step"], k)
  (step_a, leaves_a), (step_b, leaves_b) = (
    _final_state(two_process_run),
    _final_state(one),
  )
  assert step_a == step_b == STEPS
  for x, y in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
  # Written once: one line per logged step, one results table.
  assert (two_process_run / "results.json").exists()


def test_sigkill_one_process_then_restart_both_is_bit_identical(
  two_process_run, tmp_path, data_dir
):
  killed = tmp_path / "killed"
  procs = _start_two(killed, data_dir)
  kill_at = int(np.random.default_rng().choice([4, 8]))
  deadline = time.time() + 600
  while not [s for s in _checkpoint_steps(killed) if s >= kill_at]:
    assert all(p.poll() is None for p in procs), "a process ended before the kill"
    assert time.time() < deadline, "no checkpoint to kill after"
    time.sleep(0.01)
  procs[1].send_signal(signal.SIGKILL)
  procs[1].wait()
  try:  # The survivor notices its peer is gone, or is killed as a scheduler would.
    procs[0].wait(timeout=5)
  except subprocess.TimeoutExpired:
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
  assert procs[1].returncode == -signal.SIGKILL
  assert max(_checkpoint_steps(killed)) < STEPS, "the run finished before the kill"
  resumed_elsewhere = tmp_path / "resumed_on_one_process"
  shutil.copytree(killed, resumed_elsewhere)

  _run_two(killed, data_dir)
  step_a, a = _final_state(two_process_run)
  step_b, b = _final_state(killed)
  assert step_a == step_b == STEPS
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x, y)
  assert (two_process_run / "metrics.jsonl").read_text() == (
    killed / "metrics.jsonl"
  ).read_text()

  # The same checkpoint, resumed by one process with two devices.
  _run_one(resumed_elsewhere, data_dir, devices=2)
  step_c, c = _final_state(resumed_elsewhere)
  assert step_c == STEPS
  for x, y in zip(a, c, strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


_OVER_SEEDS = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
from audiojax import distributed
if len(sys.argv) > 1:
  distributed.initialize(sys.argv[1], 2, int(sys.argv[2]))
from audiojax.unlearning import many

def fn(key, w):  # a few steps of a least-squares fit from a random start
  x = jax.random.normal(jax.random.fold_in(key, 1), (8, 3))
  p = jax.random.normal(key, (3,))
  for _ in range(3):
    p = p - 0.1 * jax.grad(lambda p: jnp.mean((x @ p - x @ w) ** 2))(p)
  return {"p": p, "loss": jnp.mean((x @ p - x @ w) ** 2)}

keys = jax.random.split(jax.random.key(3), 8)
w = jnp.arange(3.0)
out = {inner: distributed.to_host(many.over_seeds(fn, keys, args=(w,), inner=inner))
       for inner in ("loop", "map")}
print(json.dumps({k: {n: np.asarray(v).tolist() for n, v in o.items()}
                  for k, o in out.items()}))
"""


def test_over_seeds_splits_the_seeds_over_processes():
  def run(*argv, devices=1):
    return subprocess.Popen(
      [sys.executable, "-c", _OVER_SEEDS, *argv],
      cwd=REPO,
      env=_env(devices),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )

  port = _free_port()
  procs = [run(f"127.0.0.1:{port}", str(i)) for i in range(2)]
  procs.append(run(devices=2))
  outs = []
  for p in procs:
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    outs.append(json.loads(out.strip().splitlines()[-1]))
  alone = outs[2]
  assert len(alone["loop"]["p"]) == 8
  np.testing.assert_allclose(alone["map"]["p"], alone["loop"]["p"], rtol=1e-6)
  for got in outs[:2]:  # Every process has all eight seeds' results.
    for inner in ("loop", "map"):
      for name in ("p", "loss"):
        np.testing.assert_allclose(got[inner][name], alone[inner][name], rtol=1e-6)
