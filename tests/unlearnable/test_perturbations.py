"""CUDA and PosCUDA: pure functions of (clips, labels, key, knobs) that do what
their papers say, parametrised over the registry where a property is shared."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.registry import UnknownNameError
from audiojax.unlearnable import PERTURBATIONS, UnlearnableError, cuda, poscuda
from audiojax.unlearnable import blur as blur_lib
from audiojax.unlearnable.poscuda import class_slots, patch_weight

SAMPLES, CLASSES = 2000, 5
# Small knobs so every class's patches fit a 2000-sample clip (10 slots of 200).
KNOBS = {
  "cuda": dict(kernel_size=7, blur=0.5),
  "poscuda": dict(kernel_size=7, blur=0.5, patch_samples=200, num_patches=3),
}


def _batch(seed=0, n=2 * CLASSES):
  """Clips with energy at every frequency (a blur must change them), labels 0..4."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(-0.9, 0.9, (n, SAMPLES)).astype(np.float32)
  y = np.arange(n, dtype=np.int32) % CLASSES
  return x, y


@pytest.fixture(params=sorted(PERTURBATIONS))
def method(request):
  return request.param


def _apply(method, x, y, key, **extra):
  return np.asarray(PERTURBATIONS.get(method)(x, y, key, **{**KNOBS[method], **extra}))


def test_the_same_key_gives_the_same_output_and_another_key_another(method):
  x, y = _batch()
  a = _apply(method, x, y, jax.random.key(0))
  np.testing.assert_array_equal(a, _apply(method, x, y, jax.random.key(0)))
  assert not np.allclose(a, _apply(method, x, y, jax.random.key(1)))


def test_each_clip_depends_on_itself_its_label_and_the_key_only(method):
  """Any batch order or batch size gives every clip the same output."""
  x, y = _batch()
  key = jax.random.key(3)
  whole = _apply(method, x, y, key)
  perm = np.random.default_rng(1).permutation(len(x))
  np.testing.assert_allclose(
    _apply(method, x[perm], y[perm], key), whole[perm], rtol=0, atol=1e-7
  )
  np.testing.assert_allclose(
    _apply(method, x[3:4], y[3:4], key), whole[3:4], rtol=0, atol=1e-7
  )


