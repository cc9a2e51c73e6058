"""Rolls and note metrics on hand-made notes: the frame convention, round trips, and
mir_eval's note F1 with the empty cases this package defines."""

import numpy as np
import pytest

from audiojax.transcription import metrics, rolls

RATE = 62.5  # frames per second: hop 256 at 16 kHz.
FRAMES = 126  # a 2-s clip.
NOTES = np.array(
  [
    [60, 0.10, 0.50],  # frames 7..31 (7 / 62.5 = 0.112 is the first centre >= 0.1)
    [64, 0.30, 1.00],  # frames 19..62 (1.0 is a centre, and excluded)
    [60, 0.81, 1.21],  # a second C4, after a gap
    [108, 1.50, 2.00],  # C8, the top key, to the end of the clip
  ],
  np.float32,
)


def test_a_frame_is_active_while_its_centre_lies_in_the_note():
  roll = rolls.notes_to_roll(NOTES, FRAMES, RATE)
  assert roll.shape == (FRAMES, 88) and roll.dtype == np.float32
  c4, e4, c8 = 60 - rolls.MIN_PITCH, 64 - rolls.MIN_PITCH, 87
  np.testing.assert_array_equal(np.flatnonzero(roll[:, e4]), np.arange(19, 63))
  t = rolls.frame_times(FRAMES, RATE)
  expected_c4 = ((t >= 0.1) & (t < 0.5)) | ((t >= 0.81) & (t < 1.21))
  np.testing.assert_array_equal(roll[:, c4] > 0, expected_c4)
  # Frames 94..124, centres 1.504 .. 1.984 s; frame 125 is centred at 2.0, excluded.
  np.testing.assert_array_equal(np.flatnonzero(roll[:, c8]), np.arange(94, 125))
  assert roll.sum() == roll[:, [c4, e4, c8]].sum()  # nothing else is active


def test_roll_to_notes_and_back_is_exact_and_onsets_move_less_than_a_frame():
  roll = rolls.notes_to_roll(NOTES, FRAMES, RATE)
  intervals, pitches = rolls.roll_to_notes(roll, RATE)
  np.testing.assert_array_equal(pitches, [60, 64, 60, 108])  # sorted by onset
  late = intervals[:, 0] - NOTES[:, 1]
  assert np.all(late >= -1e-7) and np.all(late < 1 / RATE)
  assert intervals[-1, 1] == 125 / RATE  # the first inactive frame
  back = np.concatenate([pitches[:, None], intervals], axis=1)
  np.testing.assert_array_equal(rolls.notes_to_roll(back, FRAMES, RATE), roll)


def test_roll_to_notes_thresholds_drops_short_runs_and_merges_touching_notes():
  probs = np.zeros((20, 88), np.float32)
  probs[2:6, 0] = 0.7  # a note of 4 frames
  probs[10, 1] = 0.9  # one frame: shorter than min_frames=2
  probs[12:15, 2] = 0.49  # under the threshold
  intervals, pitches = rolls.roll_to_notes(probs, RATE, threshold=0.5, min_frames=2)
  np.testing.assert_array_equal(pitches, [21])
  np.testing.assert_allclose(intervals, [[2 / RATE, 6 / RATE]])
  assert len(rolls.roll_to_notes(probs, RATE, threshold=0.4)[1]) == 2
  # A repeated note (offset == next onset) is one run: frames cannot split it.
  repeated = np.array([[69, 0.2, 0.5], [69, 0.5, 0.9]])
  roll = rolls.notes_to_roll(repeated, FRAMES, RATE)
  assert len(rolls.roll_to_notes(roll, RATE)[1]) == 1
  # Pitches outside the 88 keys are left out of a roll.
  assert rolls.notes_to_roll([[20, 0, 1], [109, 0, 1]], FRAMES, RATE).sum() == 0
  empty = rolls.roll_to_notes(np.zeros((FRAMES, 88)), RATE)
  assert empty[0].shape == (0, 2) and empty[1].shape == (0,)


