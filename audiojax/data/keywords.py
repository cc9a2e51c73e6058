"""Spoken keywords rendered offline by text-to-speech: the tfds builder of that name.

The ten command words of Speech Commands (Warden 2018, arXiv:1804.03209) spoken by
Debian's TTS engines, called through :mod:`audiojax.data.tts`: CMU Flite (Black & Lenzo
2001) voices, espeak-ng formant voices (accent x variant) and, when its ``text2wave``
binary is installed, Festival voices.
Each utterance gets seeded tempo/pitch settings of its engine plus a speed perturbation
(resampling, Ko et al. 2015, "Audio augmentation for speech recognition"); the word is
trimmed of silence, placed at a seeded random offset in a 1 s window at 16 kHz and
peak-normalised. Splits are speaker-disjoint: a voice is engine + name + variant, and
voices built from one recorded person (flite ``slt`` and festival
``cmu_us_slt_arctic_hts``) always share a split. Audio is byte-identical across builds
for the same seed and the same engine versions.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from concurrent import futures

import librosa
import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from audiojax.data import tts
from audiojax.data.source import AudioSplit, DataError
from audiojax.data.tts import Voice, trim

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
SPLITS = ("train", "validation", "test")

# Headroom below full scale, so gain and additive-noise augmentations rarely clip.
_PEAK = 0.9
# Per-utterance ranges: flite duration_stretch and f0_shift (rms ignores f0_shift),
# espeak-ng pitch (0-99, default 50) and words per minute (default 175), festival
# Duration_Stretch, and a speed perturbation shared by all engines.
_STRETCH = (0.85, 1.2)
_F0_SHIFT = (0.85, 1.2)
_ESPEAK_PITCH = (35, 65)
_ESPEAK_WPM = (140, 200)
_SPEED = (0.95, 1.05)


@dataclasses.dataclass(eq=False)
class KeywordsConfig(tfds.core.BuilderConfig):
  """How many voices and utterances a build renders.

  Attributes:
    seed: fixes split assignment and every utterance's settings.
    espeak_accents: espeak-ng English voices (``espeak-ng --voices=en``).
    espeak_variants: variants combined with every accent ("" = the accent's own).
    flite_repeats: utterances per flite voice and word.
    espeak_repeats: utterances per espeak-ng voice and word.
    festival_repeats: utterances per festival voice and word (if festival exists).
  """

  seed: int = 0
  espeak_accents: tuple[str, ...] = ("en-us",)
  espeak_variants: tuple[str, ...] = ("",)
  flite_repeats: int = 1
  espeak_repeats: int = 1
  festival_repeats: int = 1


def require_engines() -> None:
  """Raises ``DataError`` naming the apt packages if flite or espeak-ng is missing."""
  tts.check_engines("audiojax_keywords")


def available_voices(config: KeywordsConfig) -> list[Voice]:
  """The voices a build of ``config`` uses on this machine, in a fixed order.

  Args:
    config: the builder config (accents, variants; festival only if installed).

  Returns:
    flite voices, then espeak-ng accent x variant, then festival voices.

  Raises:
    DataError: if flite or espeak-ng is not installed.
  """
  require_engines()
  return tts.list_voices(config.espeak_accents, config.espeak_variants)


def assign_splits(voices: Sequence[Voice], seed: int) -> dict[str, str]:
  """Assigns every voice to a split so that no speaker straddles two splits.

  Recorded and formant voices are shuffled separately (seeded), so each split gets
  both kinds; of ``n >= 3`` speakers of a kind, ``max(1, round(n / 10))`` go to
  validation, as many to test, and the rest to train.

  Args:
    voices: the voices to assign.
    seed: the shuffle seed.

  Returns:
    ``{voice.id: split}``.
  """
  split_of: dict[str, str] = {}
  for recorded in (True, False):
    speakers = sorted({v.speaker for v in voices if v.recorded == recorded})
    rng = np.random.default_rng([seed, int(recorded)])
    speakers = [speakers[i] for i in rng.permutation(len(speakers))]
    n_held = max(1, round(len(speakers) / 10)) if len(speakers) >= 3 else 0
    for i, speaker in enumerate(speakers):
      split_of[speaker] = (
        "validation" if i < n_held else "test" if i < 2 * n_held else "train"
      )
  return {v.id: split_of[v.speaker] for v in voices}


@dataclasses.dataclass(frozen=True)
class Utterance:
  """One clip to render: a voice saying ``WORDS[label]`` for the ``repeat``-th time."""

  voice: Voice
  label: int
  repeat: int

  @property
  def key(self) -> str:
    return f"{self.voice.id}/{WORDS[self.label]}/{self.repeat}"


def _lerp(lo_hi: tuple[float, float], x: float) -> float:
  return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * x


def render(utterance: Utterance, seed: int, workdir: str) -> np.ndarray:
  """Speaks one utterance and returns its 1 s clip.

  Args:
    utterance: voice, word and repeat index; with ``seed`` they fix every setting.
    seed: the data set seed.
    workdir: a directory for the engine's temporary wav file.

  Returns:
    float32 ``[CLIP_SAMPLES]`` at ``SAMPLE_RATE``, peak ``_PEAK``, zero-padded.

  Raises:
    DataError: if the engine fails or produces silence.
  """
  voice = utterance.voice
  rng = np.random.default_rng(
    [seed, zlib.crc32(voice.id.encode()), utterance.label, utterance.repeat]
  )
  u = rng.random(4)
  path = os.path.join(workdir, f"{zlib.crc32(utterance.key.encode())}.wav")
  y, sr = tts.speak(
    voice,
    WORDS[utterance.label],
    path,
    stretch=_lerp(_STRETCH, u[0]),
    f0_shift=_lerp(_F0_SHIFT, u[1]),
    pitch=_lerp(_ESPEAK_PITCH, u[1]),
    wpm=_lerp(_ESPEAK_WPM, u[0]),
  )
  y = trim(y)
  if not np.any(y):
    raise DataError(f"{utterance.key} came out silent")
  # Declaring the native rate `speed` times higher makes the clip `speed` times faster.
  speed = _lerp(_SPEED, u[2])
  y = librosa.resample(y, orig_sr=sr * speed, target_sr=SAMPLE_RATE, res_type="soxr_hq")
  if len(y) > CLIP_SAMPLES:
    logging.warning("%s: %d samples, keeping the middle second", utterance.key, len(y))
    start = (len(y) - CLIP_SAMPLES) // 2
    y = y[start : start + CLIP_SAMPLES]
  offset = int(u[3] * (CLIP_SAMPLES - len(y) + 1))
  clip = np.zeros(CLIP_SAMPLES, np.float32)
  clip[offset : offset + len(y)] = y * (_PEAK / np.abs(y).max())
  return clip


def plan(config: KeywordsConfig) -> dict[str, list[Utterance]]:
  """Every utterance of a build of ``config``, grouped by split, in a fixed order."""
  voices = available_voices(config)
  split_of = assign_splits(voices, config.seed)
  repeats = {
    "flite": config.flite_repeats,
    "espeak-ng": config.espeak_repeats,
    "festival": config.festival_repeats,
  }
  splits: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
  for voice in voices:
    splits[split_of[voice.id]] += [
      Utterance(voice, label, r)
      for label in range(len(WORDS))
      for r in range(repeats[voice.engine])
    ]
  return splits


_ESPEAK_ACCENTS = tuple(
  "en-us en-gb en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd "
  "en-029 en-us-nyc".split()
)


class AudiojaxKeywords(tfds.core.GeneratorBasedBuilder):
  """Ten keywords by flite, espeak-ng (and festival) voices; speaker-disjoint splits."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
    KeywordsConfig(
      name="tiny",
      description="Tests: 4 flite + 3 espeak-ng voices, 1 take.",
      espeak_accents=("en-us", "en-gb", "en-gb-scotland"),
    ),
    # Flite voices are far more intelligible than espeak variants, so they get
    # more takes each and espeak keeps mild variants (no whisper/croak/klatt).
    KeywordsConfig(
      name="default",
      description="4 flite x 40 takes + 48 espeak-ng x 4 takes.",
      espeak_accents=_ESPEAK_ACCENTS,
      espeak_variants=("", "m1", "m3", "m4", "f1", "f2"),
      flite_repeats=40,
      espeak_repeats=4,
      festival_repeats=40,
    ),
  ]
  DEFAULT_CONFIG_NAME = "default"

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=tfds.features.FeaturesDict(
        {
          "audio": tfds.features.Tensor(shape=(CLIP_SAMPLES,), dtype=np.float32),
          "label": tfds.features.ClassLabel(names=WORDS),
          "speaker": tfds.features.Text(),
          "engine": tfds.features.Text(),
        }
      ),
      supervised_keys=("audio", "label"),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is rendered locally.
    splits = plan(self.builder_config)
    for name, utts in splits.items():
      voices = len({u.voice for u in utts})
      logging.info("%s: %d clips from %d voices", name, len(utts), voices)
    return {name: self._generate_examples(utts) for name, utts in splits.items()}

  def _generate_examples(self, utterances: Sequence[Utterance]) -> Iterator:
    seed = self.builder_config.seed
    with (
      tempfile.TemporaryDirectory() as workdir,
      futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool,
    ):
      clips = pool.map(lambda u: render(u, seed, workdir), utterances)
      for u, clip in zip(utterances, clips, strict=True):
        example = {"audio": clip, "label": u.label}
        yield u.key, {**example, "speaker": u.voice.id, "engine": u.voice.engine}


