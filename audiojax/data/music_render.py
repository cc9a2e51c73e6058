"""Rendering music21's bundled corpus to audio with a General MIDI SoundFont.

Scores come from the corpus that ships inside the music21 wheel (Cuthbert & Ariza,
"music21: A Toolkit for Computer-Aided Musicology", ISMIR 2010); they are rendered
note by note with TinySoundFont (https://github.com/schellingb/TinySoundFont, Python
bindings ``tinysoundfont``) and the ``TimGM6mb.sf2`` General MIDI bank that ships with
pretty_midi (Raffel & Ellis, ISMIR 2014 LBD). The instrument table, pitch placement and
Krumhansl-Kessler key estimation are in :mod:`audiojax.data.music_instruments`.

music21 and tinysoundfont are imported inside the functions that need them: both are
slow to import and reading an already-built data set needs neither.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import re

import numpy as np

from audiojax.data.music_instruments import (
  RenderError,
  estimate_key,
  instrument,
  place_pitches,
)

# Corpus collections: name -> (corpus folder, how a caption calls a piece from it).
COLLECTIONS: dict[str, tuple[str, str]] = {
  "bach": ("bach", "bach chorale"),
  "palestrina": ("palestrina", "palestrina polyphony"),
  "oneills": ("oneills1850", "irish folk tune"),
  "ryans": ("ryansMammoth", "fiddle dance tune"),
  "airds": ("airdsAirs", "scottish air"),
}

# MIDI channels for the parts of a score; 9 is General MIDI percussion.
_CHANNELS = tuple(c for c in range(16) if c != 9)


@dataclasses.dataclass(frozen=True)
class Piece:
  """Notes of one score in quarter-note time.

  Attributes:
    piece_id: corpus path, with ``#N`` for tune N of a many-tune ABC file.
    collection: a key of ``COLLECTIONS``.
    notes: float64 ``[n, 4]`` rows of (midi pitch, onset, duration, part), onset and
      duration in quarter notes, sorted.
  """

  piece_id: str
  collection: str
  notes: np.ndarray

  @property
  def quarters(self) -> float:
    return float(np.max(self.notes[:, 1] + self.notes[:, 2]))


def corpus_root() -> pathlib.Path:
  """The folder of music21's bundled corpus."""
  from music21 import corpus

  return pathlib.Path(corpus.__file__).parent


def list_pieces(collection: str) -> list[str]:
  """Sorted piece ids of one collection (tunes of many-tune ABC files one by one)."""
  if collection not in COLLECTIONS:
    raise RenderError(
      f"unknown collection {collection!r}; valid: {sorted(COLLECTIONS)}"
    )
  folder = COLLECTIONS[collection][0]
  if collection == "bach":
    from music21 import corpus

    # The 371 four-part chorales, not the other Bach files of the corpus.
    return sorted(corpus.chorales.Iterator(returnType="filename"))
  root = corpus_root()
  ids = []
  for path in sorted((root / folder).iterdir()):
    rel = path.relative_to(root).as_posix()
    if path.suffix == ".abc":
      text = path.read_text(encoding="latin-1")
      numbers = re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)
      if len(numbers) > 1:
        ids.extend(f"{rel}#{n}" for n in numbers)
        continue
    if path.suffix in (".abc", ".krn", ".mxl", ".xml", ".musicxml"):
      ids.append(rel)
  return ids


def parse_piece(piece_id: str, collection: str) -> Piece:
  """Parses a corpus piece into note rows.

  Raises:
    RenderError: if music21 cannot parse it or it holds no sounding notes.
  """
  from music21 import corpus

  path, _, number = piece_id.partition("#")
  try:
    score = corpus.parse(path, number=int(number)) if number else corpus.parse(path)
    score = score.stripTies()
    parts = list(score.parts) or [score]
    rows = []
    for part_index, part in enumerate(parts):
      for element in part.flatten().notes:
        if "Harmony" in element.classes:  # chord symbols are not played notes
          continue
        duration = float(element.quarterLength)
        if duration <= 0:  # grace notes have no written duration
          continue
        onset = float(element.offset)
        for pitch in element.pitches:
          rows.append((pitch.midi, onset, duration, part_index))
  except Exception as e:  # music21 raises many unrelated types for bad sources
    raise RenderError(f"music21 cannot read {piece_id!r}: {e!r}") from e
  if not rows:
    raise RenderError(f"{piece_id!r} has no pitched notes")
  notes = np.array(rows, dtype=np.float64)
  notes = notes[np.lexsort((notes[:, 2], notes[:, 0], notes[:, 3], notes[:, 1]))]
  return Piece(piece_id, collection, notes)


@functools.cache
def _soundfont_bytes() -> bytes:
  import pretty_midi

  path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
  with open(path, "rb") as f:
    return f.read()


