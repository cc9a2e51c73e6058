"""Tests for audiojax.generate.unet: shapes, wiring of t / cond / adapter, training.

Everything numeric about ``unet_tiny`` comes from one jitted ``_probe``; input
variants go through ``lax.map`` / ``vmap`` so the network is compiled a few times,
not once per variant. Params are perturbed first, because the zero-initialised
output conv makes the untrained network output 0 whatever its inputs.
"""

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.generate import unet as unet_lib
from audiojax.generate.unet import (
  GENERATORS,
  Conditioning,
  UNet,
  adapter_size,
  depth_to_space,
  drop_condition,
  init_adapter,
  null_condition,
  space_to_depth,
)
from audiojax.registry import UnknownNameError

SIZES = {"num_families": 3, "num_collections": 4, "vocab_size": 20}
SHAPE = (4, 16, 16, 1)
OTHER_SHAPE = (2, 8, 12, 1)  # a second size, non-square (same params as SHAPE)
STEPS = 30
LEARNING_RATE = 1e-2
# Rows of the probe's "variants" output: which input differs from row 0 ("base").
VARIANTS = ("base", "null", "family", "collection", "tokens", "time")


def _cond(batch, length=5):
  return {
    "family": jnp.arange(batch) % 3 + 1,
    "collection": jnp.arange(batch) % 4 + 1,
    "tokens": jnp.arange(batch * length).reshape(batch, length) % 19 + 1,
  }


def _stack(trees):
  return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _perturb(tree, key, scale=0.1):
  # One normal draw for the whole tree: a draw per leaf makes XLA compile dozens
  # of threefry kernels, which dominated this file's run time.
  flat, unravel = jax.flatten_util.ravel_pytree(tree)
  return unravel(flat + scale * jax.random.normal(key, flat.shape))


def _probe(model, params, x, t, cond, target):
  p = _perturb(params, jax.random.key(9))
  apply = lambda q, t, c, a=None: model.apply({"params": q}, x, t, c, adapter=a)
  batch = x.shape[0]
  conds = [
    cond,
    null_condition(batch, 5),
    dict(cond, family=cond["family"] % 3 + 1),
    dict(cond, collection=cond["collection"] % 4 + 1),
    dict(cond, tokens=cond["tokens"] % 19 + 1),
    cond,
  ]
  times = jnp.stack([t] * 5 + [1.0 - t])
  variants = jax.lax.map(lambda a: apply(p, *a), (times, _stack(conds)))
  zeros = init_adapter(model, x.shape)
  adapters = _stack(
    [zeros] + [_perturb(zeros, jax.random.key(20 + i), 0.5) for i in range(3)]
  )
  separate = jax.lax.map(lambda a: apply(p, t, cond, a), adapters)
  first = jax.tree.map(lambda a: a[1], adapters)
  together = jax.vmap(lambda a: apply(p, t, cond, a))(
    jax.tree.map(lambda a: a[1:], adapters)
  )
  conditioning = Conditioning(
    model.num_families, model.num_collections, model.vocab_size, model.embed_dim
  )
  embed = lambda c: conditioning.apply({"params": p["condition"]}, t, c)
  pad = jnp.zeros((batch, 2), jnp.int32)
  tokens = cond["tokens"]

  def loss_fn(q, a=None):
    out = apply(q, t, cond, a)
    return jnp.mean((out - target) ** 2), jnp.abs(out).max()

  optimizer = optax.adam(LEARNING_RATE)

  def step(carry, _):
    q, opt_state = carry
    (loss, peak), grads = jax.value_and_grad(loss_fn, has_aux=True)(q)
    updates, opt_state = optimizer.update(grads, opt_state, q)
    return (optax.apply_updates(q, updates), opt_state), (loss, peak)

  (trained, _), (losses, peaks) = jax.lax.scan(
    step, (params, optimizer.init(params)), None, length=STEPS
  )
  return {
    "perturbed": p,
    "variants": variants,
    "separate": separate,
    # Same context for both, so only the adapter differs between the two graphs.
    "no_adapter": apply(p, t, cond),
    "zero_adapter": apply(p, t, cond, zeros),
    "together": together,
    "embedding": embed(cond),
    "embedding_padded": embed(dict(cond, tokens=jnp.concatenate([tokens, pad], 1))),
    "embedding_shuffled": embed(
      dict(cond, tokens=jnp.concatenate([pad, tokens[:, ::-1]], 1))
    ),
    "embedding_null": embed(null_condition(batch, 5)),
    "embedding_null_longer": embed(null_condition(batch, 9)),
    "grads": jax.grad(lambda q, a: loss_fn(q, a)[0], argnums=(0, 1))(p, first),
    "losses": losses,
    "peaks": peaks,
    "trained_loss": loss_fn(trained)[0],
  }


