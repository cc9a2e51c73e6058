"""Every unlearning method through the one ``unlearn`` API, on a tiny 1-D ResNet.

Parametrised over ``METHODS``: each returns params of the same structure that differ
from the original and keep retain accuracy; then each method's own promise is
checked exactly (retrain ignores the original and the forget set, gradient ascent
raises the forget loss, SSD touches only the weights it selects, SalUn's mask has
its sparsity, ...).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax import frontends, unlearning
from audiojax.models import MODELS
from audiojax.models.classifier import WaveformClassifier
from audiojax.train import losses
from audiojax.unlearning import fit, methods, scrub, ssd, tasks

SAMPLES, CLASSES = 64, 3
FAST = dict(steps=8, batch_size=16)
# Few steps per method: enough to move the weights, small enough to compile fast.
OPTIONS = {
  "retrain": dict(steps=60, batch_size=16, lr=1e-2),
  "finetune": FAST,
  "neggrad": dict(steps=10, batch_size=16, lr=0.1),
  "neggrad_plus": FAST,
  "random_labels": FAST,
  "l1_sparse": FAST,
  "salun": FAST,
  "scrub": dict(epochs=2, max_epochs=1, retain_steps=4, batch_size=16),
  "scrub_r": dict(epochs=2, max_epochs=1, retain_steps=4, batch_size=16),
  "ssd": dict(batch_size=16, alpha=2.0),  # the 8 forget clips are typical ones
}


def _data(n, seed):
  rng = np.random.default_rng(seed)
  label = rng.integers(0, CLASSES, n)
  t = np.arange(SAMPLES)
  x = 0.5 * np.sin(
    2 * np.pi * (label[:, None] + 1) * t / 16 + rng.uniform(0, 6, (n, 1))
  )
  x = x + 0.2 * rng.normal(size=(n, SAMPLES))
  return {"audio": x.astype(np.float32), "label": label.astype(np.int32)}


@pytest.fixture(scope="module")
def setup():
  model = WaveformClassifier(
    frontend=frontends.FRONTENDS.get("raw")(sample_rate=250),
    backbone=MODELS.get("resnet1d_18_tiny")(num_classes=CLASSES),
  )
  retain, forget, held_out = _data(48, 0), _data(8, 1), _data(16, 2)
  init_fn = jax.jit(lambda k: model.init(k, jnp.zeros((1, SAMPLES))))
  both = {k: np.concatenate([retain[k], forget[k]]) for k in retain}
  params, _ = fit.descend(
    init_fn(jax.random.key(0)),
    losses.classification_loss(model.apply),
    lambda k, d: fit.draw(d, k, 16),
    jax.random.key(1),
    steps=80,
    tx=optax.adam(1e-2),
    data=jax.tree.map(jnp.asarray, both),
  )
  return model, params, retain, forget, held_out, init_fn


@functools.cache
def _run(name, **changes):
  """The method's output on the module's setup (cached: one compile per method)."""
  model, params, retain, forget, held_out, init_fn = _SETUP
  cfg = dict(OPTIONS[name])
  if name == "retrain":
    cfg["init_fn"] = init_fn
  if name == "scrub_r":
    cfg["validation"] = held_out
  cfg.update(changes)
  return unlearning.unlearn(
    name, params, model.apply, retain, forget, jax.random.key(5), **cfg
  )


_SETUP = None


@pytest.fixture(autouse=True)
def _share(setup):
  global _SETUP
  _SETUP = setup


def _accuracy(model, params, data):
  return float(
    jnp.mean(jnp.argmax(model.apply(params, data["audio"]), -1) == data["label"])
  )


def _loss(model, params, data):
  logits = model.apply(params, data["audio"])
  return float(
    optax.softmax_cross_entropy_with_integer_labels(logits, data["label"]).mean()
  )


def test_the_original_model_learned_the_task(setup):
  model, params, retain, forget, held_out, _ = setup
  assert _accuracy(model, params, retain) >= 0.9
  assert _accuracy(model, params, forget) >= 0.85


def test_every_method_has_options_here():
  assert sorted(OPTIONS) == unlearning.methods_for("classification")


@pytest.mark.parametrize("name", unlearning.methods_for("classification"))
def test_method_changes_params_and_keeps_the_task(name, setup):
  model, params, retain, *_ = setup
  out = _run(name)
  assert jax.tree.structure(out) == jax.tree.structure(params)
  leaves = jax.tree.leaves(out)
  assert all(np.isfinite(np.asarray(x)).all() for x in leaves)
  changed = sum(
    int(np.sum(np.asarray(a) != np.asarray(b)))
    for a, b in zip(leaves, jax.tree.leaves(params), strict=True)
  )
  assert changed > 0
  floor = 0.5 if name == "neggrad" else 0.7  # chance is 1/3
  assert _accuracy(model, out, retain) >= floor, name


def test_retrain_ignores_the_original_params_and_the_forget_set(setup):
  model, params, retain, forget, _, init_fn = setup
  out = _run("retrain")
  k_init, k_run = jax.random.split(jax.random.key(5))
  want, _ = fit.descend(
    init_fn(k_init),
    losses.classification_loss(model.apply),
    lambda k, d: fit.draw(d, k, 16),
    k_run,
    steps=60,
    tx=optax.adam(1e-2),
    data=jax.tree.map(jnp.asarray, retain),
  )
  for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(want), strict=True):
    np.testing.assert_array_equal(a, b)
  other_forget = {"audio": -forget["audio"], "label": (forget["label"] + 1) % CLASSES}
  zeros = jax.tree.map(jnp.zeros_like, params)
  again = unlearning.unlearn(
    "retrain",
    zeros,
    model.apply,
    retain,
    other_forget,
    jax.random.key(5),
    init_fn=init_fn,
    **OPTIONS["retrain"],
  )
  for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(again), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-6)
  assert _accuracy(model, out, retain) >= 0.9


def test_gradient_ascent_raises_the_forget_loss(setup):
  model, params, _, forget, *_ = setup
  before = _loss(model, params, forget)
  assert _loss(model, _run("neggrad"), forget) > 3 * before
  # With the forget term weighted up, NegGrad+ ascends too (beta=0.95 keeps
  # typical forget clips, as the retain term pulls them back).
  assert _loss(model, _run("neggrad_plus", beta=0.2, lr=0.1), forget) > 3 * before


def test_a_traced_run_is_the_host_loop_as_one_scan(setup):
  # jit traces unlearn: fit.run becomes a lax.scan; same numbers as the host loop.
  model, params, retain, forget, *_ = setup
  traced = jax.jit(
    lambda p, r, f: unlearning.unlearn(
      "neggrad_plus", p, model.apply, r, f, jax.random.key(5), **FAST
    )
  )(params, retain, forget)
  for a, b in zip(
    jax.tree.leaves(traced), jax.tree.leaves(_run("neggrad_plus")), strict=True
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_finetune_never_reads_the_forget_set(setup):
  model, params, retain, forget, *_ = setup
  other = {"audio": forget["audio"][::-1] * 0.0, "label": forget["label"] * 0}
  again = unlearning.unlearn(
    "finetune", params, model.apply, retain, other, jax.random.key(5), **FAST
  )
  for a, b in zip(
    jax.tree.leaves(_run("finetune")), jax.tree.leaves(again), strict=True
  ):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_l1_sparse_is_finetune_plus_a_shrinking_penalty(setup):
  zero = _run("l1_sparse", gamma=0.0)
  for a, b in zip(
    jax.tree.leaves(zero), jax.tree.leaves(_run("finetune")), strict=True
  ):
    np.testing.assert_array_equal(a, b)
  l1 = lambda p: sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(p))  # noqa: E731
  assert l1(_run("l1_sparse", gamma=0.05)) < l1(_run("finetune"))


def test_random_labels_are_always_wrong():
  labels = jnp.arange(1000) % 7
  wrong = tasks.random_other_labels(labels, jax.random.key(0), 7)
  assert not np.any(np.asarray(wrong) == np.asarray(labels))
  assert set(np.unique(np.asarray(wrong - labels) % 7)) == set(range(1, 7))


def test_ssd_dampens_exactly_the_selected_weights(setup):
  model, params, retain, forget, *_ = setup
  out = _run("ssd")
  full = {
    k: jnp.concatenate([jnp.asarray(retain[k]), forget[k]]) for k in ("audio", "label")
  }
  imp_d = ssd.importance(params, model.apply, full, 16)
  imp_f = ssd.importance(params, model.apply, jax.tree.map(jnp.asarray, forget), 16)
  selected_total = 0
  for p, q, i_d, i_f in zip(
    *(jax.tree.leaves(t) for t in (params, out, imp_d, imp_f)), strict=True
  ):
    p, q, i_d, i_f = map(np.asarray, (p, q, i_d, i_f))
    selected = i_f > OPTIONS["ssd"]["alpha"] * i_d
    selected_total += int(selected.sum())
    np.testing.assert_array_equal(q[~selected], p[~selected])
    want = p * np.minimum(i_d / np.where(selected, i_f, 1.0), 1.0)
    np.testing.assert_allclose(q[selected], want[selected], rtol=1e-5, atol=1e-7)
  assert selected_total > 0


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_salun_mask_has_the_configured_sparsity(setup, sparsity):
  model, params, _, forget, *_ = setup
  mask = methods.saliency_mask(
    params, model.apply, jax.tree.map(jnp.asarray, forget), sparsity
  )
  ones = sum(float(m.sum()) for m in jax.tree.leaves(mask))
  total = sum(m.size for m in jax.tree.leaves(mask))
  assert abs(ones / total - (1 - sparsity)) < 0.01


def test_salun_moves_only_salient_weights(setup):
  model, params, _, forget, *_ = setup
  mask = methods.saliency_mask(
    params, model.apply, jax.tree.map(jnp.asarray, forget), 0.5
  )
  out = _run("salun")
  for p, q, m in zip(*(jax.tree.leaves(t) for t in (params, out, mask)), strict=True):
    frozen = np.asarray(m) == 0
    np.testing.assert_array_equal(np.asarray(q)[frozen], np.asarray(p)[frozen])


def test_scrub_r_with_one_epoch_is_scrub(setup):
  one = dict(epochs=1)
  for a, b in zip(
    jax.tree.leaves(_run("scrub", **one)),
    jax.tree.leaves(_run("scrub_r", **one)),
    strict=True,
  ):
    np.testing.assert_array_equal(a, b)


def test_distill_kl_is_zero_for_equal_logits_and_positive_otherwise():
  s = jnp.array([[1.0, 2.0, 3.0]])
  assert float(scrub.distill_kl(s, s, 4.0)[0]) == pytest.approx(0.0, abs=1e-7)
  assert float(scrub.distill_kl(s, s[:, ::-1], 4.0)[0]) > 0


def test_bad_options_and_data_raise_named_errors(setup):
  model, params, retain, forget, *_ = setup
  with pytest.raises(unlearning.UnlearningError, match="unknown options.*'stepz'"):
    unlearning.unlearn(
      "finetune", params, model.apply, retain, forget, jax.random.key(0), stepz=3
    )
  with pytest.raises(unlearning.UnlearningError, match="missing required.*init_fn"):
    unlearning.unlearn(
      "retrain", params, model.apply, retain, forget, jax.random.key(0)
    )
  with pytest.raises(unlearning.UnlearningError, match="forget is empty"):
    empty = {k: v[:0] for k, v in forget.items()}
    unlearning.unlearn(
      "finetune", params, model.apply, retain, empty, jax.random.key(0)
    )
  with pytest.raises(unlearning.UnlearningError, match="retain has no.*label"):
    unlearning.unlearn(
      "ssd", params, model.apply, {"audio": retain["audio"]}, forget, jax.random.key(0)
    )
  with pytest.raises(KeyError, match="valid names: esd, finetune"):
    unlearning.unlearn(
      "forget_it", params, model.apply, retain, forget, jax.random.key(0)
    )