def render_notes(
  events: np.ndarray, program: int, num_samples: int, sample_rate: int
) -> np.ndarray:
  """Renders note events on one GM program, mono float32.

  A fresh synthesizer per call: a reused one carries voice state from call to call,
  so only a fresh one renders the same events to the same samples every time.

  Args:
    events: ``[n, 5]`` rows of (pitch, onset s, offset s, part, velocity).
    program: General MIDI program number.
    num_samples: length of the output.
    sample_rate: output sample rate in Hz.

  Returns:
    float32 ``[num_samples]``, the down-mix of the synthesizer's stereo output.
  """
  import tinysoundfont

  synth = tinysoundfont.Synth(samplerate=sample_rate)
  sfid = synth.sfload(_soundfont_bytes())
  for channel in _CHANNELS:
    synth.program_select(channel, sfid, 0, program)
  # (sample, is_on, channel, pitch, velocity); offs sort before ons at equal times so
  # a repeated note is released before it is struck again.
  timeline = []
  for pitch, onset, offset, part, velocity in events:
    channel = _CHANNELS[int(part) % len(_CHANNELS)]
    timeline.append(
      (int(round(onset * sample_rate)), 1, channel, int(pitch), int(velocity))
    )
    timeline.append((int(round(offset * sample_rate)), 0, channel, int(pitch), 0))
  timeline.sort()
  chunks, position = [], 0
  for sample, is_on, channel, pitch, velocity in timeline:
    sample = min(sample, num_samples)
    if sample > position:
      chunks.append(_generate(synth, sample - position))
      position = sample
    if is_on:
      synth.noteon(channel, pitch, velocity)
    else:
      synth.noteoff(channel, pitch)
  if num_samples > position:
    chunks.append(_generate(synth, num_samples - position))
  stereo = np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)
  return stereo.mean(axis=1, dtype=np.float32)


def _generate(synth, n: int) -> np.ndarray:
  return np.frombuffer(bytes(synth.generate(n)), np.float32).reshape(-1, 2)


@dataclasses.dataclass(frozen=True)
class Clip:
  """One cut of a rendering: peak-normalised audio and the notes sounding in it.

  Attributes:
    audio: float32 ``[clip_samples]`` in [-1, 1].
    notes: float32 ``[n, 3]`` rows of (pitch, onset s, offset s) relative to the clip
      start, clipped to the clip.
    index: position of the clip in its rendering.
  """

  audio: np.ndarray
  notes: np.ndarray
  index: int


def render_clips(
  piece: Piece,
  *,
  program: int,
  tempo_bpm: float,
  transpose: int,
  start_quarter: float,
  num_clips: int,
  clip_samples: int,
  sample_rate: int,
  velocity_rng: np.random.Generator,
  peak: float = 0.9,
  silence_db: float = -45.0,
  min_active: float = 0.5,
) -> tuple[list[Clip], str]:
  """Renders ``num_clips`` consecutive clips of a piece from ``start_quarter`` on.

  Clips that are near-silent (RMS below ``silence_db`` dBFS before normalisation, or
  notes sounding in less than ``min_active`` of the clip) are dropped.

  Args:
    piece: the parsed score.
    program: General MIDI program.
    tempo_bpm: quarter notes per minute.
    transpose: semitones added before the pitches are placed in the program's range.
    start_quarter: where the rendering starts, in quarter notes.
    num_clips: how many clips to cut.
    clip_samples: samples per clip.
    sample_rate: Hz.
    velocity_rng: draws the MIDI velocity of each note.
    peak: the absolute peak every clip is scaled to.
    silence_db: clips quieter than this (RMS, dBFS) are dropped.
    min_active: minimum fraction of a clip during which a note sounds.

  Returns:
    The kept clips and the key of the rendered pitches (for captions).
  """
  _, _, lo, hi = instrument(program)
  notes = piece.notes
  seconds_per_quarter = 60.0 / tempo_bpm
  onsets = (notes[:, 1] - start_quarter) * seconds_per_quarter
  offsets = onsets + notes[:, 2] * seconds_per_quarter
  clip_seconds = clip_samples / sample_rate
  total_seconds = num_clips * clip_seconds
  inside = (offsets > 0) & (onsets < total_seconds)
  if not np.any(inside):
    return [], ""
  pitches = place_pitches(notes[inside, 0], transpose, lo, hi)
  onsets, offsets = np.maximum(onsets[inside], 0.0), offsets[inside]
  velocities = velocity_rng.integers(76, 112, size=len(pitches))
  events = np.stack([pitches, onsets, offsets, notes[inside, 3], velocities], axis=1)
  audio = render_notes(events, program, num_clips * clip_samples, sample_rate)
  key = estimate_key(notes[:, 0] + transpose, notes[:, 2])
  clips = []
  threshold = 10.0 ** (silence_db / 20.0)
  for i in range(num_clips):
    segment = audio[i * clip_samples : (i + 1) * clip_samples]
    start, stop = i * clip_seconds, (i + 1) * clip_seconds
    sounding = (offsets > start) & (onsets < stop)
    clip_notes = np.stack(
      [
        pitches[sounding],
        np.clip(onsets[sounding] - start, 0.0, clip_seconds),
        np.clip(offsets[sounding] - start, 0.0, clip_seconds),
      ],
      axis=1,
    ).astype(np.float32)
    if (
      np.sqrt(np.mean(np.square(segment, dtype=np.float64))) < threshold
      or _active_fraction(clip_notes, clip_seconds) < min_active
    ):
      continue
    scaled = segment * np.float32(peak / np.max(np.abs(segment)))
    clips.append(Clip(np.clip(scaled, -1.0, 1.0).astype(np.float32), clip_notes, i))
  return clips, key


def _active_fraction(notes: np.ndarray, seconds: float) -> float:
  """Fraction of [0, seconds] covered by the union of note intervals."""
  covered, reach = 0.0, 0.0
  for onset, offset in sorted(zip(notes[:, 1], notes[:, 2], strict=True)):
    if offset > reach:
      covered += offset - max(onset, reach)
      reach = offset
  return covered / seconds
