"""How audible a protection is, and what it looks and sounds like.

* :func:`protection_quality`: SNR, log-spectral distance and wide-band PESQ of the
  protected clips against their originals (:mod:`audiojax.quality`), and a Fréchet
  embedding distance between the clean and the protected set. PosCUDA's paper reports
  FAD, the Fréchet distance in VGGish's embedding; VGGish cannot be downloaded here,
  so the embedding is a classifier trained here on the clean clips (its penultimate
  layer): the numbers compare settings of this project, not papers. Beside it, the
  distance between the two halves of the clean set (different clips, half as many:
  a scale for the paired number, not a lower bound of it).
* :func:`write_examples`: before/after log-mel spectrogram PNGs and WAV pairs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiojax import audio as audio_lib
from audiojax import features, quality
from audiojax.evaluators.frechet import frechet_distance

EmbedFn = Callable[[jax.Array], jax.Array]


def _embed(fn: EmbedFn, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
  rows = range(0, len(x), batch_size)
  return np.concatenate(
    [np.asarray(fn(jnp.asarray(x[i : i + batch_size]))) for i in rows]
  )


def protection_quality(
  clean: np.ndarray,
  protected: np.ndarray,
  sample_rate: int,
  embed_fn: EmbedFn | None = None,
) -> dict[str, Any]:
  """Quality of ``protected`` against ``clean`` (``[N, T]``, row i the same clip).

  Only rows that changed count (a poison rate below 1 leaves clips untouched); the
  Fréchet distance compares the whole sets.

  Returns:
    :func:`audiojax.quality.summary`'s numbers, ``changed`` (rows), and with
    ``embed_fn`` ``frechet`` and ``frechet_floor`` (clean first half vs second
    half).
  """
  clean = np.asarray(clean, np.float32)
  protected = np.asarray(protected, np.float32)
  changed = np.any(clean != protected, axis=1)
  out: dict[str, Any] = {"changed": int(changed.sum())}
  if changed.any():
    out.update(quality.summary(clean[changed], protected[changed], sample_rate))
  if embed_fn is not None:
    e_clean, e_prot = _embed(embed_fn, clean), _embed(embed_fn, protected)
    half = len(clean) // 2
    out["frechet"] = frechet_distance(e_clean, e_prot)
    out["frechet_floor"] = frechet_distance(e_clean[:half], e_clean[half:])
  return out


def log_mel_db(x: np.ndarray, sample_rate: int) -> np.ndarray:
  mel = features.melspectrogram(
    y=jnp.asarray(x), sr=sample_rate, n_fft=1024, hop_length=256, n_mels=64
  )
  return np.asarray(features.power_to_db(mel, ref=jnp.max))


def write_examples(
  directory: str,
  clean: np.ndarray,
  protected: np.ndarray,
  sample_rate: int,
  names: list[str],
) -> list[str]:
  """WAV pairs and one PNG per clip: clean, protected, and their difference (dB).

  Returns:
    The paths written.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  os.makedirs(directory, exist_ok=True)
  paths = []
  for name, a, b in zip(names, clean, protected, strict=True):
    for tag, clip in (("clean", a), ("protected", b)):
      path = os.path.join(directory, f"{name}_{tag}.wav")
      audio_lib.save(path, clip, sample_rate)
      paths.append(path)
    ma, mb = log_mel_db(a, sample_rate), log_mel_db(b, sample_rate)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
    for ax, image, title, cmap in (
      (axes[0], ma, "clean", "magma"),
      (axes[1], mb, "protected", "magma"),
      (axes[2], mb - ma, "protected - clean (dB)", "coolwarm"),
    ):
      lim = max(1.0, float(np.max(np.abs(image)))) if cmap == "coolwarm" else None
      ax.imshow(
        image,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=-lim if lim else None,
        vmax=lim,
      )
      ax.set_title(title)
      ax.set_xlabel("frame")
    axes[0].set_ylabel("mel band")
    fig.suptitle(name)
    fig.tight_layout()
    path = os.path.join(directory, f"{name}.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    paths.append(path)
  return paths
