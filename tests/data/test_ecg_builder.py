"""The synthetic ECG patients and the ``audiojax_ecg`` builder (synthetic and
MIT-BIH-style folders written here with wfdb)."""

import numpy as np
import pytest
import wfdb

from audiojax import data
from audiojax.data import ecg, ecg_builder, ecg_synth
from audiojax.data.source import DataError

FS = 250


@pytest.fixture(scope="module")
def record():
  patient = ecg_synth.sample_patient(3, seed=0)
  return patient, *ecg_synth.simulate(patient, 120.0, FS, seed=0)


def test_patients_differ_and_are_a_pure_function_of_id_and_seed():
  a, b = ecg_synth.sample_patient(0, 0), ecg_synth.sample_patient(1, 0)
  assert a == ecg_synth.sample_patient(0, 0)
  assert a.heart_rate != b.heart_rate and a.ti != b.ti
  assert ecg_synth.sample_patient(0, 1) != a
  assert 55 <= a.heart_rate <= 95


def test_a_recording_is_deterministic_and_has_every_beat_class(record):
  patient, signal, samples, symbols = record
  again = ecg_synth.simulate(patient, 120.0, FS, seed=0)
  np.testing.assert_array_equal(signal, again[0])
  assert symbols == again[2]
  assert signal.shape == (120 * FS,) and signal.dtype == np.float32
  counts = {s: symbols.count(s) for s in "NAV"}
  assert counts["N"] > counts["A"] > 0 and counts["V"] > 0
  # Heart rate as asked: beats per minute within 10 %.
  assert len(samples) / 2 == pytest.approx(patient.heart_rate, rel=0.1)


def test_ectopic_beats_have_their_timing(record):
  patient, _, samples, symbols = record
  rr = np.diff(samples) / FS
  before = {
    s: rr[[i - 1 for i in range(1, len(symbols)) if symbols[i] == s]] for s in "NAV"
  }
  sinus = 60.0 / patient.heart_rate
  # Premature: S and V come early; N beats follow the sinus rate.
  assert np.median(before["A"]) < 0.85 * sinus
  assert np.median(before["V"]) < 0.8 * sinus
  # V: full compensatory pause, the two RRs around it add up to two sinus RRs.
  pairs = [rr[i - 1] + rr[i] for i in range(1, len(rr)) if symbols[i] == "V"]
  assert np.median(pairs) == pytest.approx(2 * sinus, rel=0.1)


def _qrs_width(beat, fs):
  """Samples around R above half the peak deflection, in ms."""
  r = int(ecg_synth.PRE_RR * len(beat) / (ecg_synth.PRE_RR + ecg_synth.POST_RR))
  peak = np.abs(beat[r])
  left = right = r
  while left > 0 and np.abs(beat[left]) > peak / 2:
    left -= 1
  while right < len(beat) - 1 and np.abs(beat[right]) > peak / 2:
    right += 1
  return (right - left) * 1000 / fs


