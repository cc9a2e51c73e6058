"""basic-pitch through ONNX: its constants and defaults, shapes, a rendered A4, the
objective a black-box attack ascends, and agreement with the music set's notes."""

import inspect
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from audiojax.data import music_render
from audiojax.transcription import basic_pitch, metrics

SR = 16000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bp():
  return basic_pitch.BasicPitch(sample_rate=SR)


def _render(events, program=0, seconds=2.0):
  """Notes ``(pitch, onset, offset)`` rendered with the music set's synthesizer."""
  rows = [(p, on, off, 0, 100) for p, on, off in events]
  audio = music_render.render_notes(
    np.array(rows, float), program, int(seconds * SR), SR
  )
  return 0.9 * audio / np.max(np.abs(audio))


def test_constants_and_defaults_are_basic_pitchs_own(bp):
  constants = basic_pitch.load("basic_pitch.constants")
  assert basic_pitch.SAMPLE_RATE == constants.AUDIO_SAMPLE_RATE
  assert basic_pitch.FFT_HOP == constants.FFT_HOP
  assert constants.ANNOTATIONS_N_SEMITONES == 88
  assert constants.ANNOTATIONS_BASE_FREQUENCY == metrics.midi_to_hz(21)
  inference = basic_pitch.load("basic_pitch.inference")
  defaults = inspect.signature(inference.predict).parameters
  assert defaults["onset_threshold"].default == basic_pitch.ONSET_THRESHOLD
  assert defaults["frame_threshold"].default == basic_pitch.FRAME_THRESHOLD
  assert defaults["minimum_note_length"].default == basic_pitch.MINIMUM_NOTE_LENGTH_MS


def test_building_it_does_not_import_tensorflow():
  code = (
    "import sys\n"
    "from audiojax.transcription import basic_pitch\n"
    "bp = basic_pitch.BasicPitch()\n"
    "bp.notes(__import__('numpy').zeros((1, 16000), 'float32'))\n"
    "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
  )
  subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_posteriors_have_basic_pitchs_shapes_and_batch_like_single_clips(bp):
  rng = np.random.default_rng(0)
  audio = np.stack([_render([(69, 0.2, 1.5)]), 0.1 * rng.normal(size=2 * SR)])
  out = bp.posteriors(audio.astype(np.float32))
  frames = bp.num_frames(2 * SR)
  assert frames == 172  # floor(44100 * 86 / 22050)
  assert out["note"].shape == out["onset"].shape == (2, frames, 88)
  assert out["contour"].shape == (2, frames, 264)
  assert all(0 <= v.min() and v.max() <= 1 for v in out.values())
  single = bp.posteriors(audio[1:].astype(np.float32))
  np.testing.assert_allclose(single["note"][0], out["note"][1], atol=1e-5)
  # Longer clips take more windows and give frames in proportion.
  assert bp.posteriors(np.zeros((1, 5 * SR), np.float32))["note"].shape[1] == 430


@pytest.mark.parametrize("kind", ["sine", "piano"])
def test_a_440_hz_note_is_transcribed_as_midi_69(bp, kind):
  if kind == "sine":
    t = np.arange(2 * SR) / SR
    audio = 0.5 * np.sin(2 * np.pi * 440.0 * t) * ((t >= 0.25) & (t < 1.5))
  else:
    audio = _render([(69, 0.25, 1.5)])
  [(intervals, pitches)] = bp.notes(audio[None].astype(np.float32))
  assert 69 in pitches
  longest = np.argmax(intervals[:, 1] - intervals[:, 0])
  assert pitches[longest] == 69
  assert abs(intervals[longest, 0] - 0.25) < metrics.ONSET_TOLERANCE
  reference = np.array([[69, 0.25, 1.5]])
  assert metrics.note_f1(reference, intervals, pitches) > 0.6


def test_the_objective_rises_with_noise_and_takes_rolls_on_another_grid(bp):
  notes = [np.array([[60, 0.1, 0.9], [64, 1.0, 1.9]]), np.array([[72, 0.3, 1.6]])]
  audio = np.stack([_render(n) for n in notes]).astype(np.float32)
  refs = bp.reference_rolls(notes, 2 * SR)
  assert refs.shape == (2, 172, 88)
  clean = bp.objective(audio, refs)
  assert clean.shape == (2,)
  rng = np.random.default_rng(1)
  noisy = np.clip(audio + 0.3 * rng.normal(size=audio.shape), -1, 1)
  assert np.all(bp.objective(noisy.astype(np.float32), refs) > clean)
  # Our rolls (62.5 frames/s) are resampled to its grid.
  from audiojax.transcription import rolls

  ours = np.stack([rolls.notes_to_roll(n, 126, 62.5) for n in notes])
  np.testing.assert_allclose(
    bp.objective(audio, ours, frame_rate=62.5), clean, rtol=0.05
  )
  with pytest.raises(ValueError, match="do not match the posteriors"):
    bp.objective(audio, ours)


def test_notes_agree_with_the_music_sets_notes(bp, music_tiny):
  split = music_tiny["test"]
  examples = [split.source[i] for i in range(8)]
  audio = np.stack([np.asarray(ex["audio"], np.float32) for ex in examples])
  start = time.perf_counter()
  estimates = bp.notes(audio)
  seconds = time.perf_counter() - start
  f1 = metrics.mean_note_f1([ex["notes"] for ex in examples], estimates)
  # basic-pitch (trained on real recordings) finds most notes of the rendered clips.
  assert f1 > 0.5, f1
  assert seconds < 8 * 2.0  # faster than real time on 2 cores
