"""Benchmark: protecting the embedded music set with PosCUDA (and CUDA), audiojax
against a straightforward per-clip numpy/scipy implementation, in one run.

The clips are the training split of the music set's ``small`` config (built on first
use). audiojax runs as a data owner runs it: ``ProtectionKey.protect`` over the whole
set (jitted batches of 64, warm: the one-off compile is reported on its own). The
peer is what one would write with scipy: for each clip, its class's filter
(``scipy.signal.convolve(..., mode="same")``) over the clip and the blurred samples
pasted into its class's patches, with the filters and patch positions taken from the
same key (so both sides compute the same transform; the largest difference is
printed). Timings are minima over interleaved repeats.

  .venv/bin/python benchmarks/unlearnable.py [--repeats=3] [--json=PATH]
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
from absl import app, flags  # noqa: E402

from audiojax import data  # noqa: E402
from audiojax.robustness.models import first_examples  # noqa: E402
from audiojax.unlearnable import blur as blur_lib  # noqa: E402
from audiojax.unlearnable import keys  # noqa: E402
from audiojax.unlearnable.poscuda import class_slots  # noqa: E402

_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats; the minimum is kept.")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers here.")

KNOBS = {
  "poscuda": dict(patch_samples=1600, num_patches=4, kernel_size=9, blur=0.3),
  "cuda": dict(kernel_size=9, blur=0.3),
}


def peer(method, key, audio, labels):
  """Per clip with numpy/scipy, from the same per-class filters and positions."""
  k = jax.random.fold_in(key.key, keys.PERTURB_STREAM)
  knobs = KNOBS[method]
  classes = np.unique(labels)
  taps = {
    int(c): np.asarray(
      blur_lib.class_filter(k, c, kernel_size=knobs["kernel_size"], blur=knobs["blur"])
    )
    for c in classes
  }
  slots = {}
  if method == "poscuda":
    n = audio.shape[1] // knobs["patch_samples"]
    slots = {
      int(c): np.asarray(
        class_slots(k, c, num_slots=n, num_patches=knobs["num_patches"])
      )
      for c in classes
    }
  out = np.empty_like(audio)
  for i, (x, c) in enumerate(zip(audio, labels, strict=True)):
    blurred = scipy.signal.convolve(x, taps[int(c)], mode="same")
    if method == "cuda":
      out[i] = np.clip(blurred, -1, 1)
      continue
    y = x.copy()
    p = knobs["patch_samples"]
    for s in slots[int(c)]:
      y[s * p : (s + 1) * p] = blurred[s * p : (s + 1) * p]
    out[i] = np.clip(y, -1, 1)
  return out


def main(argv):
  del argv
  split = data.load("audiojax_music", "train", config="small")
  x, y = first_examples(split, len(split), 64)
  audio, labels = np.asarray(x), np.asarray(y)
  n = len(audio)
  print(f"{n} clips of {audio.shape[1] / split.sample_rate:g} s, {jax.devices()}")
  out = {"clips": n, "seconds_per_clip": audio.shape[1] / split.sample_rate}
  for method, knobs in KNOBS.items():
    key = keys.ProtectionKey.generate(method, 0, **knobs)
    t = time.perf_counter()
    ours, _ = key.protect(audio, labels)
    first = time.perf_counter() - t
    times = {"audiojax": [], "numpy/scipy": []}
    for _ in range(_REPEATS.value):
      t = time.perf_counter()
      key.protect(audio, labels)
      times["audiojax"].append(time.perf_counter() - t)
      t = time.perf_counter()
      theirs = peer(method, key, audio, labels)
      times["numpy/scipy"].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    diff = float(np.max(np.abs(ours - theirs)))
    ratio = best["numpy/scipy"] / best["audiojax"]
    print(
      f"{method}: audiojax {n / best['audiojax']:.0f} clips/s "
      f"(first call with compile {first:.2f} s), numpy/scipy "
      f"{n / best['numpy/scipy']:.0f} clips/s: {ratio:.2f}x; max |diff| {diff:.2e}"
    )
    out[method] = {
      "audiojax_clips_per_s": n / best["audiojax"],
      "peer_clips_per_s": n / best["numpy/scipy"],
      "speedup": ratio,
      "first_call_s": first,
      "max_abs_diff": diff,
    }
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(out, f, indent=2)


if __name__ == "__main__":
  app.run(main)
