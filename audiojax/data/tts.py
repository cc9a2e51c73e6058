"""Offline text-to-speech with Debian's engines, called as subprocesses.

CMU Flite (Black & Lenzo 2001) voices, espeak-ng formant voices (accent x variant)
and, when its ``text2wave`` binary is installed, Festival voices: which voices this
machine has (:func:`list_voices`), who is behind each (:attr:`Voice.speaker`, so that
voices of one recorded person can share a data split), speaking one word with given
tempo/pitch settings (:func:`speak`), and trimming the silence around it
(:func:`trim`, ``librosa.effects.trim``'s rule). Used by the spoken-keywords data set
:mod:`audiojax.data.keywords`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
import soundfile as sf
from absl import logging

from audiojax.data.source import DataError

APT_HINT = "apt-get install flite espeak-ng"

_TRIM_TOP_DB = 40.0
# awb_time only speaks clock times (0.14 s for any other word); kal is kal16's diphone
# set at 8 kHz, so keeping both would put one speaker on two sides of a split.
_FLITE_VOICES = ("kal16", "awb", "rms", "slt")
_FESTIVAL_VOICE_DIR = "/usr/share/festival/voices/english"


@dataclasses.dataclass(frozen=True)
class Voice:
  """One TTS voice: ``engine`` ("flite", "espeak-ng", "festival"), name and variant."""

  engine: str
  name: str
  variant: str = ""

  @property
  def id(self) -> str:
    return f"{self.engine}:{self.name}" + (f"+{self.variant}" if self.variant else "")

  @property
  def recorded(self) -> bool:
    """Whether the voice was built from recordings of a person (not formant rules)."""
    return self.engine != "espeak-ng"

  @property
  def speaker(self) -> str:
    """The person behind a recorded voice, or the voice itself for formant voices."""
    if not self.recorded:
      return self.id
    if self.engine == "flite":
      return "kal" if self.name == "kal16" else self.name
    match = re.match(r"cmu_[a-z]+_([a-z0-9]+)_", self.name)
    return match[1] if match else self.name.split("_")[0]


def check_engines(user: str) -> None:
  """Raises ``DataError`` naming the apt packages if flite or espeak-ng is missing.

  Args:
    user: what needs the engines, for the message (e.g. a data set name).
  """
  missing = [b for b in ("flite", "espeak-ng") if shutil.which(b) is None]
  if missing:
    raise DataError(
      f"{user} needs the text-to-speech binaries {missing}, which are "
      f"not on PATH; install them with `{APT_HINT}` (Debian/Ubuntu)."
    )


def _run(cmd: Sequence[str], stdin: str | None = None) -> str:
  try:
    done = subprocess.run(
      list(cmd), input=stdin, capture_output=True, text=True, check=True
    )
  except (OSError, subprocess.CalledProcessError) as e:
    detail = getattr(e, "stderr", "") or e
    raise DataError(f"TTS command {' '.join(cmd)!r} failed: {detail}") from e
  return done.stdout


def list_voices(
  espeak_accents: Sequence[str], espeak_variants: Sequence[str]
) -> list[Voice]:
  """The voices of this machine's engines, in a fixed order.

  Args:
    espeak_accents: espeak-ng English voices to use (``espeak-ng --voices=en``).
    espeak_variants: variants combined with every accent ("" = the accent's own).

  Returns:
    flite voices, then espeak-ng accent x variant, then festival voices (if
    ``text2wave`` and its voices are installed).

  Raises:
    DataError: if an engine fails or an accent is not an espeak-ng voice.
  """
  listed = set(_run(["flite", "-lv"]).split(":")[-1].split())
  voices = [Voice("flite", v) for v in _FLITE_VOICES if v in listed]
  if len(voices) < len(_FLITE_VOICES):
    logging.warning("flite lacks voices %s", sorted(set(_FLITE_VOICES) - listed))
  languages = {
    row.split()[1]
    for row in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]
    if len(row.split()) > 1
  }
  for accent in espeak_accents:
    if accent not in languages:
      raise DataError(f"espeak-ng has no voice {accent!r}; it has {sorted(languages)}")
    voices += [Voice("espeak-ng", accent, v) for v in espeak_variants]
  if shutil.which("text2wave") and os.path.isdir(_FESTIVAL_VOICE_DIR):
    voices += [
      Voice("festival", name) for name in sorted(os.listdir(_FESTIVAL_VOICE_DIR))
    ]
  return voices


def _command(
  voice: Voice,
  word: str,
  path: str,
  stretch: float,
  f0_shift: float,
  pitch: float,
  wpm: float,
) -> tuple[list[str], str | None]:
  """The engine command and its stdin."""
  if voice.engine == "flite":
    args = (
      f"flite -voice {voice.name} -t {word} --setf duration_stretch={stretch:.3f} "
      f"--setf f0_shift={f0_shift:.3f}"
    )
    return [*args.split(), "-o", path], None
  if voice.engine == "espeak-ng":
    name = f"{voice.name}+{voice.variant}" if voice.variant else voice.name
    args = f"espeak-ng -v {name} -p {pitch:.0f} -s {wpm:.0f} {word}"
    return [*args.split(), "-w", path], None
  evals = [f"(voice_{voice.name})", f"(Parameter.set 'Duration_Stretch {stretch:.3f})"]
  return ["text2wave", "-eval", evals[0], "-eval", evals[1], "-o", path], word


def speak(
  voice: Voice,
  word: str,
  path: str,
  *,
  stretch: float,
  f0_shift: float,
  pitch: float,
  wpm: float,
) -> tuple[np.ndarray, int]:
  """Speaks ``word`` into the wav file ``path``, reads it back and deletes it.

  Each engine uses the settings it has: flite ``stretch`` and ``f0_shift`` (its rms
  voice ignores the latter), espeak-ng ``pitch`` (0-99, default 50) and ``wpm`` (words
  per minute, default 175), festival ``stretch`` (its Duration_Stretch).

  Args:
    voice: the voice.
    word: the text.
    path: a wav file path the engine may write.
    stretch: duration multiplier (> 1 is slower).
    f0_shift: pitch multiplier.
    pitch: espeak-ng pitch.
    wpm: espeak-ng speed.

  Returns:
    The mono (channel mean) float32 waveform and its sample rate.

  Raises:
    DataError: if the engine fails.
  """
  cmd, stdin = _command(voice, word, path, stretch, f0_shift, pitch, wpm)
  _run(cmd, stdin)
  y, sr = sf.read(path, dtype="float32", always_2d=True)
  os.remove(path)
  return y.mean(axis=1), sr


def trim(y: np.ndarray, frame: int = 512, hop: int = 128) -> np.ndarray:
  """Cuts leading and trailing silence, as ``librosa.effects.trim(top_db=40)``.

  The same rule (centred frames whose mean power is within ``_TRIM_TOP_DB`` of the
  loudest frame) without librosa's several-second numba warm-up.

  Args:
    y: a mono waveform.
    frame: frame length in samples.
    hop: hop between frames in samples.

  Returns:
    The slice of ``y`` from the first to the end of the last loud frame's hop.
  """
  frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, frame // 2), frame)
  power = np.mean(np.square(frames[::hop], dtype=np.float64), axis=1)
  loud = np.flatnonzero(power > power.max() * 10 ** (-_TRIM_TOP_DB / 10))
  if loud.size == 0:
    return y[:0]
  return y[loud[0] * hop : min(len(y), (loud[-1] + 1) * hop)]