@pytest.mark.parametrize("pid", [0, 1, 2])
def test_beat_morphologies(pid):
  patient = ecg_synth.sample_patient(pid, 0)
  t = ecg_synth.beat_templates(patient, FS)
  pre = int(ecg_synth.PRE_RR * 60 * FS / patient.heart_rate)
  # R sits at `pre` in every template, at the patient's amplitude for N beats.
  assert np.argmax(t["N"]) == pytest.approx(pre, abs=2)
  assert t["N"].max() == pytest.approx(patient.amplitude_mv, rel=1e-6)
  # V: a wide QRS, no P wave; S: the same narrow QRS with another P wave.
  assert _qrs_width(t["V"], FS) > 1.5 * _qrs_width(t["N"], FS)
  # The P wave is the positive hump 120-300 ms before R; a V beat has none (its
  # wide Q wave may dip there).
  p_window = slice(pre - int(0.3 * FS), pre - int(0.12 * FS))
  assert t["V"][p_window].max() < 0.3 * t["N"][p_window].max()
  assert not np.allclose(t["S"][p_window], t["N"][p_window], atol=0.02)
  assert _qrs_width(t["S"], FS) == pytest.approx(_qrs_width(t["N"], FS), abs=12)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def _split(name, data_dir, config="tiny"):
  split = data.load("audiojax_ecg", name, data_dir=data_dir, config=config)
  rows = [split.source[i] for i in range(len(split))]
  return split, {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def test_tiny_builds_patient_and_time_disjoint_splits(tiny_dir):
  cfg = ecg_builder.CONFIGS["tiny"]
  got = {name: _split(name, tiny_dir)[1] for name in ecg_builder.SPLITS}
  population = set(range(cfg.population))
  personal = set(range(cfg.population, cfg.population + cfg.personal))
  for name in ("train", "validation", "test"):
    assert set(np.unique(got[name]["patient"])) == population
  for name in ("personal_train", "personal_test"):
    assert set(np.unique(got[name]["patient"])) == personal
  for pid in personal:
    fit = got["personal_train"]["time"][got["personal_train"]["patient"] == pid]
    held = got["personal_test"]["time"][got["personal_test"]["patient"] == pid]
    assert fit.max() < held.min()  # the patient's later recording is held out
    assert len(fit) == pytest.approx(len(held), abs=1)
  # Every beat of every patient is in exactly one split.
  want = ecg_builder.synthetic_beats(cfg)
  assert sum(len(g["label"]) for g in got.values()) == len(want["label"])
  split, train = _split("train", tiny_dir)
  assert split.class_names == ("N", "S", "V") and split.sample_rate == FS
  assert train["audio"].shape[1] == split.clip_samples == 500
  assert np.abs(train["audio"]).max() <= 1.0
  assert set(np.unique(train["label"])) == {0, 1, 2}
  # The R peak sits at 40 % of each normal window.
  normal = train["audio"][train["label"] == 0]
  assert np.argmax(normal.mean(axis=0)) == pytest.approx(200, abs=2)


def test_mitbih_config_reads_a_wfdb_folder(tmp_path):
  """Synthetic patients written as WFDB records at 360 Hz, built as ``mitbih``."""
  manual = tmp_path / "downloads" / "manual" / "mitbih"
  manual.mkdir(parents=True)
  for pid in range(6):
    patient = ecg_synth.sample_patient(pid, 1)
    signal, samples, symbols = ecg_synth.simulate(patient, 30.0, 360, seed=1)
    wfdb.wrsamp(
      f"{100 + pid}",
      fs=360,
      units=["mV"],
      sig_name=["MLII"],
      p_signal=signal[:, None].astype(np.float64),
      fmt=["212"],
      write_dir=str(manual),
    )
    wfdb.wrann(f"{100 + pid}", "atr", samples, symbol=symbols, write_dir=str(manual))
  beats = len(ecg.read_mitbih_folder(str(manual))["label"])
  got = {n: _split(n, str(tmp_path), "mitbih")[1] for n in ecg_builder.SPLITS}
  assert sum(len(g["label"]) for g in got.values()) == beats
  personal = set(np.unique(got["personal_train"]["patient"]))
  assert len(personal) == ecg_builder.CONFIGS["mitbih"].personal
  assert not personal & set(np.unique(got["train"]["patient"]))
  split, _ = _split("train", str(tmp_path), "mitbih")
  assert split.class_names == ecg.AAMI


def test_bad_requests_raise_data_errors(tmp_path, tiny_dir):
  with pytest.raises(DataError, match="unknown audiojax_ecg split 'dev'"):
    data.load("audiojax_ecg", "dev", data_dir=tiny_dir, config="tiny")
  with pytest.raises(DataError, match="unknown audiojax_ecg config 'huge'"):
    data.load("audiojax_ecg", "train", data_dir=tiny_dir, config="huge")
  with pytest.raises(DataError, match="one class label"):
    data.load("audiojax_ecg", "train", data_dir=tiny_dir, config="tiny", label="rhythm")
  with pytest.raises(DataError, match="no folder .*manual/ptbxl"):
    data.load("audiojax_ecg", "train", data_dir=str(tmp_path), config="ptbxl")
