"""Training augmentations: each does what its paper says, only in training."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from audiojax.models.classifier import build_classifier
from audiojax.train import augment, losses
from experiments import classifier


def _cfg(**kw):
  c = classifier.get_config("tiny").augment
  for k, v in kw.items():
    c[k] = v
  return c


def _dense_apply(params, audio, train=False, rngs=None):
  del train, rngs
  return audio @ params["w"]


def test_no_augmentation_is_the_loss_itself():
  base = losses.classification_loss(_dense_apply)
  assert augment.wrap(base, _cfg()) is base
  assert augment.wrap(base, None) is base
  assert augment.spec_augment_fn(_cfg()) is None


def test_noise_lands_in_its_snr_range_per_clip():
  audio = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (64, 4000)))
  noisy = augment.add_noise(audio, jax.random.key(1), 10.0, 20.0)
  snr = 10 * np.log10(np.sum(audio**2, 1) / np.sum((noisy - audio) ** 2, 1))
  assert snr.min() > 9.5 and snr.max() < 20.5 and snr.std() > 1.0  # spread over it


def test_mixup_is_the_label_mix_of_the_cross_entropy_of_the_mixed_batch():
  rng = np.random.default_rng(0)
  batch = {
    "audio": jnp.asarray(rng.standard_normal((16, 6)), jnp.float32),
    "label": jnp.asarray(rng.integers(0, 3, 16), jnp.int32),
  }
  params = {"w": jnp.asarray(rng.standard_normal((6, 3)), jnp.float32)}
  base = losses.classification_loss(_dense_apply)
  loss_fn = augment.wrap(base, _cfg(mixup_alpha=0.4))
  key = jax.random.key(3)
  loss, _ = loss_fn(params, batch, key)
  _, k_lam, k_perm, _ = jax.random.split(key, 4)
  lam = jax.random.beta(k_lam, 0.4, 0.4)
  perm = jax.random.permutation(k_perm, 16)
  mixed = lam * batch["audio"] + (1 - lam) * batch["audio"][perm]
  logits = mixed @ params["w"]
  soft = lam * jax.nn.one_hot(batch["label"], 3) + (1 - lam) * jax.nn.one_hot(
    batch["label"][perm], 3
  )
  expected = optax.softmax_cross_entropy(logits, soft).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert 0.0 < float(lam) < 1.0 and not np.array_equal(perm, np.arange(16))


def test_spec_augment_masks_whole_bands_of_at_most_the_width():
  x = jnp.asarray(np.random.default_rng(0).uniform(1, 2, (32, 40, 20)), jnp.float32)
  out = np.asarray(
    augment.spec_augment(
      x, jax.random.key(0), freq_masks=2, freq_width=5, time_masks=1, time_width=8
    )
  )
  masked = out != np.asarray(x)  # values in [1, 2]: none equals the fill by chance
  mean = np.asarray(x).mean(axis=(1, 2))
  for i in range(32):
    np.testing.assert_allclose(out[i][masked[i]], mean[i], rtol=1e-6)  # the fill
    rows = masked[i].all(axis=1)  # time frames masked over every bin
    cols = masked[i].all(axis=0)  # bins masked over every frame
    assert rows.sum() <= 8 and cols.sum() <= 2 * 5
    assert np.array_equal(masked[i], rows[:, None] | cols[None, :])
  assert masked.any(axis=(1, 2)).mean() > 0.8  # most clips get some mask


def test_spec_augment_acts_inside_the_model_in_training_only():
  config = classifier.get_config("tiny")
  config.augment.specaugment = dict(
    freq_masks=2, freq_width=8, time_masks=2, time_width=6
  )
  model = build_classifier(config, num_classes=3, sample_rate=16000)
  plain = build_classifier(
    ml_collections.ConfigDict({**config.to_dict(), "augment": _cfg().to_dict()}),
    num_classes=3,
    sample_rate=16000,
  )
  x = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (4, 8000)), jnp.float32)
  params = model.init(jax.random.key(0), x)
  rngs = {"dropout": jax.random.key(1)}
  np.testing.assert_array_equal(model.apply(params, x), plain.apply(params, x))
  np.testing.assert_array_equal(
    model.apply(params, x, train=False, rngs=rngs), plain.apply(params, x)
  )
  assert not np.allclose(
    model.apply(params, x, train=True, rngs=rngs),
    plain.apply(params, x, train=True, rngs=rngs),
  )


@pytest.mark.parametrize(
  "change",
  [
    dict(noise_snr_db=(20.0, 10.0)),
    dict(noise_snr_db=(10.0,)),
    dict(mixup_alpha=-1.0),
  ],
)
def test_bad_settings_are_refused(change):
  with pytest.raises(ValueError):
    augment.wrap(losses.classification_loss(_dense_apply), _cfg(**change))
