"""Benchmark: PGD-10 L-infinity in audiojax against torchattacks on PyTorch, in one run.

Both sides attack the same classifier with the same weights: the ``mel`` front end
(log-mel, n_fft 1024, hop 256, 64 mels, dB / 40) and ``mel_cnn`` with 10 classes, on
64 one-second 16 kHz clips in [-1, 1]. The torch peer is written here: ``torch.stft``
(periodic Hann, centred frames, zero padding), librosa's own mel filter bank, the dB
floor at 1e-10, then the same conv / GroupNorm / ReLU / 2x2 max-pool blocks, global
average pool and linear head, with our flax params copied in. Before any timing the
two models' logits and input gradients are compared on the batch.

The attack is PGD (Madry et al., 2018) from a random start: eps 0.002 on [-1, 1],
step eps / 4, 10 steps, cross-entropy. torchattacks clamps to [0, 1], so it attacks
``model(2 * x01 - 1)`` on ``(x + 1) / 2`` with eps and step halved, as a user of it
would; the mean cross-entropy it ascends has the same gradient sign as our sum.
audiojax runs ``audiojax.attacks.pgd`` jitted on one device, with the step loop
rolled (``unroll=1``) and fully unrolled (``unroll=10``); the headline is the faster.

Both use the same 2 cores: the process is pinned to them before either library
loads (XLA sizes its thread pool from the affinity) and torch gets 2 threads. Trace
and compile (XLA) and the first call (XLA's first run of the compiled program;
torch's warm-up: allocator and oneDNN set-up) are timed apart, outside the medians.
The timings are medians over repeats that interleave the runs, so a burst of load
from other processes hits all of them; steady load does not hit them alike (beside a
training run torch's 2 OpenMP threads ran twice as slow as 1), so time on a quiet
machine: the first line prints the load average.

  .venv/bin/python benchmarks/attacks.py [--repeats=7] [--json=PATH]

Needs the bench requirements: ``AUDIOJAX_BENCH=1 ./launch/setup.sh``.
"""

import os
import sys

# Two cores for both libraries; must precede the first import of jax and torch.
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
# Run as a script from a checkout: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import functools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchattacks  # noqa: E402
from absl import app, flags  # noqa: E402

from audiojax import attacks  # noqa: E402
from audiojax.attacks.losses import LOSSES  # noqa: E402
from audiojax.frontends import DB_SCALE, FRONTENDS  # noqa: E402
from audiojax.models import MODELS  # noqa: E402
from audiojax.models.classifier import WaveformClassifier  # noqa: E402
from benchmarks.clips import mixed_clips  # noqa: E402

_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed repeats; the median is kept.")
_BATCH = flags.DEFINE_integer("batch", 64, "Clips per batch.")
_JSON = flags.DEFINE_string("json", None, "Write the results as JSON to this path.")

SR = 16000
N_FFT, HOP, N_MELS = 1024, 256, 64
NUM_CLASSES = 10
CHANNELS = (32, 64, 128, 256)
NORM_GROUPS = 8
EPS = 0.002  # L-infinity radius on [-1, 1]
ALPHA = EPS / 4
STEPS = 10
UNROLLS = (1, 10)
PARITY_TOL = 1e-3


def _flax_params(model: WaveformClassifier, x: np.ndarray) -> dict:
  """Random params, with GroupNorm scales and biases and the head bias moved off
  their 1 / 0 initial values so the parity check also tests how they are copied."""
  params = model.init(jax.random.key(0), jnp.asarray(x[:1]))
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  out = []
  for (path, leaf), key in zip(leaves, keys, strict=True):
    name = jax.tree_util.keystr(path)
    if "norm" in name or ("head" in name and "bias" in name):
      leaf = leaf + 0.1 * jax.random.normal(key, leaf.shape, leaf.dtype)
    out.append(leaf)
  return jax.tree_util.tree_unflatten(treedef, out)


