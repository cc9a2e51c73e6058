"""Mislabel detection: label noise flips exactly what it reports, folds are stratified,
the optimizer and the loss keep the K stacked models independent (model k never sees
the labels of fold k), the rankers and their metrics agree with hand counts, and the
fold models trained end to end on separable tones find the injected flips."""

import json
import os

import cleanlab.filter
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.anomaly import folds as oof
from audiojax.anomaly import mislabels
from audiojax.anomaly.mislabels import MislabelError
from audiojax.registry import UnknownNameError
from audiojax.train import loop, losses

# ----------------------------------------------------------------------------------
# inject_label_noise and class_partners.


def _labels(n=200, num_classes=4, seed=0):
  return np.random.default_rng(seed).integers(0, num_classes, size=n)


@pytest.mark.parametrize("kind", ["symmetric", "class_dependent"])
@pytest.mark.parametrize(
  "n, rate, expected",
  [
    (200, 0.1, 20),
    (10, 0.25, 2),  # 2.5 rounds half to even
    (6, 0.25, 2),  # 1.5 rounds half to even
    (7, 0.3, 2),
    (50, 0.0, 0),
    (9, 0.99, 9),
  ],
)
def test_noise_flips_exactly_the_rounded_count_where_the_mask_says(
  kind, n, rate, expected
):
  labels = _labels(n, 4)
  before = labels.copy()
  noisy, mask = mislabels.inject_label_noise(labels, 4, rate, seed=3, kind=kind)
  assert expected == round(rate * n)
  assert mask.dtype == bool and mask.shape == (n,)
  assert np.count_nonzero(mask) == expected
  np.testing.assert_array_equal(mask, noisy != labels)
  assert noisy.dtype == labels.dtype
  assert noisy.min() >= 0 and noisy.max() < 4
  np.testing.assert_array_equal(labels, before)  # the input is not modified


def test_symmetric_noise_goes_uniformly_to_the_other_classes():
  labels = _labels(6000, 3)
  noisy, mask = mislabels.inject_label_noise(labels, 3, 0.5, seed=0)
  assert np.all(noisy[mask] != labels[mask])
  # The destination is uniform over the K - 1 = 2 other classes: "+1" and "+2".
  shift = (noisy[mask] - labels[mask]) % 3
  assert set(np.unique(shift)) == {1, 2}
  assert abs(np.mean(shift == 1) - 0.5) < 0.03
  # Every class is flipped at about the same rate.
  per_class = [mask[labels == c].mean() for c in range(3)]
  assert max(per_class) - min(per_class) < 0.05


@pytest.mark.parametrize("num_classes", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_class_partners_is_a_derangement(num_classes, seed):
  partner = mislabels.class_partners(num_classes, seed)
  assert partner.shape == (num_classes,)
  np.testing.assert_array_equal(np.sort(partner), np.arange(num_classes))
  assert np.all(partner != np.arange(num_classes))
  np.testing.assert_array_equal(partner, mislabels.class_partners(num_classes, seed))


def test_class_dependent_noise_goes_to_the_partner_at_uneven_class_rates():
  num_classes, seed = 5, 4
  labels = _labels(5000, num_classes)
  noisy, mask = mislabels.inject_label_noise(
    labels, num_classes, 0.3, seed=seed, kind="class_dependent"
  )
  partner = mislabels.class_partners(num_classes, seed)
  np.testing.assert_array_equal(noisy[mask], partner[labels[mask]])
  np.testing.assert_array_equal(noisy[~mask], labels[~mask])
  # Every class loses some labels, at rates that differ clearly.
  per_class = np.array([mask[labels == c].mean() for c in range(num_classes)])
  assert np.all(per_class > 0)
  assert per_class.max() / per_class.min() > 1.5


@pytest.mark.parametrize("kind", ["symmetric", "class_dependent"])
def test_noise_is_a_function_of_the_seed(kind):
  labels = _labels(300, 4)
  a = mislabels.inject_label_noise(labels, 4, 0.2, seed=11, kind=kind)
  b = mislabels.inject_label_noise(list(labels), 4, 0.2, seed=11, kind=kind)
  c = mislabels.inject_label_noise(labels, 4, 0.2, seed=12, kind=kind)
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[1], c[1])  # other examples flipped
  assert np.count_nonzero(c[1]) == np.count_nonzero(a[1])