def test_regrid_takes_the_nearest_frame():
  roll = rolls.notes_to_roll(NOTES, FRAMES, RATE)
  np.testing.assert_array_equal(rolls.regrid(roll, RATE, RATE, FRAMES), roll)
  fine = rolls.regrid(roll, RATE, 2 * RATE, 2 * FRAMES)
  np.testing.assert_array_equal(fine[::2], roll)
  bp_rate = 22050 / 256
  other = rolls.regrid(roll, RATE, bp_rate, 172)
  direct = rolls.notes_to_roll(NOTES, 172, bp_rate)
  # Nearest-frame resampling differs from the direct roll at most at note edges.
  assert np.mean(other != direct) < 0.01


def _est(notes):
  notes = np.asarray(notes, np.float64).reshape(-1, 3)
  return notes[:, 1:], notes[:, 0]


def test_note_f1_is_one_on_the_reference_and_zero_a_semitone_off():
  assert metrics.note_f1(NOTES, *_est(NOTES)) == 1.0
  assert metrics.note_f1(NOTES, *_est(NOTES), onset_only=False) == 1.0
  shifted = NOTES + np.array([1, 0, 0], np.float32)
  assert metrics.note_f1(NOTES, *_est(shifted)) == 0.0
  # Within the 50-cent pitch tolerance a fractional pitch still matches.
  assert metrics.note_f1(NOTES, *_est(NOTES + [0.4, 0, 0])) == 1.0


def test_note_scores_of_a_hand_case():
  ref = np.array([[60, 0.0, 0.5], [62, 0.5, 1.0], [64, 1.0, 1.5], [65, 1.5, 2.0]])
  est = np.array(
    [
      [60, 0.03, 0.5],  # found: 30 ms late
      [62, 0.46, 1.4],  # found onset-only; its offset is 0.4 s late
      [64, 1.10, 1.5],  # 100 ms late: missed
    ]
  )
  p, r, f = metrics.note_scores(ref, *_est(est))
  assert (p, r) == pytest.approx((2 / 3, 2 / 4))
  assert f == pytest.approx(4 / 7)  # 2 P R / (P + R)
  p, r, f = metrics.note_scores(ref, *_est(est), onset_only=False)
  assert (p, r) == pytest.approx((1 / 3, 1 / 4))
  assert metrics.mean_note_f1([ref, ref], [_est(est), _est(ref)]) == pytest.approx(
    (4 / 7 + 1) / 2
  )


def test_empty_references_and_estimates_have_defined_scores():
  none = np.zeros((0, 3))
  assert metrics.note_scores(none, *_est(none)) == (1.0, 1.0, 1.0)
  assert metrics.note_scores(none, *_est(NOTES)) == (0.0, 1.0, 0.0)
  assert metrics.note_scores(NOTES, *_est(none)) == (1.0, 0.0, 0.0)
  # Zero-length notes (a clip cut at a note's end) are dropped, not an error.
  with_zero = np.concatenate([NOTES, [[70, 0.5, 0.5]]])
  assert metrics.note_f1(with_zero, *_est(NOTES)) == 1.0
  with pytest.raises(ValueError, match="2 intervals but 3 pitches"):
    metrics.note_f1(NOTES, np.zeros((2, 2)), np.zeros(3))


def test_frame_f1_pools_counts():
  ref = np.zeros((4, 3))
  ref[:2, 0] = 1
  est = np.zeros((4, 3))
  est[1:3, 0] = 1
  est[0, 2] = 1
  np.testing.assert_array_equal(metrics.frame_counts(ref, est), [1, 2, 1])
  assert metrics.frame_f1(ref, est) == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))
  assert metrics.frame_f1(ref, ref) == 1.0
  assert metrics.frame_f1(np.zeros((4, 3)), np.zeros((4, 3))) == 1.0
  assert metrics.frame_f1(ref, np.zeros((4, 3))) == 0.0