class TorchLogMel(torch.nn.Module):
  """audiojax's ``mel`` front end in torch: ``[batch, samples] -> [batch, frames,
  n_mels]``, ``10 log10(max(1e-10, mel power)) / 40``."""

  def __init__(self):
    super().__init__()
    # librosa's get_window("hann", fftbins=True), which audiojax uses, is periodic.
    self.register_buffer("window", torch.hann_window(N_FFT, periodic=True))
    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)  # [mels, bins]
    self.register_buffer("mel", torch.from_numpy(mel))

  def forward(self, waveform):
    spec = torch.stft(
      waveform,
      N_FFT,
      hop_length=HOP,
      window=self.window,
      center=True,
      pad_mode="constant",
      return_complex=True,
    )  # [batch, bins, frames]
    # |X|^2 as real^2 + imag^2, as audiojax: finite gradient where X == 0.
    power = spec.real.square() + spec.imag.square()
    mel = torch.matmul(self.mel, power)
    db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))  # ref = 1 adds nothing.
    return (db / DB_SCALE).transpose(1, 2)


class TorchMelCNN(torch.nn.Module):
  """``audiojax.models.cnn.MelCNN`` (one conv per block) in torch, NCHW with H the
  frames and W the mels, the axes of the flax NHWC layout."""

  def __init__(self):
    super().__init__()
    blocks, c_in = [], 1
    for c in CHANNELS:
      blocks += [
        torch.nn.Conv2d(c_in, c, 3, padding=1, bias=False),
        # flax's GroupNorm epsilon (torch's default is 1e-5).
        torch.nn.GroupNorm(math.gcd(NORM_GROUPS, c), c, eps=1e-6),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),  # Floors odd sizes, as audiojax's max_pool crops.
      ]
      c_in = c
    self.blocks = torch.nn.Sequential(*blocks)
    self.head = torch.nn.Linear(c_in, NUM_CLASSES)

  def forward(self, x):
    h = self.blocks(x[:, None])
    return self.head(h.mean(dim=(2, 3)))

  @torch.no_grad()
  def load_flax(self, params: dict) -> None:
    """Copies ``params["params"]["backbone"]`` of a ``mel_cnn`` in."""
    p = jax.tree_util.tree_map(np.array, params["params"]["backbone"])  # Copies.
    modules = list(self.blocks)
    for i in range(len(CHANNELS)):
      conv, norm = modules[4 * i], modules[4 * i + 1]
      kernel = p[f"block{i}_conv0"]["kernel"]  # [kh, kw, in, out]
      conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
      norm.weight.copy_(torch.from_numpy(p[f"block{i}_norm0"]["scale"]))
      norm.bias.copy_(torch.from_numpy(p[f"block{i}_norm0"]["bias"]))
    self.head.weight.copy_(torch.from_numpy(p["head"]["kernel"].T.copy()))
    self.head.bias.copy_(torch.from_numpy(p["head"]["bias"]))


class ZeroOne(torch.nn.Module):
  """The [-1, 1] model seen from [0, 1], the range torchattacks clamps to."""

  def __init__(self, model):
    super().__init__()
    self.model = model

  def forward(self, x01):
    return self.model(2 * x01 - 1)


def _torch_peer(params: dict, dtype: torch.dtype) -> torch.nn.Module:
  model = torch.nn.Sequential(TorchLogMel(), TorchMelCNN()).eval()
  model[1].load_flax(params)
  return model.to(dtype)