@pytest.mark.parametrize(
  "labels, num_classes, rate, seed",
  [
    (np.array([0, 1, 2, 1]), 3, 1.0, 0),
    (np.array([0, 1, 2, 1]), 3, -0.1, 0),
    (np.array([0, 1, 2, 1]), 3, float("nan"), 0),
    (np.array([0, 1, 2, 1]), 3, float("inf"), 0),
    (np.array([0, 1, 2, 1]), 3, "0.1", 0),
    (np.array([0, 1, 2, 1]), 3, 0.1, 1.5),
    (np.array([0, 1, 3, 1]), 3, 0.1, 0),  # label >= num_classes
    (np.array([0, -1, 2, 1]), 3, 0.1, 0),  # negative label
    (np.array([0.0, 1.0, 2.0]), 3, 0.1, 0),  # float labels
    (np.array([[0, 1], [2, 1]]), 3, 0.1, 0),  # 2-D labels
    (np.array([0, 0, 0]), 1, 0.1, 0),  # one class
    (np.array([0, 1, 0]), 2.0, 0.1, 0),  # num_classes not an int
  ],
)
def test_noise_rejects_bad_arguments(labels, num_classes, rate, seed):
  with pytest.raises(MislabelError):
    mislabels.inject_label_noise(labels, num_classes, rate, seed)


def test_noise_rejects_an_unknown_kind_by_name():
  with pytest.raises(UnknownNameError, match="class_dependent"):
    mislabels.inject_label_noise(np.array([0, 1, 2]), 3, 0.1, 0, kind="pairwise")
  with pytest.raises(MislabelError):
    mislabels.class_partners(1, 0)


# ----------------------------------------------------------------------------------
# assign_folds.


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_are_stratified_and_deterministic(folds):
  # Unbalanced classes of 1, 4, 7, 13 and 26 examples, shuffled.
  labels = np.repeat(np.arange(5), [1, 4, 7, 13, 26])
  labels = np.random.default_rng(0).permutation(labels)
  fold = oof.assign_folds(labels, folds, seed=5)
  assert fold.dtype == np.int32 and fold.shape == labels.shape
  assert set(np.unique(fold)) == set(range(folds))
  counts = np.array([np.bincount(fold[labels == c], minlength=folds) for c in range(5)])
  assert np.all(counts.max(1) - counts.min(1) <= 1)
  np.testing.assert_array_equal(counts.sum(1), [1, 4, 7, 13, 26])
  whole = np.bincount(fold, minlength=folds)
  assert whole.max() - whole.min() <= 1
  np.testing.assert_array_equal(fold, oof.assign_folds(labels, folds, seed=5))
  assert not np.array_equal(fold, oof.assign_folds(labels, folds, seed=6))


@pytest.mark.parametrize("folds", [1, 0, 11, 2.0, "3"])
def test_folds_reject_a_bad_count(folds):
  with pytest.raises(MislabelError):
    oof.assign_folds(np.arange(10) % 2, folds, seed=0)


# ----------------------------------------------------------------------------------
# per_model and fold_loss: the K stacked models are independent.


def _dense_params(key, models, dim, classes):
  kw, kb = jax.random.split(key)
  return {
    "w": jax.random.normal(kw, (models, dim, classes)),
    "b": jax.random.normal(kb, (models, classes)),
  }