@pytest.fixture(scope="module", autouse=True)
def _fast_compiles():
  # Compile time, not run time, dominates these tiny graphs (about 3x here).
  previous = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", previous)


class Setup:
  """The tiny model, its inputs, three inits and one run of ``_probe``."""

  def __init__(self):
    self.model = GENERATORS.get("unet_tiny")(**SIZES)
    keys = jax.random.split(jax.random.key(1), 3)
    self.x = jax.random.normal(keys[0], SHAPE)
    self.t = jax.random.uniform(keys[1], SHAPE[:1])
    self.target = jax.random.normal(keys[2], SHAPE)
    self.cond = _cond(SHAPE[0])
    init = jax.jit(self.model.init)
    # On the host, so that the checks below are numpy, not one dispatch per op.
    self.params, self.again, self.other = (
      jax.device_get(init(jax.random.key(k), self.x, self.t, self.cond)["params"])
      for k in (0, 0, 5)
    )
    probe = jax.jit(functools.partial(_probe, self.model))
    self.out = jax.device_get(
      probe(self.params, self.x, self.t, self.cond, self.target)
    )


@pytest.fixture(scope="module")
def setup():
  return Setup()


def _differ(a, b):
  return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def test_registry_names_and_unknown_name():
  assert set(GENERATORS) == {"unet", "unet_tiny"}
  model = GENERATORS.get("unet")(**SIZES)
  assert isinstance(model, UNet) and model.channels == (32, 64, 128)
  assert model.attention and not GENERATORS.get("unet_tiny")(**SIZES).attention
  with pytest.raises(UnknownNameError, match="unet, unet_tiny"):
    GENERATORS.get("unett")


def test_sizes_of_default_and_tiny():
  counts = {}
  for name, shape in (("unet", (1, 64, 64, 1)), ("unet_tiny", SHAPE)):
    model = GENERATORS.get(name)(**SIZES)
    x = jnp.zeros(shape)
    abstract = jax.eval_shape(
      model.init, jax.random.key(0), x, jnp.zeros(shape[:1]), _cond(shape[0])
    )["params"]
    counts[name] = sum(a.size for a in jax.tree.leaves(abstract))
    adapter = init_adapter(model, shape)
    # Adapter blocks are exactly the residual blocks of the params.
    blocks = {k for k in abstract if "_block" in k}
    assert set(adapter) == blocks
    for name_, offsets in adapter.items():
      width = abstract[name_]["film"]["bias"].shape[0] // 2
      assert offsets["scale"].shape == offsets["shift"].shape == (width,)
    assert sum(a.size for a in jax.tree.leaves(adapter)) == adapter_size(model)
  # The counts in the module's comments: body + embedding tables.
  tables = 3 + 4 + 2 + 20
  assert counts == {"unet": 1_945_284 + 128 * tables, "unet_tiny": 29_396 + 16 * tables}
  assert adapter_size(GENERATORS.get("unet")(**SIZES)) == 1408  # module docstring
  assert adapter_size(GENERATORS.get("unet_tiny")(**SIZES)) == 160
  assert "1,408" in unet_lib.__doc__ and "160" in unet_lib.__doc__


