"""Wrong note annotations: the benchmark's errors, the scores, their AUROC, and the
probabilities of a transcriber (an untrained tiny one: batching, not skill)."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.anomaly import note_scores as ns
from audiojax.anomaly import notes as an
from audiojax.registry import UnknownNameError
from audiojax.transcription import model as model_lib
from audiojax.transcription import rolls
from audiojax.transcription.data import FrameGrid
from experiments import transcriber

FRAME_RATE = 62.5  # 16 kHz, hop 256
FRAMES = 126  # a 2-s clip
DURATION = 2.0
KINDS = tuple(an.NOTE_ERRORS)
TOP = rolls.MIN_PITCH + rolls.NUM_PITCHES - 1
TOL = 1e-5  # float32 notes


def _clip(rng: np.random.Generator) -> np.ndarray:
  """Three voices of notes (pitch 48..76, 120..500 ms), cut at the clip's ends; no
  two notes of one pitch overlap."""
  notes: list[list[float]] = []
  for _ in range(3):
    t = rng.uniform(-0.3, 0.2)
    while t < DURATION:
      length, pitch = rng.uniform(0.12, 0.5), int(rng.integers(48, 77))
      onset, offset = max(t, 0.0), min(t + length, DURATION)
      clash = any(p == pitch and a < offset and b > onset for p, a, b in notes)
      if offset - onset > 0.03 and not clash:
        notes.append([pitch, onset, offset])
      t += length + rng.uniform(0.0, 0.3)
  return np.asarray(notes, np.float32)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
  rng = np.random.default_rng(0)
  return [_clip(rng) for _ in range(40)]


def _roll(notes: np.ndarray) -> np.ndarray:
  return rolls.notes_to_roll(notes, FRAMES, FRAME_RATE)


def _blurred(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """A good transcriber: 0.85 on true cells, 0.05 elsewhere, plus U(0, 0.1)."""
  base = np.where(_roll(notes) > 0.5, 0.85, 0.05)
  return base + rng.uniform(0.0, 0.1, base.shape)


def _corrupt(notes, kind, rate=0.25, seed=0):
  return an.corrupt_notes(notes, kind, rate, seed, duration=DURATION)


def _overlaps_same_pitch(notes: np.ndarray, row: np.ndarray) -> bool:
  return bool(
    np.any((notes[:, 0] == row[0]) & (notes[:, 1] < row[2]) & (notes[:, 2] > row[1]))
  )


def _inside(out: np.ndarray) -> None:
  assert np.all(out[:, 1] >= 0) and np.all(out[:, 2] <= DURATION + TOL)
  assert np.all(out[:, 2] > out[:, 1])
  assert np.all((out[:, 0] >= rolls.MIN_PITCH) & (out[:, 0] <= TOP))
  np.testing.assert_array_equal(out[:, 0], np.rint(out[:, 0]))


# corrupt_notes


def test_num_affected_rounds_and_is_at_least_one():
  assert an.num_affected(12, 0.25) == 3
  assert an.num_affected(12, 0.01) == 1  # round(0.12) = 0, raised to 1
  assert an.num_affected(10, 0.25) == 2  # Python's round: 2.5 -> 2
  assert an.num_affected(12, 0.0) == 0 and an.num_affected(0, 0.5) == 0
  assert an.num_affected(7, 1.0) == 7


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate", [0.01, 0.1, 0.25, 0.5, 1.0])
def test_each_kind_affects_exactly_the_count_and_is_deterministic(clips, kind, rate):
  for i, notes in enumerate(clips[:10]):
    n, k = len(notes), an.num_affected(len(notes), rate)
    out = _corrupt(notes, kind, rate, seed=(3, i))
    again = _corrupt(notes, kind, rate, seed=(3, i))
    for a, b in zip(out, again, strict=True):
      np.testing.assert_array_equal(a, b)
    assert out.notes.dtype == np.float32 and out.is_error.dtype == bool
    assert len(out.is_error) == len(out.notes)
    if kind == "extra":
      assert len(out.notes) == n + k
      np.testing.assert_array_equal(out.is_error, np.arange(n + k) >= n)
    elif kind == "missing":
      assert len(out.notes) == n - k and len(out.removed) == k
      assert not out.is_error.any()
    else:
      assert len(out.notes) == n and out.is_error.sum() == k
      changed = np.any(out.notes != notes, axis=1)
      np.testing.assert_array_equal(changed, out.is_error)
    if kind != "missing":
      assert len(out.removed) == 0
    _inside(out.notes)


@pytest.mark.parametrize("kind", KINDS)
def test_another_seed_gives_other_errors_and_rate_zero_none(clips, kind):
  notes = clips[0]
  a, b = _corrupt(notes, kind, seed=1), _corrupt(notes, kind, seed=2)
  assert not (np.array_equal(a.notes, b.notes) and np.array_equal(a.removed, b.removed))
  none = _corrupt(notes, kind, rate=0.0)
  np.testing.assert_array_equal(none.notes, notes)
  assert not none.is_error.any() and len(none.removed) == 0
  empty = _corrupt(np.zeros((0, 3)), kind, rate=0.5)
  assert empty.notes.shape == (0, 3) and empty.is_error.shape == (0,)


def test_onset_shift_moves_whole_notes_60_to_200_ms_inside_the_clip(clips):
  signs = set()
  for i, notes in enumerate(clips):
    out = _corrupt(notes, "onset_shift", 0.3, seed=i)
    bad = out.is_error
    np.testing.assert_array_equal(out.notes[~bad], notes[~bad])
    new, old = out.notes[bad], notes[bad]
    np.testing.assert_array_equal(new[:, 0], old[:, 0])
    shift = new[:, 1] - old[:, 1]
    assert np.all((np.abs(shift) >= 0.06 - TOL) & (np.abs(shift) <= 0.2 + TOL))
    # The offset moves with the onset, unless the clip's end cuts it.
    moved = np.isclose(new[:, 2] - old[:, 2], shift, atol=TOL)
    cut = np.isclose(new[:, 2], DURATION) & (old[:, 2] + shift > DURATION - TOL)
    assert np.all(moved | cut)
    assert np.all(new[:, 2] - new[:, 1] >= an.MIN_SECONDS - TOL)
    signs.update(np.sign(shift).tolist())
  assert signs == {-1.0, 1.0}


def test_wrong_pitch_moves_by_1_to_12_semitones_onto_a_silent_pitch(clips):
  intervals = []
  for i, notes in enumerate(clips):
    out = _corrupt(notes, "wrong_pitch", 0.3, seed=i)
    bad = out.is_error
    np.testing.assert_array_equal(out.notes[:, 1:], notes[:, 1:])
    step = out.notes[bad, 0] - notes[bad, 0]
    assert np.all((np.abs(step) >= 1) & (np.abs(step) <= an.MAX_INTERVAL))
    for row in out.notes[bad]:
      assert not _overlaps_same_pitch(notes, row)  # nothing sounds there
    intervals += step.tolist()
  assert min(intervals) < 0 < max(intervals)


def test_extra_appends_flagged_notes_in_the_clips_range(clips):
  for i, notes in enumerate(clips):
    out = _corrupt(notes, "extra", 0.3, seed=i)
    n = len(notes)
    np.testing.assert_array_equal(out.notes[:n], notes)
    added = out.notes[n:]
    assert len(added) == an.num_affected(n, 0.3) and out.is_error[n:].all()
    low = max(rolls.MIN_PITCH, notes[:, 0].min() - an.PITCH_MARGIN)
    high = min(TOP, notes[:, 0].max() + an.PITCH_MARGIN)
    assert np.all((added[:, 0] >= low) & (added[:, 0] <= high))
    assert np.all(added[:, 2] - added[:, 1] >= an.MIN_SECONDS - TOL)
    for j, row in enumerate(added):
      others = np.concatenate([notes, np.delete(added, j, axis=0)])
      assert not _overlaps_same_pitch(others, row)


def test_missing_removes_true_notes_and_returns_them(clips):
  for i, notes in enumerate(clips):
    out = _corrupt(notes, "missing", 0.3, seed=i)
    rows = {tuple(r) for r in notes.tolist()}
    kept = [tuple(r) for r in out.notes.tolist()]
    removed = {tuple(r) for r in out.removed.tolist()}
    assert not removed & set(kept) and removed | set(kept) == rows
    order = [tuple(r) for r in notes.tolist() if tuple(r) not in removed]
    assert kept == order  # the kept rows keep their order


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), "0.1", None])
def test_invalid_rates_raise(clips, rate):
  with pytest.raises(ValueError, match="rate must be a number in"):
    _corrupt(clips[0], "missing", rate)
  with pytest.raises(ValueError, match="rate must be a number in"):
    ns.evaluate([np.zeros((FRAMES, 88))], clips[:1], FRAME_RATE, KINDS, rate, 0)


def test_invalid_kinds_notes_and_clips_raise(clips):
  with pytest.raises(UnknownNameError, match="extra, missing, onset_shift"):
    _corrupt(clips[0], "transposed")
  with pytest.raises(ValueError, match="unknown note error 'shift'"):
    ns.evaluate([np.zeros((FRAMES, 88))], clips[:1], FRAME_RATE, ["shift"], 0.1, 0)
  with pytest.raises(ValueError, match=r"\[n, 3\]"):
    _corrupt(np.zeros((4, 2)), "extra")
  with pytest.raises(ValueError, match="duration must be > 0"):
    an.corrupt_notes(clips[0], "extra", 0.1, 0, duration=0.0)
  # No note of a 0.1-s clip has room for a 60-ms shift that keeps 30 ms of it.
  with pytest.raises(ValueError, match="can take a 'onset_shift' error"):
    an.corrupt_notes([[60, 0.02, 0.08]], "onset_shift", 1.0, 0, duration=0.1)
  with pytest.raises(ValueError, match="frame_probs must be"):
    ns.note_scores(np.zeros(FRAMES), clips[0], FRAME_RATE)


# Scores


def test_scores_of_one_clip_point_at_the_wrong_notes():
  notes = np.array([[60, 0.2, 0.7], [64, 0.5, 1.2], [67, 1.0, 1.6]], np.float32)
  probs = np.where(_roll(notes) > 0.5, 0.9, 0.05)
  true = ns.note_scores(probs, notes, FRAME_RATE)
  assert np.all(true < -2.0)  # every cell agrees: strongly right
  for wrong in ([60, 0.3, 0.8], [62, 0.2, 0.7], [72, 1.3, 1.5]):
    annotated = np.concatenate([notes[1:], [wrong]])
    score = ns.note_scores(probs, annotated, FRAME_RATE)
    assert score[-1] > 0 > score[:-1].max()
  # A note the annotation lacks is heard; a decoy where nothing sounds is not.
  candidates = np.array([[60, 0.2, 0.7], [50, 0.2, 0.7], [64, 0.5, 1.2]])
  heard = ns.missing_scores(probs, notes[1:], candidates, FRAME_RATE)
  assert heard[0] > 1.0 and heard[1] < -1.0
  assert heard[2] == 0.0  # the annotation holds it: nothing is missing
  outside = ns.note_scores(probs, [[10, 0.2, 0.7]], FRAME_RATE)
  assert np.isnan(outside).all()


def test_candidates_from_probs_proposes_the_unannotated_notes(clips):
  rng = np.random.default_rng(1)
  for i, notes in enumerate(clips[:10]):
    probs = _blurred(notes, rng)
    out = _corrupt(notes, "missing", 0.3, seed=i)
    found = ns.candidates_from_probs(probs, out.notes, FRAME_RATE, 0.5)
    assert len(found) == len(out.removed)
    order = np.lexsort((out.removed[:, 0], out.removed[:, 1]))
    expected = out.removed[order]
    np.testing.assert_array_equal(found[:, 0], expected[:, 0])
    # Frame-quantised: the onset moves later by less than one frame.
    lag = found[:, 1] - expected[:, 1]
    assert np.all((lag >= -TOL) & (lag < 1 / FRAME_RATE + TOL))
    assert len(ns.candidates_from_probs(probs, notes, FRAME_RATE, 0.5)) == 0


def _auroc(result):
  return {kind: r["auroc"] for kind, r in result.items()}


def test_probs_from_the_true_roll_find_every_kind_of_error(clips):
  rng = np.random.default_rng(2)
  probs = [_blurred(notes, rng) for notes in clips]
  result = ns.evaluate(probs, clips, FRAME_RATE, KINDS, 0.2, seed=0)
  assert set(result) == set(KINDS)
  total = sum(len(notes) for notes in clips)
  for kind, r in result.items():
    assert r["auroc"] > 0.9, (kind, r)
    assert r["num_errors"] == sum(an.num_affected(len(n), 0.2) for n in clips)
    expected = total + r["num_errors"] if kind == "extra" else total
    assert r["num_notes"] == expected
  again = ns.evaluate(probs, clips, FRAME_RATE, KINDS, 0.2, seed=0)
  assert again == result


@pytest.mark.parametrize("value", [0.05, 0.2, 0.5])
def test_constant_probs_are_chance(clips, value):
  probs = [np.full((FRAMES, 88), value) for _ in clips]
  result = ns.evaluate(probs, clips, FRAME_RATE, KINDS, 0.2, seed=0)
  for kind, auroc in _auroc(result).items():
    assert auroc == pytest.approx(0.5), kind


def test_probs_independent_of_the_notes_are_near_chance(clips):
  rng = np.random.default_rng(3)
  probs = [rng.uniform(size=(FRAMES, 88)) for _ in clips]
  # ~115 errors against ~450 notes: the AUROC's standard error is about 0.03.
  for kind, auroc in _auroc(
    ns.evaluate(probs, clips, FRAME_RATE, KINDS, 0.2, 0)
  ).items():
    assert abs(auroc - 0.5) < 0.1, (kind, auroc)


# transcriber_probs


def test_transcriber_probs_are_the_sigmoid_of_the_logits_in_padded_batches():
  config = transcriber.get_config("tiny")
  grid = FrameGrid(16000, 32000, 256)
  model = model_lib.build_transcriber(config, grid)
  audio = np.asarray(
    jax.random.uniform(jax.random.key(0), (5, 32000), minval=-0.5, maxval=0.5)
  )
  params = jax.jit(model.init)(jax.random.key(1), jnp.asarray(audio[:1]))
  run = types.SimpleNamespace(model=model, params=params)
  probs = ns.transcriber_probs(run, audio, batch_size=2)  # batches 2, 2, 1 + pad
  assert probs.shape == (5, FRAMES, 88) and probs.dtype == np.float32
  last = jax.nn.sigmoid(model.apply(params, jnp.asarray(audio[4:])))
  np.testing.assert_allclose(probs[4:], last, atol=1e-5)
  longer = np.pad(audio, ((0, 0), (0, 100)))  # fit to the grid's clip
  np.testing.assert_array_equal(ns.transcriber_probs(run, longer, batch_size=2), probs)
  with pytest.raises(ValueError, match="transcriber run"):
    ns.transcriber_probs(types.SimpleNamespace(model=object(), params=None), audio)
