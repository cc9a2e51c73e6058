"""Many unlearning runs over seeds, the seed axis sharded over 8 forced host devices,
give what one run per seed gives on one device."""

import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    assert len(jax.devices()) == 8, jax.devices()
    from audiojax import frontends, unlearning
    from audiojax.data import pipeline
    from audiojax.models import MODELS
    from audiojax.models.classifier import WaveformClassifier
    from audiojax.unlearning import many

    rng = np.random.default_rng(0)
    def data(n):
      label = rng.integers(0, 3, n).astype(np.int32)
      x = np.sin(np.arange(32)[None] * (label[:, None] + 1) / 4)
      x = x + 0.3 * rng.normal(size=(n, 32))
      return {"audio": jnp.asarray(x, jnp.float32), "label": jnp.asarray(label)}
    retain, forget = data(24), data(8)
    model = WaveformClassifier(frontends.FRONTENDS.get("raw")(sample_rate=250),
                               MODELS.get("resnet1d_18_tiny")(num_classes=3))
    params = model.init(jax.random.key(0), retain["audio"][:1])

    def fn(key, params, retain, forget):
      out = unlearning.unlearn("random_labels", params, model.apply, retain, forget,
                               key, steps=3, batch_size=8)
      return model.apply(out, forget["audio"])

    keys = jax.random.split(jax.random.key(1), 8)
    args = (params, retain, forget)
    loop = np.asarray(many.over_seeds(fn, keys, args=args, inner="loop"))  # 1 device
    out = {"loop": loop.tolist()}
    for inner in ("map", "vmap"):
      mesh = pipeline.make_mesh(8)
      got = many.over_seeds(fn, keys, args=args, mesh=mesh, inner=inner)
      assert len(got.sharding.device_set) == 8
      out[inner] = np.asarray(got).tolist()
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_seed_axis_over_eight_devices_matches_one_run_per_seed(on_forced_devices):
  out = on_forced_devices(SCRIPT)
  loop = np.array(out["loop"])
  assert loop.shape == (8, 8, 3)
  # Different seeds, different runs.
  assert np.abs(loop[0] - loop[1]).max() > 1e-3
  for inner in ("map", "vmap"):
    np.testing.assert_allclose(np.array(out[inner]), loop, rtol=1e-4, atol=1e-4)