def test_output_shape_for_two_sizes(setup):
  assert setup.out["variants"].shape == (len(VARIANTS), *SHAPE)
  other = jax.jit(setup.model.apply)(
    {"params": setup.out["perturbed"]},
    jnp.ones(OTHER_SHAPE),
    jnp.full(OTHER_SHAPE[:1], 0.5),
    _cond(OTHER_SHAPE[0]),
  )
  assert other.shape == OTHER_SHAPE and _differ(other, 0.0) > 1e-4
  # More channels (shapes only): the output conv follows the input's channels.
  x = jnp.zeros((2, 8, 4, 3))
  shape = jax.eval_shape(
    lambda x: setup.model.init_with_output(
      jax.random.key(0), x, jnp.zeros(2), _cond(2)
    )[0],
    x,
  ).shape
  assert shape == x.shape


def test_output_is_zero_at_init_and_nonzero_after_one_step(setup):
  peaks = np.asarray(setup.out["peaks"])  # max |output| before each adam step
  assert peaks[0] == 0.0
  assert peaks[1] > 1e-4


def test_init_is_deterministic_per_key(setup):
  same = jax.tree.map(lambda a, b: (a == b).all(), setup.params, setup.again)
  assert all(jax.tree.leaves(same))
  random_leaves = [
    (a, b)
    for (path, a), b in zip(
      jax.tree_util.tree_leaves_with_path(setup.params),
      jax.tree.leaves(setup.other),
      strict=True,
    )
    if path[-1].key in ("kernel", "embedding") and path[0].key != "out"
  ]
  assert len(random_leaves) > 20
  assert all((a != b).any() for a, b in random_leaves)
  assert not setup.params["out"]["kernel"].any()


def test_condition_and_time_are_wired_in(setup):
  variants = setup.out["variants"]
  for i, label in enumerate(VARIANTS[1:], start=1):
    assert _differ(variants[i], variants[0]) > 1e-4, label


def test_caption_is_a_mean_over_real_words(setup):
  out = setup.out
  # Extra padding and word order do not matter; no caption is the same at any length.
  np.testing.assert_allclose(out["embedding_padded"], out["embedding"], atol=1e-6)
  np.testing.assert_allclose(out["embedding_shuffled"], out["embedding"], atol=1e-5)
  np.testing.assert_array_equal(out["embedding_null_longer"], out["embedding_null"])
  assert _differ(out["embedding_null"], out["embedding"]) > 1e-3


def test_zero_adapter_is_exactly_no_adapter(setup):
  out = setup.out
  np.testing.assert_array_equal(out["zero_adapter"], out["no_adapter"])
  separate = out["separate"]  # row 0 went through the zero adapter too
  np.testing.assert_allclose(separate[0], out["no_adapter"], atol=1e-5)
  for adapted in separate[1:]:
    assert _differ(adapted, separate[0]) > 1e-3


def test_vmap_over_adapters_matches_separate_applies(setup):
  together, separate = setup.out["together"], setup.out["separate"]
  assert together.shape == (3, *SHAPE)
  np.testing.assert_allclose(together, separate[1:], atol=1e-5)
  assert _differ(separate[1], separate[2]) > 1e-3


def test_gradients_are_finite_and_reach_the_adapter(setup):
  param_grads, adapter_grads = setup.out["grads"]
  for grads in (param_grads, adapter_grads):
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  # Every offset of every block influences the loss.
  assert all((g != 0).all() for g in jax.tree.leaves(adapter_grads))
  assert all(np.abs(g).max() > 0 for g in jax.tree.leaves(param_grads))


def test_adam_fits_a_fixed_target(setup):
  losses = np.asarray(setup.out["losses"])
  assert np.all(np.isfinite(losses))
  # The zero output against a unit-variance target starts at its mean square.
  np.testing.assert_allclose(
    losses[0], float(np.mean(np.square(setup.target))), rtol=1e-6
  )
  assert float(setup.out["trained_loss"]) < 0.15 * losses[0], losses