def load_split(
  split: str, *, data_dir: str, config: str | None = None, label: str | None = None
) -> AudioSplit:
  """Returns one split of ``audiojax_keywords``, building it in ``data_dir`` first.

  Args:
    split: "train", "validation", "test" (or a tfds slice such as "train[:10%]").
    data_dir: the tfds data directory.
    config: "tiny" or "default" (None).
    label: the class field; only "label" (the word) exists.

  Returns:
    The split as random-access examples with ``audio``, ``label``, ``speaker``,
    ``engine``.

  Raises:
    DataError: for an unknown config, label or split, or missing TTS binaries.
  """
  if label not in (None, "label"):
    raise DataError(f"audiojax_keywords has no label field {label!r}; use 'label'")
  names = [c.name for c in AudiojaxKeywords.BUILDER_CONFIGS]
  if config not in (None, *names):
    raise DataError(f"audiojax_keywords has no config {config!r}; configs: {names}")
  if split.split("[")[0] not in SPLITS:
    raise DataError(f"audiojax_keywords has no split {split!r}; splits: {SPLITS}")
  builder = AudiojaxKeywords(config=config or "default", data_dir=data_dir)
  if not builder.is_prepared():
    require_engines()
    logging.info("building audiojax_keywords/%s in %s", config or "default", data_dir)
    builder.download_and_prepare()
  return AudioSplit(
    source=builder.as_data_source(split=split),
    label_key="label",
    class_names=WORDS,
    sample_rate=SAMPLE_RATE,
    clip_samples=CLIP_SAMPLES,
  )
