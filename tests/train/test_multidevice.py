"""The same steps on 8 forced host devices and on 1 device give the same losses."""

import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, json
    import jax, jax.numpy as jnp, numpy as np, optax
    assert len(jax.devices()) == 8, jax.devices()
    from audiojax import frontends, models
    from audiojax.data import pipeline
    from audiojax.data.source import ArraySource, AudioSplit
    from audiojax.models.classifier import WaveformClassifier
    from audiojax.train import losses
    from audiojax.train.state import TrainState
    from audiojax.train.steps import train_step

    # 16 clips, one batch: each step sees the same examples, so the loss must fall.
    rng = np.random.default_rng(0)
    label = np.arange(16) % 4
    t = np.arange(4000) / 16000
    audio = (0.5 * np.sin(2 * np.pi * 300 * (label[:, None] + 1) * t)
             + 0.1 * rng.normal(size=(16, 4000))).astype(np.float32)
    split = AudioSplit(ArraySource({"audio": audio, "label": label}), "label",
                       tuple("abcd"), 16000, 4000)
    mel = frontends.FRONTENDS.get("mel")(sample_rate=16000)
    model = WaveformClassifier(frontend=mel,
                               backbone=models.MODELS.get("mel_cnn_tiny")(num_classes=4))
    loss_fn = losses.classification_loss(model.apply)
    # Host copy: each run's state is donated to its steps.
    params0 = jax.device_get(model.init(jax.random.key(0), audio[:1]))
    out = {}
    for n in (1, 8):
      mesh = pipeline.make_mesh(n)
      state = pipeline.replicate(
          TrainState.create(params0, optax.adam(3e-3), jax.random.key(1)), mesh)
      it = pipeline.TrainIterator(split, 16, seed=0)
      losses = []
      for _ in range(6):
        state, m = train_step(state, pipeline.shard_batch(next(it), mesh), loss_fn)
        losses.append(float(m["loss"]))
      out[n] = losses
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_eight_devices_match_one(on_forced_devices):
  losses = on_forced_devices(SCRIPT)
  one, eight = losses["1"], losses["8"]
  assert len(one) == len(eight) == 6
  assert one[-1] < 0.9 * one[0]  # The steps do train.
  for a, b in zip(one, eight, strict=True):
    assert abs(a - b) <= 1e-6, (one, eight)