def test_dropout_only_in_training(setup):
  model = GENERATORS.get("unet_tiny")(**SIZES, dropout_rate=0.5)
  params = setup.out["perturbed"]

  @jax.jit
  def run(x, t, cond):
    apply = lambda k, train: model.apply(
      {"params": params}, x, t, cond, train=train, rngs={"dropout": k}
    )
    keys = jax.random.split(jax.random.key(3))
    return apply(keys[0], False), jax.lax.map(lambda k: apply(k, True), keys)

  evaluated, trained = run(setup.x, setup.t, setup.cond)
  np.testing.assert_allclose(evaluated, setup.out["variants"][0], atol=1e-5)
  assert _differ(trained[0], trained[1]) > 1e-4
  assert _differ(trained[0], evaluated) > 1e-4


def test_space_to_depth_folds_2x2_blocks_and_inverts():
  x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
  folded = space_to_depth(x)
  assert folded.shape == (2, 2, 3, 12)
  np.testing.assert_array_equal(folded[1, 1, 2], x[1, 2:4, 4:6].reshape(-1))
  np.testing.assert_array_equal(depth_to_space(folded), x)


def test_null_and_dropped_conditions():
  cond = _cond(64)
  null = null_condition(64, 5)
  assert jax.tree.map(lambda a: a.shape, null) == jax.tree.map(lambda a: a.shape, cond)
  assert all(int(jnp.abs(a).max()) == 0 for a in null.values())
  key = jax.random.key(0)
  kept = drop_condition(cond, key, 0.0)
  dropped = drop_condition(cond, key, 1.0)
  half = drop_condition(cond, key, 0.5)
  for name in cond:
    np.testing.assert_array_equal(kept[name], cond[name])
    np.testing.assert_array_equal(dropped[name], null[name])
    np.testing.assert_array_equal(half[name], drop_condition(cond, key, 0.5)[name])
  # Whole examples are dropped: every field of an example is null, or none is.
  is_null = half["family"] == 0
  assert bool((is_null == (half["collection"] == 0)).all())
  assert bool((is_null == (half["tokens"] == 0).all(1)).all())
  assert 16 < int(is_null.sum()) < 48
  with pytest.raises(ValueError, match="1.5"):
    drop_condition(cond, key, 1.5)


@pytest.mark.parametrize(
  "shape, cond, adapter, message",
  [
    ((2, 10, 16, 1), None, None, r"divisible by 4, got shape \(2, 10, 16, 1\)"),
    ((2, 8, 8, 1), {"family": 0}, None, "keys"),
    ((2, 8, 8, 1), "float_tokens", None, "integer ids"),
    ((2, 8, 8, 1), "short_batch", None, "batch 2"),
    ((2, 8, 8, 1), None, {"down0_block0": {}}, "adapter must have blocks"),
    ((2, 8, 8, 1), None, "wrong_width", r"adapter\['mid_block0'\]"),
  ],
)
def test_malformed_inputs_raise(shape, cond, adapter, message):
  model = GENERATORS.get("unet_tiny")(**SIZES)
  good = _cond(2)
  if cond == "float_tokens":
    cond = dict(good, tokens=good["tokens"].astype(jnp.float32))
  elif cond == "short_batch":
    cond = dict(good, family=good["family"][:1])
  elif cond is None:
    cond = good
  if adapter == "wrong_width":
    adapter = init_adapter(model, shape)
    adapter["mid_block0"] = {"scale": jnp.zeros(3), "shift": jnp.zeros(3)}
  with pytest.raises(ValueError, match=message):
    jax.eval_shape(
      lambda x: model.init_with_output(
        jax.random.key(0), x, jnp.zeros(shape[:1]), cond, adapter=adapter
      ),
      jnp.zeros(shape),
    )


def test_init_adapter_rejects_unfit_image_shape():
  model = GENERATORS.get("unet")(**SIZES)
  with pytest.raises(ValueError, match="divisible by 8"):
    init_adapter(model, (1, 64, 60, 1))