def test_output_keeps_shape_dtype_and_range_and_is_finite(method):
  x, y = _batch()
  x[0] = np.sign(x[0])  # a clip at full scale
  out = _apply(method, x, y, jax.random.key(0))
  assert out.shape == x.shape and out.dtype == np.float32
  assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
  # The blur is a low-pass: it takes energy from the top of the band.
  spectrum = lambda a: np.abs(np.fft.rfft(a, axis=1))[:, SAMPLES // 4 :].sum()
  assert spectrum(out) < 0.9 * spectrum(x)


def test_classes_get_different_filters_and_positions():
  key = jax.random.key(0)
  filters = [
    np.asarray(blur_lib.class_filter(key, c, kernel_size=7, blur=0.5))
    for c in range(CLASSES)
  ]
  for f in filters:
    np.testing.assert_allclose(f.sum(), 1.0, rtol=1e-6)
    assert np.all(f > 0)
  assert len({f.tobytes() for f in filters}) == CLASSES
  slots = [
    tuple(sorted(np.asarray(class_slots(key, c, num_slots=10, num_patches=3))))
    for c in range(CLASSES)
  ]
  assert len(set(slots)) == CLASSES
  for s in slots:
    assert len(set(s)) == 3 and 0 <= min(s) and max(s) < 10  # distinct slots


def test_cuda_is_numpy_convolution_with_the_class_filter():
  x, y = _batch()
  key = jax.random.key(5)
  out = _apply("cuda", x, y, key)
  for i in range(len(x)):
    taps = np.asarray(blur_lib.class_filter(key, y[i], **KNOBS["cuda"]))
    np.testing.assert_allclose(
      out[i], np.clip(np.convolve(x[i], taps, mode="same"), -1, 1), atol=2e-6
    )


@pytest.mark.parametrize("fade", [0, 30])
def test_poscuda_changes_only_its_class_patches(fade):
  x, y = _batch()
  key = jax.random.key(2)
  out = _apply("poscuda", x, y, key, fade=fade)
  knobs = KNOBS["poscuda"]
  for i in range(len(x)):
    slots = np.asarray(class_slots(key, y[i], num_slots=10, num_patches=3))
    inside = np.isin(np.arange(SAMPLES) // 200, slots)
    np.testing.assert_array_equal(out[i][~inside], x[i][~inside])  # bit for bit
    changed = out[i] != x[i]
    assert changed[inside].mean() > 0.95 - 2 * fade / 200  # the ramps' ends
    taps = np.asarray(
      blur_lib.class_filter(key, y[i], kernel_size=7, blur=knobs["blur"])
    )
    blurred = np.convolve(x[i], taps, mode="same")
    w = np.asarray(
      patch_weight(jnp.asarray(slots), samples=SAMPLES, patch_samples=200, fade=fade)
    )
    np.testing.assert_allclose(out[i], x[i] + w * (blurred - x[i]), atol=2e-6)
    # Exactly num_patches * patch_samples samples carry weight, none past a patch.
    assert np.count_nonzero(w) == 3 * 200 and np.all(w[~inside] == 0)
    if fade:
      assert (
        w[inside].min() < 0.1 and np.max(np.abs(np.diff(w))) <= 1 / (fade + 1) + 1e-6
      )


def test_poscuda_clips_of_one_class_share_their_patches():
  x, y = _batch(n=8)
  y[:] = 2
  out = _apply("poscuda", x, y, jax.random.key(4))
  changed = out != x
  patches = changed.any(axis=0)
  assert patches.sum() == 3 * 200
  np.testing.assert_array_equal(changed.sum(0) > 0, patches)


def test_the_tail_past_the_last_whole_slot_is_never_blurred():
  x, y = _batch()
  x = np.concatenate([x, x[:, :150]], axis=1)  # 2150 samples: 10 slots + 150
  for seed in range(4):
    out = np.asarray(
      poscuda(
        x,
        y,
        jax.random.key(seed),
        patch_samples=200,
        num_patches=10,
        kernel_size=7,
        blur=0.5,
      )
    )
    np.testing.assert_array_equal(out[:, 2000:], x[:, 2000:])
    # Ten slots of ten are patches: all of the first 2000 samples are blurred.
    assert np.mean(out[:, :2000] != x[:, :2000]) > 0.95


def test_a_smaller_blur_changes_less():
  x, y = _batch()
  key = jax.random.key(0)
  change = [
    np.abs(_apply("poscuda", x, y, key, blur=b) - x).mean() for b in (0.05, 0.3, 1.0)
  ]
  assert change[0] < change[1] < change[2]


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=2.5), "kernel_size"),
    (dict(blur=0.0), "blur"),
    (dict(blur=-1), "blur"),
    (dict(center=-1.0), "center"),
    (dict(patch_samples=0), "patch_samples"),
    (dict(num_patches=11), "do not fit"),
    (dict(num_patches=0), "num_patches"),
    (dict(fade=101), "fade"),
  ],
)
def test_bad_knobs_are_refused(kwargs, match):
  x, y = _batch()
  with pytest.raises(UnlearnableError, match=match):
    _apply("poscuda", x, y, jax.random.key(0), **kwargs)


def test_bad_batches_are_refused(method):
  x, y = _batch()
  key = jax.random.key(0)
  with pytest.raises(UnlearnableError, match="x must be"):
    _apply(method, x[0], y, key)
  with pytest.raises(UnlearnableError, match="y must be"):
    _apply(method, x, y[:-1], key)
  with pytest.raises(UnlearnableError, match="y must be"):
    _apply(method, x, y.astype(np.float32), key)
  with pytest.raises(UnknownNameError, match="cuda, poscuda"):
    PERTURBATIONS.get("posCUDA")


def test_the_contract_names_are_the_registry_entries():
  assert PERTURBATIONS.get("cuda") is cuda and PERTURBATIONS.get("poscuda") is poscuda
