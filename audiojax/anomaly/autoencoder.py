"""The DCASE 2020 Task 2 baseline as a detector: a log-mel autoencoder's reconstruction
error.

Features as in the baseline: a 64-band log-mel power spectrogram (``n_fft=1024``,
``hop_length=512``, ``10 log10``), 5 consecutive frames flattened into one 320-dim
vector per hop. Each dimension is standardised with the training vectors' mean and
standard deviation (the baseline's BatchNorm does this inside the network), the
:class:`audiojax.models.autoencoder.DenseAutoencoder` is trained on them with the
shared loop (:func:`audiojax.train.loop.train`, so the fit is logged, checkpointed and
resumable in ``workdir``), and a clip's score is the mean squared reconstruction error
over its vectors, as the baseline scores a machine sound.
"""

from __future__ import annotations

import functools
import os
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax import features
from audiojax.anomaly import base
from audiojax.data import pipeline
from audiojax.data.source import ArraySource
from audiojax.models.autoencoder import DenseAutoencoder
from audiojax.train import checkpoint as ckpt_lib
from audiojax.train import loop, optim


@functools.partial(
  jax.jit, static_argnames=("sample_rate", "n_mels", "n_fft", "hop_length", "context")
)
def logmel_vectors(
  x: jax.Array,
  sample_rate: int,
  n_mels: int = 64,
  n_fft: int = 1024,
  hop_length: int = 512,
  context: int = 5,
) -> jax.Array:
  """``[clips, samples] -> [clips, vectors, context * n_mels]``: its input."""
  mel = features.melspectrogram(
    y=x, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
  )
  logmel = 10.0 * jnp.log10(mel + 1e-10)  # [clips, n_mels, frames]
  frames = logmel.shape[-1]
  if frames < context:
    raise ValueError(f"{frames} frames are fewer than the context of {context}")
  windows = [logmel[..., t : frames - context + 1 + t] for t in range(context)]
  return jnp.moveaxis(jnp.concatenate(windows, axis=-2), -1, -2)


class AutoencoderDetector(base.Detector):
  """Mean reconstruction error of the DCASE 2020 baseline autoencoder.

  Config:
    n_mels, n_fft, hop_length, context: the features (the baseline's 64, 1024, 512, 5).
    hidden, bottleneck: the network (four layers of 128, a code of 8).
    steps, batch_size, learning_rate: training (Adam; batches of feature vectors).
    workdir: where the loop keeps its checkpoints and metrics (a temporary directory
      by default); rerunning ``fit`` on the same ``workdir`` resumes.
  """

  name = "autoencoder"
  defaults = dict(
    n_mels=64,
    n_fft=1024,
    hop_length=512,
    context=5,
    hidden=(128, 128, 128, 128),
    bottleneck=8,
    steps=1000,
    batch_size=512,
    learning_rate=1e-3,
    seed=0,
    workdir=None,
  )

  @property
  def model(self) -> DenseAutoencoder:
    return DenseAutoencoder(
      hidden=tuple(self.config["hidden"]), bottleneck=self.config["bottleneck"]
    )

  def _vectors(self, audio: np.ndarray) -> jax.Array:
    c = self.config
    return logmel_vectors(
      jnp.asarray(audio),
      self.sample_rate,
      c["n_mels"],
      c["n_fft"],
      c["hop_length"],
      c["context"],
    )

  def _fit(self, audio: np.ndarray, key) -> None:
    c = self.config
    vectors = np.concatenate(
      [np.asarray(self._vectors(audio[i : i + 64])) for i in range(0, len(audio), 64)]
    )
    vectors = vectors.reshape(-1, vectors.shape[-1])
    self.mean = vectors.mean(axis=0)
    self.std = vectors.std(axis=0) + 1e-3
    data = pipeline.TrainIterator(
      ArraySource({"x": ((vectors - self.mean) / self.std).astype(np.float32)}),
      min(c["batch_size"], len(vectors)),
      seed=c["seed"],
    )
    model = self.model

    def loss_fn(params, batch, key):
      del key
      error = jnp.mean((model.apply(params, batch["x"]) - batch["x"]) ** 2)
      return error, {}

    dim = vectors.shape[-1]
    task = loop.Task(
      init_params=lambda k: model.init(k, jnp.zeros((1, dim), jnp.float32)),
      loss_fn=loss_fn,
      train_data=data,
    )
    opt = ml_collections.ConfigDict(
      dict(
        total_steps=c["steps"],
        optimizer=dict(
          learning_rate=c["learning_rate"],
          warmup_steps=min(50, c["steps"] // 10),
          final_lr_fraction=0.1,
          weight_decay=0.0,
          grad_clip=10.0,
          ema_decay=0.0,
        ),
      )
    )
    tx, schedule = optim.make_optimizer(opt)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1)) if key is not None else 0
    config = loop.LoopConfig(
      total_steps=c["steps"],
      log_every=min(100, c["steps"]),
      seed=seed,
      progress=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
      state, _ = loop.train(
        task,
        tx,
        config,
        c["workdir"] or tmp,
        mesh=pipeline.make_mesh(1),
        schedule=schedule,
      )
    self.params = jax.device_get(state.params)

  @functools.cached_property
  def _errors(self):
    model = self.model
    mean, std = jnp.asarray(self.mean), jnp.asarray(self.std)

    @jax.jit
    def errors(params, vectors):
      z = (vectors - mean) / std
      return jnp.mean((model.apply(params, z) - z) ** 2, axis=(-2, -1))

    return errors

  def _score(self, audio: np.ndarray) -> np.ndarray:
    return np.asarray(self._errors(self.params, self._vectors(audio)))

  def _save_state(self, directory: str) -> None:
    base.save_arrays(directory, mean=self.mean, std=self.std)
    checkpointer = ckpt_lib.Checkpointer(os.path.join(directory, "params"))
    checkpointer.save(0, {"params": self.params}, {"dim": int(self.mean.shape[0])})
    checkpointer.close()

  def _load_state(self, directory: str) -> None:
    state = base.load_arrays(directory)
    self.mean, self.std = state["mean"], state["std"]
    template = self.model.init(
      jax.random.key(0), jnp.zeros((1, self.mean.shape[0]), jnp.float32)
    )
    checkpointer = ckpt_lib.Checkpointer(os.path.join(directory, "params"))
    try:
      self.params = checkpointer.restore_params(template)
    finally:
      checkpointer.close()
