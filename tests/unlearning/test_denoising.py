"""Unlearning a conditional generator: every method of the denoising task runs on a
tiny U-Net and moves the losses the way it claims; ESD trains toward its target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax import unlearning
from audiojax.generate.unet import GENERATORS
from audiojax.unlearning import UnlearningError, denoising, methods

L = 4  # caption tokens
TASK = unlearning.denoising_task("flow")


@pytest.fixture(scope="module")
def setup():
  net = GENERATORS.get("unet_tiny")(num_families=4, num_collections=3, vocab_size=12)
  rng = np.random.default_rng(0)

  def clips(n, collection):
    return {
      "image": rng.uniform(-1, 1, (n, 16, 16, 1)).astype(np.float32),
      "family": rng.integers(1, 4, n).astype(np.int32),
      "collection": np.full((n,), collection, np.int32),
      "tokens": rng.integers(2, 12, (n, L)).astype(np.int32),
    }

  retain, forget = clips(12, 1), clips(6, 2)
  cond = {k: jnp.asarray(v[:1]) for k, v in forget.items() if k != "image"}
  params = net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)), jnp.zeros(1), cond)
  # A short training on both sets: at init the conditioning has no effect (its
  # FiLM projections start at zero), so there would be nothing to forget.
  both = {k: np.concatenate([retain[k], forget[k]]) for k in retain}
  params = unlearning.unlearn(
    "finetune",
    params,
    net.apply,
    both,
    forget,
    jax.random.key(9),
    task=TASK,
    steps=30,
    batch_size=8,
    optimizer="adam",
    lr=3e-3,
  )
  return net.apply, params, retain, forget


def _mean_loss(apply_fn, params, data):
  fn = jax.jit(TASK.example_losses(apply_fn))
  draws = [fn(params, data, jax.random.key(i)) for i in range(4)]
  return float(np.mean(draws))


GENERATIVE = unlearning.methods_for("denoising")


def test_every_generator_method_is_registered():
  assert set(GENERATIVE) == {
    "retrain",
    "finetune",
    "neggrad",
    "neggrad_plus",
    "random_labels",
    "l1_sparse",
    "salun",
    "ssd",
    "esd",
  }


@pytest.mark.parametrize("name", GENERATIVE)
def test_every_method_runs_on_the_generator(setup, name):
  apply_fn, params, retain, forget = setup
  cfg = {} if name == "ssd" else dict(steps=2, batch_size=4)
  if name == "retrain":
    cfg["init_fn"] = lambda k: params
  out = unlearning.unlearn(
    name, params, apply_fn, retain, forget, jax.random.key(1), task=TASK, **cfg
  )
  leaves, before = jax.tree.leaves(out), jax.tree.leaves(params)
  assert jax.tree.structure(out) == jax.tree.structure(params)
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
  assert (
    any(not np.array_equal(a, b) for a, b in zip(leaves, before, strict=True))
    or name == "ssd"
  )


def test_gradient_ascent_raises_the_forget_loss_and_finetune_lowers_retain(setup):
  apply_fn, params, retain, forget = setup
  key = jax.random.key(2)
  up = unlearning.unlearn(
    "neggrad", params, apply_fn, retain, forget, key, task=TASK, steps=20, lr=1e-2
  )
  assert _mean_loss(apply_fn, up, forget) > _mean_loss(apply_fn, params, forget)
  down = unlearning.unlearn(
    "finetune",
    params,
    apply_fn,
    retain,
    forget,
    key,
    task=TASK,
    steps=30,
    optimizer="adam",
    lr=3e-3,
  )
  assert _mean_loss(apply_fn, down, retain) < _mean_loss(apply_fn, params, retain)


def test_relabelling_pairs_forget_images_with_retain_conditions(setup):
  apply_fn, params, retain, forget = setup
  relabel = TASK.relabeller(params, apply_fn, forget)
  batch = {k: jnp.asarray(v) for k, v in forget.items()}
  out = relabel(
    batch, {k: jnp.asarray(v) for k, v in retain.items()}, jax.random.key(3)
  )
  np.testing.assert_array_equal(out["image"], forget["image"])
  assert set(np.asarray(out["collection"]).tolist()) == {1}  # retain's collection
  rows = {tuple(r) for r in retain["tokens"].tolist()}
  assert all(tuple(r) in rows for r in np.asarray(out["tokens"]).tolist())


@pytest.mark.parametrize("anchor", denoising.ANCHORS)
def test_esd_moves_the_forget_prediction_toward_the_negatively_guided_target(
  setup, anchor
):
  apply_fn, params, retain, forget = setup
  x0 = jnp.asarray(forget["image"])
  cond = {k: jnp.asarray(forget[k]) for k in denoising.CONDITION}
  t = jnp.full((len(x0),), 0.5)
  x_t = 0.5 * x0 + 0.5 * jax.random.normal(jax.random.key(4), x0.shape)
  null = {k: jnp.zeros_like(v) for k, v in cond.items()}
  e_c, e_a = apply_fn(params, x_t, t, cond), apply_fn(params, x_t, t, null)
  target = e_a - 2.0 * (e_c - e_a)
  out = unlearning.unlearn(
    "esd",
    params,
    apply_fn,
    retain,
    forget,
    jax.random.key(5),
    task=TASK,
    steps=40,
    batch_size=6,
    lr=3e-3,
    eta=2.0,
    anchor=anchor,
  )
  before = float(jnp.mean((e_c - target) ** 2))
  after = float(jnp.mean((apply_fn(out, x_t, t, cond) - target) ** 2))
  if anchor == "null":
    assert after < 0.7 * before
  # Both anchors push the forget prediction away from where it was.
  assert float(jnp.mean((apply_fn(out, x_t, t, cond) - e_c) ** 2)) > 0.0


def test_bad_requests_get_typed_errors(setup):
  apply_fn, params, retain, forget = setup
  key = jax.random.key(0)
  with pytest.raises(UnlearningError, match="classification"):
    unlearning.unlearn("scrub", params, apply_fn, retain, forget, key, task=TASK)
  with pytest.raises(UnlearningError, match="image"):
    audio_only = {"audio": forget["image"], "label": forget["family"]}
    unlearning.unlearn("finetune", params, apply_fn, retain, audio_only, key, task=TASK)
  with pytest.raises(UnlearningError, match="anchor"):
    unlearning.unlearn(
      "esd", params, apply_fn, retain, forget, key, task=TASK, anchor="bach", steps=1
    )
  with pytest.raises(UnlearningError, match="denoising"):
    x = {"audio": np.zeros((2, 8), np.float32), "label": np.zeros(2, np.int32)}
    unlearning.unlearn("esd", params, apply_fn, x, x, key)


def test_saliency_mask_reads_the_denoising_loss(setup):
  apply_fn, params, retain, forget = setup
  forget = {k: jnp.asarray(v) for k, v in forget.items()}
  mask = methods.saliency_mask(params, apply_fn, forget, 0.5, task=TASK)
  kept = np.mean(np.concatenate([np.ravel(m) for m in jax.tree.leaves(mask)]))
  assert 0.45 < kept < 0.55
