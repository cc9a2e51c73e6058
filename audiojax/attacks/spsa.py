"""A score-based black-box attack: SPSA (Uesato et al., 2018, "Adversarial risk and
the dangers of evaluating against weak attacks"; Spall, 1992).

:func:`spsa_maximize` ascends any per-example numpy score, so it runs against any
model: an ONNX transcriber (``audiojax.transcription.basic_pitch``), a PyTorch net, a
remote service. The gradient is estimated from ``samples`` pairs of Rademacher
perturbations ``x +- delta v`` per step, all examples and pairs in one batched call;
the iterate moves by ``step_size * steepest(g)`` (a signed step for L-infinity, as
in the paper; normalised for L2) and is projected onto the ball and into [-1, 1].
Deterministic given ``seed``. :func:`spsa` is the classifier attack: it needs only
``scores_fn(x: np.ndarray [B, ...]) -> np.ndarray [B, C]`` (logits or
probabilities) and ascends the margin loss until an example is fooled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ScoresFn = Callable[[np.ndarray], np.ndarray]


def _margin(scores: np.ndarray, y: np.ndarray, targeted: bool) -> np.ndarray:
  """The margin loss to ascend: best other score minus the label's (or reversed)."""
  true = np.take_along_axis(scores, y[:, None], 1)[:, 0]
  others = np.where(np.eye(scores.shape[1], dtype=bool)[y], -np.inf, scores)
  m = others.max(1) - true
  return -m if targeted else m


def _project(x, x_adv, eps, norm):
  delta = x_adv - x
  e = np.asarray(eps, np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
  if norm == "linf":
    delta = np.clip(delta, -e, e)
  elif norm == "l2":
    n = np.sqrt((delta.reshape(len(x), -1) ** 2).sum(1))
    n = n.reshape((-1,) + (1,) * (x.ndim - 1))
    delta = delta * np.minimum(1.0, e / np.maximum(n, 1e-12))
  else:
    raise ValueError(f"unknown attack norm {norm!r}; valid: l2, linf")
  return np.clip(x + delta, -1.0, 1.0)


Objective = Callable[[np.ndarray, np.ndarray], np.ndarray]


def spsa_maximize(
  objective: Objective,
  x: np.ndarray,
  *,
  eps,
  steps: int = 40,
  step_size=None,
  delta: float = 0.01,
  samples: int = 16,
  norm: str = "linf",
  seed: int = 0,
  max_batch: int = 256,
  done: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
  """SPSA ascent of any per-example score, inside the budget and [-1, 1].

  Args:
    objective: ``(batch [B, ...], index [B]) -> [B]`` scores to ascend; row ``b``
      of the batch is a (perturbed) copy of example ``index[b]`` of ``x``, so the
      objective can compare it with that example's own reference (a label, a roll).
    x: waveforms ``[N, ...]`` in [-1, 1] (numpy).
    eps: the budget (scalar or ``[N]``).
    steps: iterations.
    step_size: per step (default ``eps / 4``).
    delta: the finite-difference probe size.
    samples: perturbation pairs per example and step.
    norm: "linf" or "l2".
    seed: the probes' random seed.
    max_batch: the largest batch sent to ``objective``.
    done: ``scores [N] -> bool [N]``, examples whose current score is good enough;
      they stop moving, and the loop ends when all are (None: run every step).

  Returns:
    The last iterate (numpy), in the ball and in [-1, 1].
  """
  x = np.asarray(x, np.float32)
  rng = np.random.default_rng(seed)
  alpha = np.asarray(step_size if step_size is not None else np.asarray(eps) / 4.0)
  alpha = np.broadcast_to(alpha, (len(x),)).reshape((-1,) + (1,) * (x.ndim - 1))

  def scores(batch, index):
    return np.concatenate(
      [
        np.asarray(objective(batch[i : i + max_batch], index[i : i + max_batch]))
        for i in range(0, len(batch), max_batch)
      ]
    )

  everyone = np.arange(len(x))
  probe_index = np.repeat(everyone, 2 * samples)
  x_adv = x.copy()
  for _ in range(steps):
    active = np.ones(len(x), bool)
    if done is not None:
      active = ~np.asarray(done(scores(x_adv, everyone)), bool)
      if not active.any():
        break
    v = rng.choice(np.array([-1.0, 1.0], np.float32), (len(x), samples, *x.shape[1:]))
    probes = np.concatenate(
      [x_adv[:, None] + delta * v, x_adv[:, None] - delta * v], axis=1
    ).reshape(-1, *x.shape[1:])
    loss = scores(np.clip(probes, -1, 1), probe_index).reshape(len(x), 2, samples)
    diff = (loss[:, 0] - loss[:, 1]) / (2 * delta)  # [N, samples]
    g = np.mean(diff.reshape(len(x), samples, *([1] * (x.ndim - 1))) * v, axis=1)
    if norm == "linf":
      direction = np.sign(g)
    else:
      n = np.sqrt((g.reshape(len(x), -1) ** 2).sum(1)).reshape(alpha.shape)
      direction = g / np.maximum(n, 1e-12)
    moved = _project(x, x_adv + alpha * direction, eps, norm)
    x_adv = np.where(active.reshape(alpha.shape), moved, x_adv)
  return x_adv


def spsa(
  scores_fn: ScoresFn,
  x: np.ndarray,
  y: np.ndarray,
  *,
  eps,
  steps: int = 40,
  step_size=None,
  delta: float = 0.01,
  samples: int = 16,
  norm: str = "linf",
  targeted: bool = False,
  seed: int = 0,
  max_batch: int = 256,
) -> np.ndarray:
  """SPSA on the margin loss of ``scores_fn`` (:func:`spsa_maximize` of the margin).

  Args:
    scores_fn: numpy batch -> scores ``[B, C]``.
    x: waveforms ``[N, ...]`` in [-1, 1] (numpy).
    y: labels ``[N]`` (targets when ``targeted``).
    eps: the budget (scalar or ``[N]``).
    steps: iterations.
    step_size: per step (default ``eps / 4``).
    delta: the finite-difference probe size.
    samples: perturbation pairs per example and step.
    norm: "linf" or "l2".
    targeted: move toward ``y``.
    seed: the probes' random seed.
    max_batch: the largest batch sent to ``scores_fn``.

  Returns:
    The adversarial batch (numpy), in the ball and in [-1, 1]; examples already
    fooled (margin > 0) stop moving.
  """
  y = np.asarray(y)
  return spsa_maximize(
    lambda batch, index: _margin(np.asarray(scores_fn(batch)), y[index], targeted),
    x,
    eps=eps,
    steps=steps,
    step_size=step_size,
    delta=delta,
    samples=samples,
    norm=norm,
    seed=seed,
    max_batch=max_batch,
    done=lambda margin: ~(margin <= 0),  # Fooled; a NaN margin keeps moving.
  )
