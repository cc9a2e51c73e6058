"""SCRUB and SCRUB+R (Kurmanji et al., 2023, "Towards unbounded machine unlearning",
NeurIPS; https://github.com/meghdadk/SCRUB).

SCRUB is a teacher-student method: the student starts as the original model (the
frozen teacher) and alternates *max* epochs, which push it away from the teacher on
the forget set (ascending ``KL(teacher || student)``), with *min* epochs, which keep
it close to the teacher on the retain set (``α KL + γ CE``). The max epochs stop
after ``max_epochs``; the min epochs continue to ``epochs``. Defaults are the
authors' (temperature T = 4, α = 0.001, γ = 0.99, 2 max epochs, lr 5e-4). One
optimizer state is carried through every phase, as their single optimizer is.

SCRUB+R adds rewinding against membership inference: a model that forgot too well
has a forget-set error above what a model that never saw the data would have, which
an attacker can see. SCRUB+R keeps the student after every epoch and returns the one
whose forget error is closest to the original model's error on held-out
``validation`` data (the authors' reference point).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from audiojax.unlearning import fit
from audiojax.unlearning.base import method


def distill_kl(student_logits, teacher_logits, temperature: float) -> jax.Array:
  """``KL(softmax(t/T) || softmax(s/T)) · T²`` per example (Hinton et al., 2015;
  the ``DistillKL`` of SCRUB's code)."""
  log_s = jax.nn.log_softmax(student_logits / temperature, axis=-1)
  log_t = jax.nn.log_softmax(teacher_logits / temperature, axis=-1)
  kl = jnp.sum(jnp.exp(log_t) * (log_t - log_s), axis=-1)
  return kl * temperature**2


def _error(apply_fn, params, data, batch_size) -> jax.Array:
  """Top-1 error of ``params`` on all of ``data`` (eval mode)."""

  def wrong(block, valid, p):
    miss = jnp.argmax(apply_fn(p, block["audio"]), -1) != block["label"]
    return jnp.sum(miss * valid), jnp.sum(valid)

  misses, counts = fit.over_batches(wrong, data, batch_size, params)
  return misses.sum() / counts.sum()


def _with_teacher(apply_fn, batch_size):
  """Batches of one set (``data[0]``) with the frozen teacher's (``data[1]``)
  logits, so the teacher's params are an argument of the step, not a constant."""

  def batch_fn(k, data):
    batch = fit.draw(data[0], k, batch_size)
    teacher = apply_fn(data[1], batch["audio"])
    return {**batch, "teacher": jax.lax.stop_gradient(teacher)}

  return batch_fn


def _scrub(params, apply_fn, retain, forget, key, cfg, validation=None):
  T, alpha, gamma = cfg["temperature"], cfg["alpha"], cfg["gamma"]

  def max_loss(p, batch, k):
    s = apply_fn(p, batch["audio"], train=True, rngs={"dropout": k})
    return -jnp.mean(distill_kl(s, batch["teacher"], T)), {}

  def min_loss(p, batch, k):
    s = apply_fn(p, batch["audio"], train=True, rngs={"dropout": k})
    ce = optax.softmax_cross_entropy_with_integer_labels(s, batch["label"])
    return jnp.mean(alpha * distill_kl(s, batch["teacher"], T) + gamma * ce), {}

  tx = fit.optimizer(cfg["optimizer"], cfg["lr"])
  state = tx.init(params)
  bs = cfg["batch_size"]
  batch_fn = _with_teacher(apply_fn, bs)
  forget_steps = cfg["forget_steps"] or -(-fit.num_examples(forget) // bs)
  student, kept = params, []
  for epoch in range(cfg["epochs"]):
    k_max, k_min = jax.random.split(jax.random.fold_in(key, epoch))
    if epoch < cfg["max_epochs"]:
      student, state, _ = fit.run(
        student,
        state,
        max_loss,
        batch_fn,
        k_max,
        steps=forget_steps,
        tx=tx,
        data=(forget, params),
      )
    student, state, _ = fit.run(
      student,
      state,
      min_loss,
      batch_fn,
      k_min,
      steps=cfg["retain_steps"],
      tx=tx,
      data=(retain, params),
    )
    kept.append(student)
  if validation is None:
    return student
  target = _error(apply_fn, params, validation, bs)
  errors = jnp.stack([_error(apply_fn, p, forget, bs) for p in kept])
  best = jnp.argmin(jnp.abs(errors - target))
  return jax.tree.map(lambda *xs: jnp.stack(xs)[best], *kept)


SCRUB_DEFAULTS = dict(
  epochs=3,
  max_epochs=2,
  retain_steps=20,
  forget_steps=0,  # 0: one pass over the forget set per max epoch
  batch_size=64,
  optimizer="adam",
  lr=5e-4,
  temperature=4.0,
  alpha=0.001,
  gamma=0.99,
)


@method("scrub", **SCRUB_DEFAULTS)
def scrub(params, apply_fn, retain, forget, key, *, task, **cfg):
  """SCRUB: max epochs on the forget set, min epochs on the retain set (a
  classifier's logits: the teacher-student KL has no generator counterpart here)."""
  del task
  return _scrub(params, apply_fn, retain, forget, key, cfg)


@method("scrub_r", required=("validation",), **SCRUB_DEFAULTS)
def scrub_r(params, apply_fn, retain, forget, key, *, task, validation, **cfg):
  """SCRUB+R: SCRUB rewound to the epoch whose forget error is closest to the
  original model's error on ``validation`` (``{"audio", "label"}``, data neither
  trained on nor forgotten)."""
  del task
  validation = fit.check_set("validation", validation)
  return _scrub(params, apply_fn, retain, forget, key, cfg, validation)