def _torch_logits_grad(model, x: np.ndarray, y: np.ndarray, dtype: torch.dtype):
  xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
  logits = model(xt)
  ce = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="sum")
  (grad,) = torch.autograd.grad(ce, xt)
  return logits.detach().double().numpy(), grad.double().numpy()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def _parity(model, params, x: np.ndarray, y: np.ndarray) -> dict:
  """Logits and input gradients of the summed CE: audiojax, torch and torch float64.

  The gradients of tone and chirp clips are limited by float32 itself: their
  spectra reach far below the peak, where d log(P) / dP = 1 / P magnifies the
  FFT's rounding. Both float32 implementations are compared to a float64 run.
  """

  def loss(v):
    return jnp.sum(LOSSES.get("ce")(model.apply(params, v), y))

  fn = jax.jit(lambda v: (model.apply(params, v), jax.grad(loss)(v)))
  logits, grad = (np.asarray(a, np.float64) for a in fn(jnp.asarray(x)))
  logits_t, grad_t = _torch_logits_grad(
    _torch_peer(params, torch.float32), x, y, torch.float32
  )
  logits_64, grad_64 = _torch_logits_grad(
    _torch_peer(params, torch.float64), x, y, torch.float64
  )
  noise = np.arange(len(x)) % 3 == 0  # _clips' kinds: noise, tone, chirp.
  cos = {
    "audiojax_vs_torch": _cosines(grad, grad_t),
    "audiojax_vs_float64": _cosines(grad, grad_64),
    "torch_vs_float64": _cosines(grad_t, grad_64),
  }
  return {
    "logits_max_abs_diff": float(np.abs(logits - logits_t).max()),
    "logits_max_abs_diff_float64": {
      "audiojax": float(np.abs(logits - logits_64).max()),
      "torch": float(np.abs(logits_t - logits_64).max()),
    },
    "logits_max_abs": float(np.abs(logits).max()),
    "grad_cosine_noise_min": {k: float(v[noise].min()) for k, v in cos.items()},
    "grad_cosine_tonal_mean": {k: float(v[~noise].mean()) for k, v in cos.items()},
  }


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def main(argv):
  del argv
  torch.set_num_threads(2)
  load_before = os.getloadavg()[0]
  x_np = mixed_clips(_BATCH.value, SR)
  y_np = np.random.default_rng(1).integers(0, NUM_CLASSES, len(x_np))
  print(
    f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__} "
    f"({torch.get_num_threads()} threads), torchattacks {torchattacks.__version__}; "
    f"cores {sorted(os.sched_getaffinity(0))}, load average "
    f"{load_before:.2f}; x [{len(x_np)}, {SR}], PGD-{STEPS} L-inf eps {EPS} "
    f"step {ALPHA} (torchattacks on [0, 1]: {EPS / 2}, {ALPHA / 2})"
  )

  model = WaveformClassifier(
    frontend=FRONTENDS.get("mel")(SR),
    backbone=MODELS.get("mel_cnn")(num_classes=NUM_CLASSES),
  )
  params = _flax_params(model, x_np)
  x, y = jnp.asarray(x_np), jnp.asarray(y_np)
  parity = _parity(model, params, x_np, y_np)
  diff64 = parity["logits_max_abs_diff_float64"]
  print(
    f"parity: max |logits_audiojax - logits_torch| = "
    f"{parity['logits_max_abs_diff']:.2e} (logits up to "
    f"{parity['logits_max_abs']:.2f}; vs torch float64: audiojax "
    f"{diff64['audiojax']:.2e}, torch {diff64['torch']:.2e})"
  )
  noise, tonal = parity["grad_cosine_noise_min"], parity["grad_cosine_tonal_mean"]
  print(
    "input-gradient cosine, noise clips (min) / tone and chirp clips (mean): "
    + "; ".join(f"{k} {noise[k]:.6f} / {tonal[k]:.3f}" for k in noise)
  )
  if not parity["logits_max_abs_diff"] < PARITY_TOL:
    raise SystemExit(f"the two models differ by more than {PARITY_TOL}; not timing")
  torch_model = _torch_peer(params, torch.float32)

  # torchattacks, as its users run it.
  atk = torchattacks.PGD(
    ZeroOne(torch_model), eps=EPS / 2, alpha=ALPHA / 2, steps=STEPS, random_start=True
  )
  x01, yt = torch.from_numpy((x_np + 1) / 2), torch.from_numpy(y_np)
  torch.manual_seed(0)
  runs = {"torchattacks": lambda: atk(x01, yt)}
  first = {"torchattacks": _timed(runs["torchattacks"])}
  outputs = {"torchattacks": lambda: 2 * atk(x01, yt).numpy() - 1}

  # audiojax: params are an argument (not constants baked into the program), as in
  # an evaluator; the configuration is static.
  @functools.partial(jax.jit, static_argnames="unroll")
  def attack(params, x, y, key, unroll):
    return attacks.pgd(
      lambda v: model.apply(params, v),
      x,
      y,
      key,
      eps=EPS,
      step_size=ALPHA,
      steps=STEPS,
      norm="linf",
      random_start=True,
      loss="ce",
      unroll=unroll,
    )

  trace_s, compile_s = {}, {}
  key = jax.random.key(2)
  for unroll in UNROLLS:
    name = f"audiojax unroll={unroll}"
    start = time.perf_counter()
    lowered = attack.lower(params, x, y, key, unroll=unroll)
    trace_s[name] = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s[name] = time.perf_counter() - start
    runs[name] = lambda c=compiled: c(params, x, y, key).block_until_ready()
    first[name] = _timed(runs[name])
    outputs[name] = lambda c=compiled: np.asarray(c(params, x, y, key))

  times = {k: [] for k in runs}
  for _ in range(_REPEATS.value):
    for k, run in runs.items():
      times[k].append(_timed(run))
  median = {k: statistics.median(v) for k, v in times.items()}
  load_after = os.getloadavg()[0]

  # Each attack's output: inside the budget, and how far it raised the loss.
  ce = jax.jit(lambda v: jnp.mean(LOSSES.get("ce")(model.apply(params, v), y)))
  clean_loss = float(ce(x))
  effect = {}
  for k, out in outputs.items():
    adv = out()
    effect[k] = (float(np.abs(adv - x_np).max()), float(ce(jnp.asarray(adv))))

  torch_s = median["torchattacks"]
  ours = [f"audiojax unroll={u}" for u in UNROLLS]
  best = min(ours, key=median.get)
  print()
  print("| run | median s | min s | max s | trace + compile s | first call s "
        "| speed vs torchattacks | max abs(delta) | CE clean -> adv |")  # fmt: skip
  print("|---|---|---|---|---|---|---|---|---|")
  for k in runs:
    warm = f"{trace_s[k]:.2f} + {compile_s[k]:.2f}" if k in trace_s else "-"
    print(
      f"| {k}{' (headline)' if k == best else ''} | {median[k]:.3f} | "
      f"{min(times[k]):.3f} | {max(times[k]):.3f} | {warm} | {first[k]:.2f} | "
      f"{torch_s / median[k]:.2f}x | {effect[k][0]:.2e} | "
      f"{clean_loss:.3f} -> {effect[k][1]:.3f} |"
    )
  print()
  print(
    f"ratio (audiojax speed / torchattacks speed, >1: audiojax faster) = "
    f"{torch_s / median[best]:.2f} with {best.split()[1]}; medians of "
    f"{_REPEATS.value} repeats; load average after timing {load_after:.2f}"
  )

  if _JSON.value:
    result = {
      "audiojax_s": median[best],
      "torchattacks_s": torch_s,
      "ratio": torch_s / median[best],
      "audiojax_unroll": int(best.split("=")[1]),
      **{f"audiojax_unroll{u}_s": median[f"audiojax unroll={u}"] for u in UNROLLS},
      **{f"ratio_unroll{u}": torch_s / median[f"audiojax unroll={u}"] for u in UNROLLS},
      "trace_s": trace_s,
      "compile_s": compile_s,
      "first_call_s": first,
      "times_s": times,
      "repeats": _REPEATS.value,
      **parity,
      "max_abs_delta": {k: v[0] for k, v in effect.items()},
      "ce_clean": clean_loss,
      "ce_adversarial": {k: v[1] for k, v in effect.items()},
      "batch": len(x_np),
      "samples": SR,
      "eps": EPS,
      "step_size": ALPHA,
      "steps": STEPS,
      "threads": torch.get_num_threads(),
      "cores": sorted(os.sched_getaffinity(0)),
      "load_average_before": load_before,
      "load_average_after": load_after,
      "versions": {
        "jax": jax.__version__,
        "torch": torch.__version__,
        "torchattacks": torchattacks.__version__,
      },
    }
    with open(_JSON.value, "w") as f:
      json.dump(result, f, indent=2)
    print(f"wrote {_JSON.value}")


if __name__ == "__main__":
  app.run(main)
