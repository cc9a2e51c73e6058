"""Tests for the WFDB ECG readers (audiojax/data/ecg.py) on folders made here."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import wfdb
from wfdb.io import annotation as wfdb_annotation

from audiojax.data import ecg
from audiojax.data.ecg import ECGError

FS = 360
T = 3600  # 10 s at 360 Hz
# Beats of every MIT-BIH-style record: the first and last two sit too close to an edge
# for a 500-sample window with the R peak at 200 (after 360 -> 250 Hz resampling, the
# 3200 beat too).
BEATS = np.array([50, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3500])
SYMBOLS = ["N", "N", "V", "N", "A", "N", "L", "N", "V", "N"]
NON_BEATS = [(5, "+"), (1000, "~"), (2210, "+")]
PTBXL_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF"] + [f"V{i}" for i in range(1, 7)]


def _ecg(seed: int, beats=BEATS, n=T, fs=FS) -> np.ndarray:
  """Two leads: sinusoids, plus on lead 0 a narrow 1.5 mV spike at every beat."""
  t = np.arange(n) / fs
  base = 0.3 * np.sin(2 * np.pi * (1.1 + 0.1 * seed) * t) + 0.1 * np.sin(14 * t)
  spikes = sum(1.5 * np.exp(-0.5 * ((np.arange(n) - b) / 1.5) ** 2) for b in beats)
  return np.stack([base + spikes, 0.5 * np.cos(2 * np.pi * 3 * t)], axis=1)


def _write_record(folder, name, sig, *, fmt="212", names=("MLII", "V5"), ann=True):
  wfdb.wrsamp(
    name,
    fs=FS,
    units=["mV"] * sig.shape[1],
    sig_name=list(names),
    p_signal=sig,
    fmt=[fmt] * sig.shape[1],
    write_dir=str(folder),
  )
  if ann:
    marks = sorted([*zip(BEATS.tolist(), SYMBOLS, strict=True), *NON_BEATS])
    wfdb.wrann(
      name,
      "atr",
      np.array([s for s, _ in marks]),
      symbol=[y for _, y in marks],
      write_dir=str(folder),
    )


@pytest.fixture(scope="module")
def mitbih(tmp_path_factory):
  folder = tmp_path_factory.mktemp("mitbih")
  _write_record(folder, "100", _ecg(0), fmt="212")
  _write_record(folder, "101", _ecg(1), fmt="16")
  # Record 102 has its MLII lead second, like MIT-BIH's 114.
  _write_record(folder, "102", _ecg(2)[:, ::-1], fmt="212", names=("V5", "MLII"))
  return folder


def test_tables_cover_wfdb_symbols_except_those_without_an_ec57_class():
  assert set(ecg.SYMBOL_TO_AAMI) == set("NLRejAaJSVEF/fQ")
  assert set(ecg.SYMBOL_TO_AAMI.values()) == set(ecg.AAMI)
  assert not set(ecg.SYMBOL_TO_AAMI) & ecg.NON_BEAT_SYMBOLS
  known = set(ecg.SYMBOL_TO_AAMI) | ecg.NON_BEAT_SYMBOLS
  assert set(wfdb_annotation.ann_label_table.symbol) - known == {" ", "B", "n", "r"}


def test_read_wfdb_returns_signal_rate_names_and_beats(mitbih):
  for name, fmt_seed in (("100", 0), ("101", 1)):
    rec = ecg.read_wfdb(str(mitbih / name))
    gain = np.array(wfdb.rdheader(str(mitbih / name)).adc_gain)
    assert rec["signal"].dtype == np.float32 and rec["signal"].shape == (T, 2)
    err = np.abs(rec["signal"] - _ecg(fmt_seed)).max(axis=0)
    assert (err <= 1.0 / gain).all(), (err, gain)
    assert rec["fs"] == 360.0 and rec["sig_name"] == ["MLII", "V5"]
    assert rec["beat_samples"].dtype == np.int64
    np.testing.assert_array_equal(rec["beat_samples"], BEATS)
    assert rec["beat_symbols"] == SYMBOLS  # "+" and "~" dropped


def test_read_wfdb_without_annotation_file_has_no_beats(tmp_path):
  _write_record(tmp_path, "r", _ecg(0), ann=False)
  rec = ecg.read_wfdb(str(tmp_path / "r"))
  assert rec["beat_samples"].shape == (0,) and rec["beat_symbols"] == []
  assert rec["signal"].shape == (T, 2)


def test_beat_windows_center_the_r_peak_and_drop_edge_beats(mitbih):
  rec = ecg.read_wfdb(str(mitbih / "100"))
  args = (rec["signal"], rec["fs"], rec["beat_samples"], rec["beat_symbols"])
  windows, labels, index = ecg.beat_windows(*args)
  np.testing.assert_array_equal(index, np.arange(1, 9))
  assert windows.dtype == np.float32 and windows.shape == (8, 500)
  assert labels.dtype == np.int32 and index.dtype == np.int64
  # N N V N A N L N V N -> AAMI N=0, S=1, V=2; L is N.
  np.testing.assert_array_equal(labels, [0, 2, 0, 1, 0, 0, 0, 2])
  np.testing.assert_array_equal(windows.argmax(axis=1), 200)
  for w, b in zip(windows, BEATS[index], strict=True):
    np.testing.assert_array_equal(w, rec["signal"][b - 200 : b + 300, 0])
  # Other windows and centres.
  windows, _, index = ecg.beat_windows(*args, window=100, center=0.5)
  np.testing.assert_array_equal(index, np.arange(10))
  np.testing.assert_array_equal(windows.argmax(axis=1), 50)


def test_beat_windows_resampled_to_250_hz_keep_the_peak_within_one_sample(mitbih):
  rec = ecg.read_wfdb(str(mitbih / "101"))
  args = (rec["signal"], rec["fs"], rec["beat_samples"], rec["beat_symbols"])
  windows, labels, index = ecg.beat_windows(*args, target_fs=250.0)
  # 3600 samples -> 2500; the beat at 3200 -> 2222 now leaves the window too.
  np.testing.assert_array_equal(index, np.arange(1, 8))
  np.testing.assert_array_equal(labels, [0, 2, 0, 1, 0, 0, 0])
  assert windows.shape == (7, 500)
  # At 250 Hz a window spans 2 s, so the next beat shows up 278 samples later: look
  # for this beat's spike within 100 samples of the centre.
  peaks = 100 + windows[:, 100:300].argmax(axis=1)
  assert (np.abs(peaks - 200) <= 1).all(), peaks
  np.testing.assert_allclose(windows[:, 100:300].max(axis=1), 1.5, atol=0.45)
  same, _, same_index = ecg.beat_windows(*args, target_fs=360.0)
  np.testing.assert_array_equal(same_index, np.arange(1, 9))
  np.testing.assert_array_equal(same.argmax(axis=1), 200)


def test_beat_windows_reject_unknown_symbols_and_bad_arguments():
  sig = _ecg(0)
  with pytest.raises(ECGError, match="unknown beat symbol '\\+'"):
    ecg.beat_windows(sig, FS, [400], ["+"])
  with pytest.raises(ValueError, match="lead 2"):
    ecg.beat_windows(sig, FS, [400], ["N"], lead=2)
  with pytest.raises(ValueError, match="1 beat samples but 2"):
    ecg.beat_windows(sig, FS, [400], ["N", "V"])


def _check_folder(out, names, patients, leads, target_fs):
  records = [
    (p, n, ecg.read_wfdb(str(n)), lead)
    for p, n, lead in zip(patients, names, leads, strict=True)
  ]
  for key, dtype in [("signal", np.float32), ("label", np.int32)]:
    assert out[key].dtype == dtype
  assert out["patient"].dtype == np.int32 and out["beat_time"].dtype == np.float32
  start = 0
  for patient, path, rec, lead in records:
    want, labels, index = ecg.beat_windows(
      rec["signal"],
      rec["fs"],
      rec["beat_samples"],
      rec["beat_symbols"],
      lead=lead,
      target_fs=target_fs,
    )
    stop = start + len(index)
    np.testing.assert_array_equal(out["signal"][start:stop], want)
    np.testing.assert_array_equal(out["label"][start:stop], labels)
    np.testing.assert_array_equal(out["patient"][start:stop], patient)
    assert set(out["record"][start:stop]) == {os.path.basename(path)}
    np.testing.assert_allclose(out["beat_time"][start:stop], BEATS[index] / FS)
    start = stop
  assert start == len(out["label"])


def test_read_mitbih_folder_reads_every_record_in_sorted_order(mitbih):
  out = ecg.read_mitbih_folder(str(mitbih))
  assert out["signal"].shape == (21, 500)  # 7 beats kept per record at 250 Hz
  np.testing.assert_array_equal(np.bincount(out["patient"]), [7, 7, 7])
  names = [mitbih / n for n in ("100", "101", "102")]
  _check_folder(out, names, [0, 1, 2], [0, 0, 0], 250.0)
  # By name, record 102's MLII is its second lead.
  by_name = ecg.read_mitbih_folder(str(mitbih), lead="MLII", target_fs=None)
  assert by_name["signal"].shape == (24, 500)
  _check_folder(by_name, names, [0, 1, 2], [0, 0, 1], None)
  np.testing.assert_array_equal(by_name["signal"].argmax(axis=1), 200)
  with pytest.raises(ECGError, match="has no lead 'II'"):
    ecg.read_mitbih_folder(str(mitbih), lead="II")


def test_read_mitbih_folder_follows_the_records_file(mitbih, tmp_path):
  folder = tmp_path / "listed"
  shutil.copytree(mitbih, folder)
  (folder / "RECORDS").write_text("102\n100\n\n")
  out = ecg.read_mitbih_folder(str(folder), target_fs=None)
  assert sorted(set(out["record"])) == ["100", "102"]
  _check_folder(out, [folder / "100", folder / "102"], [0, 1], [0, 0], None)
  (folder / "RECORDS").write_text("100\n103\n")
  with pytest.raises(ECGError, match="103.hea"):
    ecg.read_mitbih_folder(str(folder))


def test_missing_header_and_empty_folders_raise(tmp_path):
  with pytest.raises(ECGError, match="nope.hea"):
    ecg.read_wfdb(str(tmp_path / "nope"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ECGError, match="empty"):
    ecg.read_mitbih_folder(str(tmp_path / "empty"))
  with pytest.raises(ECGError, match="ptbxl_database.csv"):
    ecg.read_ptbxl_folder(str(tmp_path / "empty"))
  _write_record(tmp_path / "empty", "200", _ecg(0), ann=False)
  with pytest.raises(ECGError, match="200.atr"):
    ecg.read_mitbih_folder(str(tmp_path / "empty"))


# wfdb 4.3.1 itself raises for most cuts, but reads a 212 file cut to 3 bytes as a
# full-length signal: the size check against the header catches every one.
CUTS = {"to_3_bytes": lambda n: 3, "to_half": lambda n: n // 2, "by_1": lambda n: n - 1}


@pytest.mark.parametrize("fmt", ["212", "16"])
@pytest.mark.parametrize("cut", CUTS)
def test_truncated_signal_file_raises(tmp_path, fmt, cut):
  _write_record(tmp_path, "trunc", _ecg(0), fmt=fmt)
  path = tmp_path / "trunc.dat"
  with open(path, "r+b") as f:
    f.truncate(CUTS[cut](os.path.getsize(path)))
  with pytest.raises(ECGError, match="truncated signal file .*trunc.dat"):
    ecg.read_wfdb(str(tmp_path / "trunc"))


def test_missing_signal_file_raises(tmp_path):
  _write_record(tmp_path, "nodat", _ecg(0))
  os.remove(tmp_path / "nodat.dat")
  with pytest.raises(ECGError, match="missing signal file .*nodat.dat"):
    ecg.read_wfdb(str(tmp_path / "nodat"))


@pytest.mark.parametrize("symbol", ["n", "r", "B"])
def test_beat_symbol_without_an_aami_class_raises(tmp_path, symbol):
  # wfdb writes and reads these standard codes; EC57 gives them no class.
  _write_record(tmp_path, "odd", _ecg(0), ann=False)
  wfdb.wrann(
    "odd", "atr", np.array([400, 800]), symbol=["N", symbol], write_dir=str(tmp_path)
  )
  assert wfdb.rdann(str(tmp_path / "odd"), "atr").symbol == ["N", symbol]
  with pytest.raises(
    ECGError,
    match=f"unknown annotation symbol '{symbol}' in .*odd.atr \\(sample 800\\)",
  ):
    ecg.read_wfdb(str(tmp_path / "odd"))


def test_beat_outside_the_signal_raises(tmp_path):
  _write_record(tmp_path, "late", _ecg(0), ann=False)
  wfdb.wrann(
    "late", "atr", np.array([400, T + 10]), symbol=["N", "V"], write_dir=str(tmp_path)
  )
  with pytest.raises(ECGError, match="beat in .*late.atr \\(sample 3610\\) is outside"):
    ecg.read_wfdb(str(tmp_path / "late"))


def test_all_nan_channel_raises(tmp_path):
  digital = np.stack([np.arange(T) % 100, np.full(T, -32768)], axis=1)  # fmt 16 NaN
  wfdb.wrsamp(
    "gap",
    fs=FS,
    units=["mV", "mV"],
    sig_name=["MLII", "V5"],
    d_signal=digital,
    adc_gain=[200.0, 200.0],
    baseline=[0, 0],
    fmt=["16", "16"],
    write_dir=str(tmp_path),
  )
  with pytest.raises(ECGError, match="gap: channels \\['V5'\\] are all NaN"):
    ecg.read_wfdb(str(tmp_path / "gap"))


# ecg_id -> (patient_id, scp_codes, expected superclass or None when skipped).
PTBXL = {
  1: (15709.0, "{'NORM': 100.0, 'SR': 0.0}", "NORM"),
  2: (13243.0, "{'IMI': 50.0, 'NDT': 100.0, 'SR': 0.0}", "STTC"),  # most likely
  3: (15709.0, "{'LVH': 100.0, 'IMI': 100.0}", "MI"),  # tie: IMI sorts first
  4: (20372.0, "{'AFIB': 100.0, 'SR': 0.0}", None),  # rhythm only: skipped
  5: (11111.0, "{'ASMI': 0.0, 'SR': 100.0}", "MI"),  # a diagnostic code at 0.0
}


@pytest.fixture(scope="module")
def ptbxl(tmp_path_factory):
  folder = tmp_path_factory.mktemp("ptbxl")
  rows = []
  rng = np.random.default_rng(0)
  for ecg_id, (patient, codes, _) in PTBXL.items():
    hr, lr = f"records500/00000/{ecg_id:05d}_hr", f"records100/00000/{ecg_id:05d}_lr"
    sig = np.cumsum(rng.normal(0, 0.02, [5000, 12]), axis=0)
    for name, fs, part in ((hr, 500, sig), (lr, 100, sig[::5])):
      os.makedirs(folder / os.path.dirname(name), exist_ok=True)
      wfdb.wrsamp(
        os.path.basename(name),
        fs=fs,
        units=["mV"] * 12,
        sig_name=PTBXL_LEADS,
        p_signal=part,
        fmt=["16"] * 12,
        write_dir=str(folder / os.path.dirname(name)),
      )
    rows.append(
      dict(
        ecg_id=ecg_id,
        patient_id=patient,
        scp_codes=codes,
        strat_fold=ecg_id % 10 + 1,
        filename_lr=lr,
        filename_hr=hr,
      )
    )
  pd.DataFrame(rows).to_csv(folder / "ptbxl_database.csv", index=False)
  statements = pd.DataFrame(
    {
      "diagnostic": [1.0, 1.0, 1.0, 1.0, 1.0, None, None],
      "rhythm": [None, None, None, None, None, 1.0, 1.0],
      "diagnostic_class": ["NORM", "MI", "MI", "STTC", "HYP", None, None],
    },
    index=["NORM", "IMI", "ASMI", "NDT", "LVH", "SR", "AFIB"],
  )
  statements.to_csv(folder / "scp_statements.csv")
  return folder


def test_read_ptbxl_folder_labels_and_segments(ptbxl):
  for lead, index in ((0, 0), (1, 1), ("V2", 7)):
    out = ecg.read_ptbxl_folder(str(ptbxl), lead=lead)
    kept = [i for i, (_, _, c) in PTBXL.items() if c is not None]
    assert kept == [1, 2, 3, 5]
    assert out["signal"].shape == (40, 500) and out["signal"].dtype == np.float32
    for key in ("label", "patient", "record"):
      assert out[key].shape == (40,) and out[key].dtype == np.int32
    names = [ecg.PTBXL_SUPERCLASSES[i] for i in out["label"][::10]]
    assert names == ["NORM", "STTC", "MI", "MI"]
    np.testing.assert_array_equal(out["record"], np.repeat(kept, 10))
    np.testing.assert_array_equal(
      out["patient"], np.repeat([15709, 13243, 15709, 11111], 10)
    )
    for r, ecg_id in enumerate(kept):
      path = str(ptbxl / f"records500/00000/{ecg_id:05d}_hr")
      sig = ecg.read_wfdb(path)["signal"][:, index]
      for k in range(10):
        np.testing.assert_array_equal(
          out["signal"][r * 10 + k], sig[k * 500 : (k + 1) * 500]
        )


def test_read_ptbxl_folder_at_100_hz(ptbxl):
  out = ecg.read_ptbxl_folder(str(ptbxl), sampling=100, segments=5, segment_samples=200)
  assert out["signal"].shape == (20, 200)
  sig = ecg.read_wfdb(str(ptbxl / "records100/00000/00002_lr"))["signal"][:, 0]
  np.testing.assert_array_equal(out["signal"][5:10].reshape(-1), sig)
  with pytest.raises(ECGError, match="00001_lr has 1000 samples, fewer than"):
    ecg.read_ptbxl_folder(str(ptbxl), sampling=100)


def test_malformed_ptbxl_folders_raise_naming_the_file(ptbxl, tmp_path):
  folder = tmp_path / "ptbxl"
  shutil.copytree(ptbxl, folder)
  with pytest.raises(ECGError, match="00001_hr has 5000 samples, fewer than"):
    ecg.read_ptbxl_folder(str(folder), segment_samples=501)
  os.remove(folder / "records500/00000/00004_hr.hea")  # skipped: never read
  os.remove(folder / "records500/00000/00003_hr.hea")
  with pytest.raises(ECGError, match="missing header .*00003_hr.hea"):
    ecg.read_ptbxl_folder(str(folder))
  os.remove(folder / "scp_statements.csv")
  with pytest.raises(ECGError, match="missing CSV file .*scp_statements.csv"):
    ecg.read_ptbxl_folder(str(folder))
  os.remove(folder / "ptbxl_database.csv")
  with pytest.raises(ECGError, match="missing CSV file .*ptbxl_database.csv"):
    ecg.read_ptbxl_folder(str(folder))
  with pytest.raises(ValueError, match="sampling must be 500 or 100, got 250"):
    ecg.read_ptbxl_folder(str(folder), sampling=250)