def test_per_model_clips_and_steps_each_model_alone():
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
  stacked = _dense_params(jax.random.key(0), 2, 3, 4)
  alone = jax.tree.map(lambda x: x[0], stacked)
  state, state_alone = oof.per_model(tx).init(stacked), tx.init(alone)
  calm_state, shared_state = state, tx.init(stacked)
  update = jax.jit(oof.per_model(tx).update)
  update_alone = jax.jit(tx.update)
  for step in range(3):
    g = _dense_params(jax.random.key(1 + step), 2, 3, 4)
    # Model 0 has a gradient of norm ~5 (clipped to 1); model 1's is ~1e8 times it.
    huge = jax.tree.map(lambda x: x.at[1].multiply(1e8), g)
    g0 = jax.tree.map(lambda x: x[0], g)
    updates, state = update(huge, state, stacked)
    calm, calm_state = update(g, calm_state, stacked)
    updates_alone, state_alone = update_alone(g0, state_alone, alone)
    for name in ("w", "b"):
      # Bit for bit what model 0 gets when model 1's gradient is ordinary ...
      np.testing.assert_array_equal(updates[name][0], calm[name][0])
      # ... and what the optimizer gives model 0 trained alone (up to XLA's
      # rounding of a vmapped program, a few ulp).
      np.testing.assert_allclose(
        updates[name][0], updates_alone[name], rtol=1e-5, atol=1e-9
      )
    # Without per_model one norm covers both models: model 0's gradient is clipped
    # to ~1e-8 and (Adam's eps then dominating) its steps shrink.
    shared, shared_state = tx.update(huge, shared_state, stacked)
    assert np.max(np.abs(shared["w"][0])) < 0.5 * np.max(np.abs(updates["w"][0]))
    stacked = optax.apply_updates(stacked, updates)
    alone = optax.apply_updates(alone, updates_alone)
  # Each model keeps its own step count and moments.
  adam_state = state[1][0]
  assert adam_state.count.shape == (2,)
  np.testing.assert_allclose(
    adam_state.mu["w"][0], state_alone[1][0].mu["w"], rtol=1e-5, atol=1e-9
  )
  np.testing.assert_array_equal(adam_state.mu["w"][0], calm_state[1][0].mu["w"][0])


FOLDS, BATCH, DIM, CLASSES = 3, 12, 5, 3


def _dense_apply(params, audio, train=False, rngs=None):
  del train, rngs
  return audio @ params["w"] + params["b"]


@pytest.fixture(scope="module")
def dense_batch():
  rng = np.random.default_rng(0)
  return {
    "audio": jnp.asarray(rng.standard_normal((BATCH, DIM)), jnp.float32),
    "label": jnp.asarray(rng.integers(0, CLASSES, BATCH), jnp.int32),
    "fold": jnp.asarray(np.arange(BATCH) % FOLDS, jnp.int32),
  }


@pytest.fixture(scope="module", params=oof.STACKS)
def stack(request):
  return request.param


@pytest.fixture(scope="module")
def fold_grad(stack):
  loss_fn = oof.fold_loss(_dense_apply, FOLDS, stack)
  return jax.jit(jax.grad(lambda p, b: loss_fn(p, b, jax.random.key(0))[0]))


def test_the_stacks_agree(dense_batch):
  params = _dense_params(jax.random.key(6), FOLDS, DIM, CLASSES)
  key = jax.random.key(0)
  out = {
    s: jax.value_and_grad(oof.fold_loss(_dense_apply, FOLDS, s), has_aux=True)(
      params, dense_batch, key
    )
    for s in oof.STACKS
  }
  (a, _), ga = out["unroll"]
  (b, _), gb = out["vmap"]
  np.testing.assert_allclose(a, b, rtol=1e-6)
  for name in ("w", "b"):
    np.testing.assert_allclose(ga[name], gb[name], rtol=1e-5, atol=1e-7)
  with pytest.raises(MislabelError, match="stack"):
    oof.fold_loss(_dense_apply, FOLDS, "pmap")


