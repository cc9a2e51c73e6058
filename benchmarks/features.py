"""Benchmark: audiojax.features log-mel and MFCC against a librosa loop, in one run.

256 one-second 16 kHz clips go through ``power_to_db(melspectrogram(...))`` and
``mfcc(...)`` with the front-end defaults (n_fft 1024, hop 256, 64 mels, 20 MFCCs).
librosa runs as a user would run it, one clip at a time. audiojax runs jitted and warm
on the whole batch, on one device and with the batch split over two host devices (one
per core: the way the training loop's data-parallel mesh runs it; XLA's FFT is
single-threaded, so one device uses one core).

Timings are minima over interleaved repeats, so load from other processes hits both
sides alike. librosa gets the faster of its default BLAS threading and one BLAS thread:
on a busy 2-core machine, OpenBLAS threads can spin against each other and run several
times slower. Errors are against librosa in float64 on the same clips: log-mel as the
largest absolute difference in dB, over all bins and over those within 60 dB of their
clip's peak (float32 FFT rounding grows on bins far below the peak; tests/
test_features.py bounds both), MFCC as the largest absolute difference over the largest
absolute value, per clip.

  .venv/bin/python benchmarks/features.py [--clips=256] [--repeats=15]

Where OPENBLAS_CORETYPE is forced, numpy may run an older kernel; the BLAS line shows
which. To give librosa the native one, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for
this command.
"""

import os
import sys

# Two host devices, one per core; must precede the first import of jax.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
# Run as a script from a checkout: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import time  # noqa: E402

import jax  # noqa: E402
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402
from absl import app, flags  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from audiojax import features  # noqa: E402
from benchmarks.clips import mixed_clips  # noqa: E402

_CLIPS = flags.DEFINE_integer("clips", 256, "Number of one-second clips.")
_REPEATS = flags.DEFINE_integer("repeats", 15, "Timed repeats; the minimum is kept.")

SR = 16000
MEL = dict(sr=SR, n_fft=1024, hop_length=256, n_mels=64)
TASKS = {
  "log-mel": (
    lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, **MEL)),
    lambda y: features.power_to_db(features.melspectrogram(y=y, **MEL)),
  ),
  "MFCC": (
    lambda y: librosa.feature.mfcc(y=y, n_mfcc=20, **MEL),
    lambda y: features.mfcc(y=y, n_mfcc=20, **MEL),
  ),
}


def _loop(fn, clips: np.ndarray, blas_threads: int | None):
  """librosa as a user runs it: clip by clip."""

  def run():
    with threadpoolctl.threadpool_limits(blas_threads):
      return [fn(c) for c in clips]

  return run


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def _error(name: str, ours: np.ndarray, ref: np.ndarray) -> str:
  diff = np.abs(ours - ref)
  if name == "log-mel":
    near = ref > ref.max(axis=(1, 2), keepdims=True) - 60
    return f"{diff.max():.1e} dB ({diff[near].max():.1e} within 60 dB of the peak)"
  return f"{(diff.max((1, 2)) / np.abs(ref).max((1, 2))).max():.1e} rel"


def main(argv):
  del argv
  if _CLIPS.value < 2 or _CLIPS.value % 2:
    raise app.UsageError(f"--clips must be even (split over 2 devices): {_CLIPS.value}")
  clips = mixed_clips(_CLIPS.value, SR).astype(np.float32)
  blas = {
    f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}"
    for i in threadpoolctl.threadpool_info()
    if i["user_api"] == "blas"
  }
  print(
    f"jax {jax.__version__} ({len(jax.devices())} host devices), librosa "
    f"{librosa.__version__}, BLAS {', '.join(sorted(blas))}, "
    f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
    f"load average {os.getloadavg()[0]:.1f}; {len(clips)} clips of {SR} samples"
  )
  inputs = {"audiojax, 1 device": jax.device_put(clips, jax.devices()[0])}
  if len(jax.devices()) >= 2:
    mesh = jax.make_mesh(
      (2,), ("data",), (jax.sharding.AxisType.Auto,), devices=jax.devices()[:2]
    )
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    inputs["audiojax, 2 devices"] = jax.device_put(clips, sharding)

  rows = []
  for name, (lib_fn, jax_fn) in TASKS.items():
    ref = np.stack([lib_fn(c.astype(np.float64)) for c in clips])
    jitted = jax.jit(jax_fn)
    runs = {
      "librosa, default BLAS threads": _loop(lib_fn, clips, None),
      "librosa, 1 BLAS thread": _loop(lib_fn, clips, 1),
    }
    runs |= {
      k: (lambda x=x, f=jitted: f(x).block_until_ready()) for k, x in inputs.items()
    }
    errors = {k: _error(name, np.asarray(jitted(x)), ref) for k, x in inputs.items()}
    for run in runs.values():
      run()  # Compile and warm caches and BLAS threads.
    times = {k: [] for k in runs}
    for _ in range(_REPEATS.value):
      for k, run in runs.items():
        times[k].append(_timed(run))
    best = {k: min(v) for k, v in times.items()}
    lib = min((k for k in best if k.startswith("librosa")), key=best.get)
    for k in inputs:
      rows.append((name, k, lib, best[lib], best[k], errors[k]))

  print()
  print("| feature | run | librosa (faster setting) | librosa ms | audiojax ms "
        "| speed-up | max error vs librosa float64 |")  # fmt: skip
  print("|---|---|---|---|---|---|---|")
  for name, k, lib, lib_t, ours_t, err in rows:
    print(f"| {name} | {k} | {lib} | {1e3 * lib_t:.1f} | {1e3 * ours_t:.1f} | "
          f"{lib_t / ours_t:.1f}x | {err} |")  # fmt: skip


if __name__ == "__main__":
  app.run(main)
