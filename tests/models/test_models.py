"""Tests for audiojax.models: the registry and the properties callers rely on.

Every tiny model is checked for shapes, deterministic init, stateless params, a
finite nonzero input gradient (attacks), vmap over stacked params (the GA), dropout
only in training, and that adam fits a fixed tiny batch.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.models import MODELS, max_pool
from audiojax.registry import UnknownNameError

NUM_CLASSES = 4
# Tiny inputs: log-mel [batch, frames, n_mels] or waveform [batch, samples, 1].
INPUT_SHAPES = {
  "mel_cnn_tiny": (8, 12, 8),
  "lstm_tiny": (8, 12, 8),
  "gru_tiny": (8, 12, 8),
  "raw_m5_tiny": (8, 512, 1),
  "patch_transformer_tiny": (8, 12, 8),
  "mel_transcriber_tiny": (8, 12, 16),
  "resnet1d_18_tiny": (8, 64, 1),
  "resnet1d_34_tiny": (8, 64, 1),
}
EMBED_DIMS = {
  "mel_cnn_tiny": 32,
  "lstm_tiny": 16,  # 8 units each way
  "gru_tiny": 16,
  "raw_m5_tiny": 16,
  "patch_transformer_tiny": 16,
  "mel_transcriber_tiny": 32,
  "resnet1d_18_tiny": 16,
  "resnet1d_34_tiny": 16,
}
# Models that keep the frame axis: logits and embedding are [batch, frames, ...].
PER_FRAME = {"mel_transcriber_tiny"}
TINY = [name for name in MODELS if name.endswith("_tiny")]  # Sorted names.


def test_every_registered_model_has_a_tiny_sibling_with_known_shapes():
  assert sorted(INPUT_SHAPES) == TINY == sorted(EMBED_DIMS)
  assert [n for n in MODELS if not n.endswith("_tiny")] == [
    n.removesuffix("_tiny") for n in TINY
  ]


STEPS = 40


def _loss(model, params, x, y, *, train=False, key=None):
  rngs = {"dropout": key} if key is not None else {}
  logits = model.apply({"params": params}, x, train=train, rngs=rngs)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _probe(model, x, y):
  """Everything the per-model tests check, computed in one jitted function."""
  variables = model.init(jax.random.key(0), x)
  params = variables["params"]
  other = model.init(jax.random.key(3), x)["params"]
  apply = lambda p, **kw: model.apply({"params": p}, x, **kw)
  k1, k2 = jax.random.key(11), jax.random.key(12)
  optimizer = optax.adam(1e-2)

  def step(carry, i):
    p, opt_state = carry
    key = jax.random.fold_in(jax.random.key(7), i)
    loss, grads = jax.value_and_grad(
      lambda p: _loss(model, p, x, y, train=True, key=key)
    )(p)
    updates, opt_state = optimizer.update(grads, opt_state, p)
    return (optax.apply_updates(p, updates), opt_state), loss

  (trained, _), losses = jax.lax.scan(
    step, (params, optimizer.init(params)), jnp.arange(STEPS)
  )
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, other)
  return {
    "variables": variables,
    "other": other,
    "logits": apply(params),
    "embedding": apply(params, method="embed"),
    "eval_k1": apply(params, rngs={"dropout": k1}),
    "eval_k2": apply(params, rngs={"dropout": k2}),
    "train_k1": apply(params, train=True, rngs={"dropout": k1}),
    "train_k2": apply(params, train=True, rngs={"dropout": k2}),
    "vmapped": jax.vmap(lambda p: apply(p))(stacked),
    "other_logits": apply(other),
    "input_grad": jax.grad(lambda x: _loss(model, params, x, y))(x),
    "losses": losses,
    "trained_loss": _loss(model, trained, x, y),
    "trained_logits": apply(trained),
  }


class Setup:
  """One tiny model, its batch, and the outputs of one run of ``_probe``."""

  def __init__(self, name):
    self.name = name
    self.model = MODELS.get(name)(NUM_CLASSES)
    self.x = jax.random.normal(jax.random.key(1), INPUT_SHAPES[name])
    self.y = jnp.arange(INPUT_SHAPES[name][0]) % NUM_CLASSES
    self.frames = INPUT_SHAPES[name][1:2] if name in PER_FRAME else ()
    if self.frames:  # one label per frame
      self.y = (self.y[:, None] + jnp.arange(self.frames[0])) % NUM_CLASSES
    self.out = jax.jit(lambda x, y: _probe(self.model, x, y))(self.x, self.y)
    self.params = self.out["variables"]["params"]


@pytest.fixture(scope="module", params=TINY)
def setup(request):
  return Setup(request.param)


def test_registry_names_and_unknown_name():
  expected = {
    "mel_cnn",
    "raw_m5",
    "patch_transformer",
    "mel_transcriber",
    "resnet1d_18",
    "resnet1d_34",
    "lstm",
    "gru",
  }
  assert set(MODELS) == expected | {f"{n}_tiny" for n in expected}
  with pytest.raises(UnknownNameError) as info:
    MODELS.get("mel_cnnn")
  assert "mel_cnnn" in str(info.value)
  assert "mel_cnn, mel_cnn_tiny, mel_transcriber" in str(info.value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_entries_build_modules(name):
  model = MODELS.get(name)(7)
  assert isinstance(model, nn.Module) and model.num_classes == 7
  assert MODELS.get(name)(num_classes=3, dropout_rate=0.0).dropout_rate == 0.0


@jax.jit
def _head_probe_inputs():
  """Small inputs that every registered variant, tiny or full size, accepts."""
  key = jax.random.key(1)
  return jax.random.normal(key, (2, 32, 16)), jax.random.normal(key, (2, 4096, 1))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_backbone_ends_in_a_top_level_dense_head_on_its_embedding(name):
  # The shared tail (audiojax.models.backbone): a Dense named "head" of the model
  # itself (checkpoints are keyed by params["head"]) whose input is embed(x).
  model = MODELS.get(name)(NUM_CLASSES)
  mel, wave = _head_probe_inputs()
  x = wave if name.startswith("raw_m5") else mel
  # Type and path of every module named "head", and its input, seen while tracing.
  heads, head_inputs = [], []

  def record_head(next_fun, args, kwargs, context):
    if context.module.name == "head":
      heads.append((type(context.module), context.module.path))
      head_inputs.append(args[0])
    return next_fun(*args, **kwargs)

  def run(x):
    head_inputs.clear()
    params = model.init(jax.random.key(0), x)["params"]
    with nn.intercept_methods(record_head):
      logits = model.apply({"params": params}, x, rngs={"dropout": jax.random.key(2)})
    embedding = model.apply({"params": params}, x, method="embed")
    return params, logits, embedding, head_inputs[0]

  params, logits, embedding, head_input = jax.jit(run)(x)
  assert heads == [(nn.Dense, ("head",))]
  head = params["head"]
  assert set(head) == {"kernel", "bias"}
  assert head["kernel"].shape == (embedding.shape[-1], NUM_CLASSES)
  assert head["bias"].shape == (NUM_CLASSES,)
  # In eval mode the dropout before the head is the identity.
  np.testing.assert_allclose(head_input, embedding, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
    embedding @ head["kernel"] + head["bias"], logits, rtol=1e-5, atol=1e-5
  )


def test_output_and_embedding_shapes(setup):
  batch = setup.x.shape[0]
  logits, embedding = setup.out["logits"], setup.out["embedding"]
  assert logits.shape == (batch, *setup.frames, NUM_CLASSES)
  assert logits.dtype == jnp.float32
  assert embedding.shape == (batch, *setup.frames, EMBED_DIMS[setup.name])
  # The head is a linear map of the embedding (dropout is off in eval).
  head = setup.params["head"]
  np.testing.assert_allclose(
    embedding @ head["kernel"] + head["bias"], logits, rtol=1e-5, atol=1e-5
  )


def test_params_are_one_stateless_pytree(setup):
  assert set(setup.out["variables"]) == {"params"}  # no batch_stats to thread
  assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(setup.params))


def test_init_is_deterministic_per_key(setup):
  # A separately compiled init must reproduce the params made inside the probe.
  again = jax.jit(setup.model.init)(jax.random.key(0), setup.x)["params"]
  same = jax.tree.map(lambda a, b: bool((a == b).all()), setup.params, again)
  assert all(jax.tree.leaves(same))
  # A different key changes every randomly initialised weight.
  random_leaves = [
    (a, b)
    for (path, a), b in zip(
      jax.tree_util.tree_leaves_with_path(setup.params),
      jax.tree.leaves(setup.out["other"]),
      strict=True,
    )
    if path[-1].key in ("kernel", "pos_embed")
  ]
  assert random_leaves and all(bool((a != b).any()) for a, b in random_leaves)


def test_input_gradient_is_finite_and_nonzero(setup):
  grad = setup.out["input_grad"]
  assert grad.shape == setup.x.shape
  assert bool(jnp.isfinite(grad).all())
  # Nonzero almost everywhere, not just somewhere: attacks perturb every input value.
  assert float(jnp.mean(grad != 0)) > 0.9
  assert float(jnp.abs(grad).max()) > 1e-6


def test_vmap_over_stacked_params_matches_separate_applies(setup):
  together = setup.out["vmapped"]
  assert together.shape == (2, setup.x.shape[0], *setup.frames, NUM_CLASSES)
  np.testing.assert_allclose(together[0], setup.out["logits"], atol=1e-5)
  np.testing.assert_allclose(together[1], setup.out["other_logits"], atol=1e-5)
  assert float(jnp.abs(together[0] - together[1]).max()) > 1e-3


def test_dropout_only_in_training(setup):
  out = setup.out
  np.testing.assert_array_equal(out["eval_k1"], out["eval_k2"])
  np.testing.assert_array_equal(out["eval_k1"], out["logits"])  # needs no rng
  assert float(jnp.abs(out["train_k1"] - out["train_k2"]).max()) > 1e-4
  assert float(jnp.abs(out["train_k1"] - out["logits"]).max()) > 1e-4


def test_adam_fits_a_fixed_tiny_batch(setup):
  losses = np.asarray(setup.out["losses"])
  assert losses[0] > 0.8 * np.log(NUM_CLASSES)  # starts near chance
  assert float(setup.out["trained_loss"]) < 0.25 * losses[0], losses
  predictions = setup.out["trained_logits"].argmax(-1)
  assert int((predictions == setup.y).sum()) == setup.y.size


@jax.jit
def _pools_and_grads(x, cotangent):
  """Reshape pool and flax pool of ``x``, and their vector-Jacobian products."""
  ours = lambda x: max_pool(x, (2, 2))
  ref = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
  vjp = lambda f: jax.vjp(f, x)[1](cotangent)[0]
  return ours(x), ref(x), vjp(ours), vjp(ref)


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (1, 5, 9, 2)])
def test_max_pool_equals_flax_max_pool(shape):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape, dtype=np.float32)
  out_shape = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
  cotangent = rng.standard_normal(out_shape, dtype=np.float32)
  ours, ref, grad_ours, grad_ref = _pools_and_grads(x, cotangent)
  assert ours.shape == out_shape  # odd sizes are cropped, like padding="VALID"
  np.testing.assert_array_equal(ours, ref)
  # Same gradient too (continuous random values have no ties).
  np.testing.assert_array_equal(grad_ours, grad_ref)


def test_max_pool_ties_send_the_gradient_to_one_element_like_flax():
  x = np.zeros((1, 4, 4, 1), np.float32)  # every window is a four-way tie
  cotangent = np.ones((1, 2, 2, 1), np.float32)
  _, _, grad_ours, grad_ref = _pools_and_grads(x, cotangent)
  np.testing.assert_array_equal(grad_ours, grad_ref)
  assert float(grad_ours.sum()) == 4.0 and int((grad_ours != 0).sum()) == 4


def test_max_pool_1d_and_short_axes():
  x = np.random.default_rng(1).standard_normal((2, 18, 3), dtype=np.float32)
  np.testing.assert_array_equal(max_pool(x, (4,)), x[:, :16].reshape(2, 4, 4, 3).max(2))
  short = np.ones((2, 1, 5, 3), np.float32)
  assert max_pool(short, (2, 2)).shape == (2, 1, 2, 3)  # size-1 axis left as is


def test_patch_transformer_rejects_a_different_patch_grid():
  model = MODELS.get("patch_transformer_tiny")(NUM_CLASSES)
  # Shapes only: the check runs while tracing, nothing needs compiling.
  spec = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  params = jax.eval_shape(model.init, jax.random.key(0), spec(1, 12, 8))
  assert params["params"]["pos_embed"].shape == (1, 1 + 3 * 2, 16)
  # 13 frames still make 3 patches of 4: cropped, same grid, accepted.
  out = jax.eval_shape(model.apply, params, spec(1, 13, 8))
  assert out.shape == (1, NUM_CLASSES)
  with pytest.raises(ValueError, match="built for 6 patches.*4 x 2 = 8"):
    jax.eval_shape(model.apply, params, spec(1, 16, 8))


@pytest.mark.parametrize("name", TINY)
def test_wrong_input_rank_raises(name):
  model = MODELS.get(name)(NUM_CLASSES)
  bad = jnp.zeros(INPUT_SHAPES[name][:2])
  with pytest.raises(ValueError, match=r"expects a float \[batch"):
    model.init(jax.random.key(0), bad)