def test_fold_loss_is_the_sum_of_each_models_out_of_fold_loss(
  dense_batch, fold_grad, stack
):
  params = _dense_params(jax.random.key(3), FOLDS, DIM, CLASSES)
  loss_fn = jax.jit(oof.fold_loss(_dense_apply, FOLDS, stack))
  total, metrics = loss_fn(params, dense_batch, jax.random.key(0))
  grads = fold_grad(params, dense_batch)
  reference = jax.jit(
    jax.value_and_grad(losses.classification_loss(_dense_apply), has_aux=True)
  )
  fold = np.asarray(dense_batch["fold"])
  per_model, accuracy = [], []
  for k in range(FOLDS):
    member = jax.tree.map(lambda x, k=k: x[k], params)
    out = {name: v[fold != k] for name, v in dense_batch.items()}
    (loss_k, _), grad_k = reference(member, out, jax.random.key(0))
    per_model.append(loss_k)
    logits = _dense_apply(member, dense_batch["audio"])
    accuracy.append(np.mean(np.argmax(logits, -1) == dense_batch["label"]))
    for name in ("w", "b"):
      np.testing.assert_allclose(grads[name][k], grad_k[name], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(total, sum(per_model), rtol=1e-6)
  np.testing.assert_allclose(metrics["loss_per_model"], np.mean(per_model), rtol=1e-6)
  np.testing.assert_allclose(metrics["accuracy"], np.mean(accuracy), rtol=1e-6)


@pytest.mark.parametrize("k", range(FOLDS))
def test_model_k_never_sees_the_labels_of_fold_k(dense_batch, fold_grad, k):
  params = _dense_params(jax.random.key(4), FOLDS, DIM, CLASSES)
  in_k = dense_batch["fold"] == k
  changed = dict(dense_batch)
  label, audio = dense_batch["label"], dense_batch["audio"]
  changed["label"] = jnp.where(in_k, (label + 1) % CLASSES, label)
  changed["audio"] = jnp.where(in_k[:, None], 100.0 * audio, audio)
  before, after = fold_grad(params, dense_batch), fold_grad(params, changed)
  for name in ("w", "b"):
    np.testing.assert_array_equal(before[name][k], after[name][k])
    for other in set(range(FOLDS)) - {k}:  # the other models do learn from fold k
      assert not np.allclose(before[name][other], after[name][other])


def test_a_batch_of_only_fold_k_gives_model_k_a_zero_gradient(
  dense_batch, fold_grad, stack
):
  params = _dense_params(jax.random.key(5), FOLDS, DIM, CLASSES)
  only_0 = dict(dense_batch, fold=jnp.zeros(BATCH, jnp.int32))
  loss_fn = oof.fold_loss(_dense_apply, FOLDS, stack)
  loss, _ = loss_fn(params, only_0, jax.random.key(0))
  assert np.isfinite(loss)
  grads = fold_grad(params, only_0)
  for name in ("w", "b"):
    assert not np.any(grads[name][0])
    assert np.all(np.abs(grads[name][1:]).sum(axis=tuple(range(1, grads[name].ndim))))


def test_a_zero_weight_leaves_an_example_out_of_every_model(dense_batch, fold_grad):
  params = _dense_params(jax.random.key(7), FOLDS, DIM, CLASSES)
  out = jnp.arange(BATCH) % 4 == 1  # examples of every fold
  weighted = dict(dense_batch, weight=jnp.where(out, 0.0, 1.0))
  label, audio = dense_batch["label"], dense_batch["audio"]
  changed = dict(
    weighted,
    label=jnp.where(out, (label + 1) % CLASSES, label),
    audio=jnp.where(out[:, None], 100.0 * audio, audio),
  )
  before, after = fold_grad(params, weighted), fold_grad(params, changed)
  plain = fold_grad(params, dense_batch)
  for name in ("w", "b"):
    np.testing.assert_array_equal(before[name], after[name])
    # Weights of 1 everywhere are the unweighted loss.
    ones = fold_grad(params, dict(dense_batch, weight=jnp.ones(BATCH)))
    np.testing.assert_allclose(ones[name], plain[name], rtol=1e-6, atol=1e-8)
    assert not np.allclose(before[name], plain[name])


def test_refit_weights_zero_exactly_what_cleanlab_flags(synthetic):
  noisy, probs, _ = synthetic
  for filter_by in ("prune_by_noise_rate", "both"):
    weight = mislabels.refit_weights(noisy, probs, filter_by)
    flagged = mislabels.flag_issues(noisy, probs, filter_by)
    assert weight.dtype == np.float32 and weight.shape == noisy.shape
    assert set(np.flatnonzero(weight == 0)) == set(flagged.tolist())
    assert np.all(np.isin(weight, (0.0, 1.0)))


# ----------------------------------------------------------------------------------
# Rankers and metrics.


@pytest.fixture(scope="module")
def synthetic():
  """400 examples of 4 classes, 10 % flipped; a model sure of the true class."""
  rng = np.random.default_rng(0)
  n, num_classes = 400, 4
  clean = rng.integers(0, num_classes, size=n)
  noisy, mask = mislabels.inject_label_noise(clean, num_classes, 0.1, seed=0)
  probs = rng.uniform(0.0, 1.0, size=(n, num_classes))
  probs[np.arange(n), clean] = 0.0
  rest = probs / probs.sum(1, keepdims=True)
  # p[true class] in [0.75, 0.95]; the rest spread over the others, so a flipped
  # example has p[given label] <= 0.25 and a clean one >= 0.75.
  p_true = rng.uniform(0.75, 0.95, size=n)
  probs = rest * (1 - p_true)[:, None]
  probs[np.arange(n), clean] = p_true
  return noisy, probs, mask


@pytest.mark.parametrize("method", sorted(mislabels.RANKERS))
def test_every_ranker_returns_a_permutation_with_the_flips_first(synthetic, method):
  noisy, probs, mask = synthetic
  ranking = mislabels.rank_issues(noisy, probs, method)
  assert ranking.dtype == np.int64
  np.testing.assert_array_equal(np.sort(ranking), np.arange(len(noisy)))
  k = int(mask.sum())
  assert mislabels.precision_at_k(ranking, mask, k) >= 0.9


def test_self_confidence_ranks_by_the_probability_of_the_given_label(synthetic):
  noisy, probs, mask = synthetic
  conf = mislabels.self_confidence(noisy, probs)
  np.testing.assert_array_equal(conf, probs[np.arange(len(noisy)), noisy])
  ranking = mislabels.rank_issues(noisy, probs, "self_confidence")
  assert np.all(np.diff(conf[ranking]) >= 0)
  k = int(mask.sum())
  assert set(ranking[:k]) == set(np.flatnonzero(mask))  # the flips are the least sure


@pytest.mark.parametrize("method", sorted(mislabels.FILTERS))
def test_cleanlab_rankers_put_cleanlabs_own_set_first(synthetic, method):
  noisy, probs, _ = synthetic
  filter_by = mislabels.FILTERS[method]
  expected = cleanlab.filter.find_label_issues(
    noisy,
    probs,
    filter_by=filter_by,
    return_indices_ranked_by="self_confidence",
    n_jobs=1,
  )
  flagged = mislabels.flag_issues(noisy, probs, filter_by)
  np.testing.assert_array_equal(flagged, expected)
  assert len(flagged) > 0
  ranking = mislabels.rank_issues(noisy, probs, method)
  np.testing.assert_array_equal(ranking[: len(flagged)], flagged)
  conf = mislabels.self_confidence(noisy, probs)
  assert np.all(np.diff(conf[ranking[len(flagged) :]]) >= 0)


def test_precision_and_recall_at_k_by_hand():
  ranking = np.array([3, 0, 4, 1, 2])
  mask = np.array([True, False, False, True, False])  # examples 0 and 3 are flipped
  expected = {1: (1.0, 0.5), 2: (1.0, 1.0), 3: (2 / 3, 1.0), 5: (0.4, 1.0)}
  for k, (precision, recall) in expected.items():
    assert mislabels.precision_at_k(ranking, mask, k) == precision
    assert mislabels.recall_at_k(ranking, mask, k) == recall
  worst = ranking[::-1]  # 2, 1, 4, 0, 3
  assert mislabels.precision_at_k(worst, mask, 3) == 0.0
  assert mislabels.recall_at_k(worst, mask, 4) == 0.5


@pytest.mark.parametrize("k", [0, 6, -1, 2.0, None])
def test_precision_and_recall_reject_a_bad_k(k):
  ranking, mask = np.arange(5), np.array([True, False, False, True, False])
  with pytest.raises(MislabelError):
    mislabels.precision_at_k(ranking, mask, k)
  with pytest.raises(MislabelError):
    mislabels.recall_at_k(ranking, mask, k)


def test_recall_is_undefined_without_flips():
  with pytest.raises(MislabelError, match="recall"):
    mislabels.recall_at_k(np.arange(4), np.zeros(4, bool), 2)
  assert mislabels.precision_at_k(np.arange(4), np.zeros(4, bool), 2) == 0.0


def test_evaluate_reports_every_ranker_at_the_noise_count(synthetic):
  noisy, probs, mask = synthetic
  out = mislabels.evaluate(noisy, probs, mask)
  k = int(mask.sum())
  methods, filters = sorted(mislabels.RANKERS), sorted(mislabels.FILTERS)
  assert set(methods) == {
    "self_confidence",
    "cleanlab",
    "cleanlab_both",
    "normalized_margin",
  }
  expected_keys = {"num_examples", "num_noisy", "k"}
  for m in methods:
    expected_keys |= {
      f"{m}_precision_at_k",
      f"{m}_recall_at_k",
      f"{m}_average_precision",
    }
  for f in filters:
    expected_keys |= {f"{f}_flagged", f"{f}_flagged_precision", f"{f}_flagged_recall"}
  assert set(out) == expected_keys
  assert out["num_examples"] == len(noisy)
  assert out["num_noisy"] == out["k"] == k == 40
  for m in methods:
    ranking = mislabels.rank_issues(noisy, probs, m)
    assert out[f"{m}_precision_at_k"] == out[f"{m}_recall_at_k"]
    assert out[f"{m}_precision_at_k"] == mislabels.precision_at_k(ranking, mask, k)
    assert 0.0 <= out[f"{m}_average_precision"] <= 1.0
  # Every flip is below every clean example in self-confidence: a perfect ranking.
  assert out["self_confidence_precision_at_k"] == 1.0
  assert out["self_confidence_average_precision"] == pytest.approx(1.0)
  for f in filters:
    flagged = mislabels.flag_issues(noisy, probs, mislabels.FILTERS[f])
    hits = int(mask[flagged].sum())
    assert out[f"{f}_flagged"] == len(flagged)
    assert out[f"{f}_flagged_precision"] == hits / len(flagged)
    assert out[f"{f}_flagged_recall"] == hits / k
  assert out["cleanlab_both_flagged"] <= out["cleanlab_flagged"]


def test_rankers_and_evaluate_reject_mismatched_shapes(synthetic):
  noisy, probs, mask = synthetic
  with pytest.raises(MislabelError):
    mislabels.evaluate(noisy[:-1], probs, mask)
  with pytest.raises(MislabelError):
    mislabels.evaluate(noisy, probs, mask[:-1])
  with pytest.raises(MislabelError):
    mislabels.evaluate(noisy, probs[:, 0], mask)
  with pytest.raises(MislabelError):
    mislabels.evaluate(noisy, probs, np.zeros_like(mask))  # nothing flipped
  with pytest.raises(MislabelError):
    mislabels.evaluate(np.full_like(noisy, 4), probs, mask)  # label 4 of 4 classes
  for method in mislabels.RANKERS:
    with pytest.raises(MislabelError):
      mislabels.rank_issues(noisy, probs[1:], method)
  with pytest.raises(UnknownNameError):
    mislabels.rank_issues(noisy, probs, "confident_joint")


# ----------------------------------------------------------------------------------
# End to end: fold models of the tiny classifier on three separable tones.

SAMPLE_RATE, CLIP, PER_CLASS, E2E_FOLDS = 16000, 4096, 30, 3


def _tones(seed):
  """Sines near 250 Hz, 1 kHz and 4 kHz (+-10 %), random phase and level."""
  rng = np.random.default_rng(seed)
  t = np.arange(CLIP) / SAMPLE_RATE
  audio, labels = [], []
  for label, freq in enumerate((250.0, 1000.0, 4000.0)):
    for _ in range(PER_CLASS):
      f = freq * rng.uniform(0.9, 1.1)
      x = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
      audio.append(x + 0.01 * rng.standard_normal(CLIP))
      labels.append(label)
  return np.asarray(audio, np.float32), np.asarray(labels)


def _config():
  from experiments import classifier

  config = classifier.get_config("tiny")
  config.total_steps = 60
  config.batch_size = 16
  config.log_every = 20
  config.checkpoint_every = 0
  config.eval_every = 0
  return config


@pytest.fixture(scope="module")
def tones_run(tmp_path_factory):
  audio, clean = _tones(0)
  noisy, mask = mislabels.inject_label_noise(clean, 3, 0.1, seed=1)
  workdir = str(tmp_path_factory.mktemp("mislabels"))
  kwargs = dict(
    num_classes=3, sample_rate=SAMPLE_RATE, workdir=workdir, folds=E2E_FOLDS
  )
  probs = oof.out_of_fold_probs(_config(), audio, noisy, **kwargs)
  return dict(
    audio=audio, clean=clean, noisy=noisy, mask=mask, probs=probs, kwargs=kwargs
  )


def test_out_of_fold_probs_are_saved_distributions(tones_run):
  probs, workdir = tones_run["probs"], tones_run["kwargs"]["workdir"]
  assert probs.shape == (3 * PER_CLASS, 3) and probs.dtype == np.float64
  assert np.all(probs >= 0)
  np.testing.assert_allclose(probs.sum(1), 1.0, rtol=0, atol=1e-12)
  np.testing.assert_array_equal(np.load(os.path.join(workdir, "pred_probs.npy")), probs)
  with open(os.path.join(workdir, oof.RUN_FILE)) as f:
    record = json.load(f)
  assert record["num_examples"] == 3 * PER_CLASS and record["folds"] == E2E_FOLDS
  assert record["clip_samples"] == CLIP and record["num_classes"] == 3


def test_rerun_restores_the_same_models_without_training(tones_run, monkeypatch):
  run, kwargs = tones_run, tones_run["kwargs"]
  metrics = os.path.join(kwargs["workdir"], "metrics.jsonl")
  with open(metrics) as f:
    logged = f.read()

  def no_training(*args, **kw):
    raise AssertionError("a finished run trained again")

  restored = []

  def keep(*args, _train=oof.train_fold_models, **kw):
    restored.append(_train(*args, **kw))
    return restored[-1]

  monkeypatch.setattr(loop, "train_step", no_training)
  monkeypatch.setattr(oof, "train_fold_models", keep)
  saved = os.path.join(kwargs["workdir"], "pred_probs.npy")
  os.remove(saved)
  again = oof.out_of_fold_probs(_config(), run["audio"], run["noisy"], **kwargs)
  np.testing.assert_array_equal(again, run["probs"])
  np.testing.assert_array_equal(np.load(saved), run["probs"])
  with open(metrics) as f:
    assert f.read() == logged
  (models,) = restored
  # Row i comes from the model of example i's fold, the one that never saw label i.
  assert models.folds == E2E_FOLDS
  np.testing.assert_array_equal(
    models.fold, oof.assign_folds(run["noisy"], E2E_FOLDS, _config().seed)
  )
  rows = [int(np.flatnonzero(models.fold == k)[0]) for k in range(E2E_FOLDS)]
  x = run["audio"][rows]
  probs_fn = jax.jit(lambda p, x: jax.nn.softmax(models.model.apply(p, x), axis=-1))
  own = [probs_fn(models.member(k), x) for k in range(E2E_FOLDS)]
  for j, (i, k) in enumerate(zip(rows, range(E2E_FOLDS), strict=True)):
    np.testing.assert_allclose(run["probs"][i], own[k][j], rtol=1e-5, atol=1e-6)
    other = (k + 1) % E2E_FOLDS
    assert not np.allclose(run["probs"][i], own[other][j], rtol=1e-5, atol=1e-6)


def test_shifted_probs_are_the_mean_over_circular_time_shifts(tones_run):
  run, kwargs = tones_run, tones_run["kwargs"]
  models = oof.train_fold_models(_config(), run["audio"], run["noisy"], **kwargs)
  audio, batch = run["audio"], _config().batch_size  # the saved probs' batches
  np.testing.assert_array_equal(
    models.out_of_fold_probs(audio, batch, shifts=1), run["probs"]
  )
  tta = models.out_of_fold_probs(audio, batch, shifts=2)
  np.testing.assert_allclose(tta.sum(1), 1.0, rtol=0, atol=1e-12)
  # By hand for one clip of each fold: its own model on the clip and on the clip
  # rolled by half its length.
  probs_fn = jax.jit(lambda p, x: jax.nn.softmax(models.model.apply(p, x), axis=-1))
  for k in range(E2E_FOLDS):
    i = int(np.flatnonzero(models.fold == k)[0])
    x = np.stack([audio[i], np.roll(audio[i], CLIP // 2)])
    expected = np.mean(np.asarray(probs_fn(models.member(k), x), np.float64), axis=0)
    np.testing.assert_allclose(tta[i], expected / expected.sum(), rtol=1e-5, atol=1e-6)
  saved = oof.out_of_fold_probs(_config(), audio, run["noisy"], shifts=2, **kwargs)
  np.testing.assert_array_equal(saved, tta)
  workdir = kwargs["workdir"]
  np.testing.assert_array_equal(np.load(f"{workdir}/pred_probs_shifts2.npy"), tta)
  np.testing.assert_array_equal(np.load(f"{workdir}/pred_probs.npy"), run["probs"])
  for bad in (0, 1.5, CLIP + 1):
    with pytest.raises(MislabelError, match="shifts"):
      models.out_of_fold_probs(audio, batch, shifts=bad)


def test_a_workdir_of_other_data_is_refused(tones_run):
  run, kwargs = tones_run, tones_run["kwargs"]
  config, audio, noisy = _config(), run["audio"], run["noisy"]
  with pytest.raises(MislabelError, match="other data"):
    oof.train_fold_models(config, audio, run["clean"], **kwargs)
  with pytest.raises(MislabelError, match="other data"):
    oof.train_fold_models(config, 0.5 * audio, noisy, **kwargs)
  shifted = (oof.assign_folds(noisy, E2E_FOLDS, config.seed) + 1) % E2E_FOLDS
  with pytest.raises(MislabelError, match="other data"):
    oof.train_fold_models(config, audio, noisy, fold=shifted, **kwargs)
  with pytest.raises(MislabelError, match="other data"):
    oof.out_of_fold_probs(config, audio, noisy, **dict(kwargs, folds=5))
  # Training weights are part of the data: a second pass needs its own workdir.
  weight = np.ones(len(noisy), np.float32)
  with pytest.raises(MislabelError, match="other data"):
    oof.train_fold_models(config, audio, noisy, weight=weight, **kwargs)


def test_bad_training_arguments_are_refused(tmp_path, tones_run):
  config, audio, noisy = _config(), tones_run["audio"], tones_run["noisy"]
  kwargs = dict(tones_run["kwargs"], workdir=str(tmp_path))
  with pytest.raises(MislabelError):
    oof.train_fold_models(config, audio[:-1], noisy, **kwargs)
  with pytest.raises(MislabelError):
    oof.train_fold_models(config, audio[:, None], noisy, **kwargs)
  with pytest.raises(MislabelError):  # fold id 2 unused with folds=3
    oof.train_fold_models(config, audio, noisy, fold=np.arange(90) % 2, **kwargs)
  with pytest.raises(MislabelError):
    oof.train_fold_models(config, audio, noisy + 3, **kwargs)
  for weight in (np.ones(89), np.full(90, 2.0), -np.ones(90)):
    with pytest.raises(MislabelError, match="weight"):
      oof.train_fold_models(config, audio, noisy, weight=weight, **kwargs)
  assert os.listdir(tmp_path) == []  # nothing claimed by a refused run


def test_cleanlab_finds_the_flips_of_separable_tones(tones_run):
  run = tones_run
  out = mislabels.evaluate(run["noisy"], run["probs"], run["mask"])
  print(
    "precision@k:",
    {m: round(out[f"{m}_precision_at_k"], 3) for m in mislabels.RANKERS},
  )
  assert out["k"] == 9
  # The models learn the tones: most out-of-fold predictions are the true class.
  assert np.mean(run["probs"].argmax(1) == run["clean"]) >= 0.9
  # Far above the 10 % a random ranking would get.
  assert out["cleanlab_precision_at_k"] >= 0.6
  assert out["self_confidence_precision_at_k"] >= 0.6
  assert out["cleanlab_flagged_precision"] >= 0.6
