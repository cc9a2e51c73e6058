"""Real ECG records of PhysioNet-style folders (MIT-BIH, PTB-XL), read with ``wfdb``.

:func:`read_wfdb` reads and checks one WFDB record and its beat annotations;
:func:`beat_windows` cuts one window per beat around its R peak;
:func:`read_mitbih_folder` does so for every record of an MIT-BIH-style folder (Moody
& Mark 2001); :func:`read_ptbxl_folder` cuts the records of a PTB-XL-style folder
(Wagner et al. 2020) into segments labelled with their diagnostic superclass, as in
Chatterjee et al. (2024). Every malformed input is an :class:`ECGError` naming a file.

Beats are grouped into the five AAMI classes of ANSI/AAMI EC57. EC57 maps only the
beat codes of the MIT-BIH database: the later WFDB beat codes ``B`` (bundle branch
block beat, unspecified), ``n`` (supraventricular escape) and ``r`` (R-on-T premature
ventricular contraction) have no EC57 class, so they are deliberately in neither table
below and a record that uses them raises rather than getting a guessed class.
"""

from __future__ import annotations

import ast
import fractions
import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import wfdb
from scipy import signal as scipy_signal

from audiojax.data.source import DataError


class ECGError(DataError):
  """A malformed or missing ECG record or folder; the message names the file."""


AAMI = ("N", "S", "V", "F", "Q")
SYMBOL_TO_AAMI: dict[str, str] = {
  s: c
  for c, g in zip(AAMI, ("NLRej", "AaJS", "VE", "F", "/fQ"), strict=True)
  for s in g
}
# Every non-beat code of wfdb's ``ann_label_table`` (rhythm and signal-quality changes,
# artifacts, comments, waveform peaks, onsets and ends, ...) plus "`" and "'", the
# older WFDB mnemonics of waveform onset and end that "(" and ")" replaced.
NON_BEAT_SYMBOLS: frozenset[str] = frozenset("+~|\"x![]sT*D=@ptu`'^()?")
PTBXL_SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")

# Bits each sample takes in the uncompressed WFDB signal formats; compressed (FLAC)
# formats 508/516/524 have no fixed size and are not size-checked.
_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}
_BITS |= {"310": 32 / 3, "311": 32 / 3}
_PTBXL_COLUMNS = ("ecg_id", "patient_id", "filename_hr", "filename_lr", "scp_codes")


def _check_signal_files(record_path: str, header: wfdb.Record) -> None:
  """Raises ECGError if a signal file is missing or shorter than the header says."""
  if header.sig_len is None or not header.file_name:
    return
  folder = os.path.dirname(record_path)
  spf = header.samps_per_frame or [1] * len(header.file_name)
  offsets = header.byte_offset or [None] * len(header.file_name)
  for file_name in dict.fromkeys(header.file_name):
    channels = [i for i, f in enumerate(header.file_name) if f == file_name]
    fmt = header.fmt[channels[0]]
    path = os.path.join(folder, file_name)
    if not os.path.exists(path):
      raise ECGError(f"missing signal file {path} of record {record_path}")
    if fmt not in _BITS:
      continue
    bits = _BITS[fmt] * header.sig_len * sum(spf[i] or 1 for i in channels)
    needed = (offsets[channels[0]] or 0) + math.ceil(bits / 8)
    if (size := os.path.getsize(path)) < needed:
      raise ECGError(
        f"truncated signal file {path}: {size} bytes, but the header of record "
        f"{record_path} says sig_len={header.sig_len} (needs {needed} bytes)"
      )


def _read_signal(record_path: str) -> wfdb.Record:
  """Reads and checks one record's header and signals (see :func:`read_wfdb`)."""
  if not os.path.exists(record_path + ".hea"):
    raise ECGError(f"missing header {record_path}.hea of record {record_path}")
  try:
    header = wfdb.rdheader(record_path)
  except Exception as e:  # wfdb raises assorted errors for malformed headers.
    raise ECGError(f"malformed header {record_path}.hea: {e}") from e
  if isinstance(header, wfdb.Record):
    _check_signal_files(record_path, header)
  try:
    record = wfdb.rdrecord(record_path)
  except Exception as e:  # and for signal files that do not match their header.
    raise ECGError(f"cannot read record {record_path}: {e}") from e
  if record.p_signal is None or record.p_signal.ndim != 2 or not record.sig_name:
    raise ECGError(f"record {record_path} has no signals")
  if header.sig_len not in (None, length := record.p_signal.shape[0]):
    raise ECGError(f"record {record_path} has {length} of {header.sig_len} samples")
  if (empty := np.isnan(record.p_signal).all(axis=0)).any():
    names = [record.sig_name[i] for i in np.flatnonzero(empty)]
    raise ECGError(f"record {record_path}: channels {names} are all NaN")
  return record


def _read_beats(
  record_path: str, annotation: str, length: int
) -> tuple[np.ndarray, list]:
  """The beat annotations of a record, non-beats dropped (see :func:`read_wfdb`)."""
  path = f"{record_path}.{annotation}"
  if not os.path.exists(path):
    return np.zeros([0], np.int64), []
  try:
    ann = wfdb.rdann(record_path, annotation)
  except Exception as e:  # wfdb raises assorted errors for malformed annotations.
    raise ECGError(f"cannot read annotation file {path}: {e}") from e
  samples, symbols = [], []
  for sample, symbol in zip(np.asarray(ann.sample), ann.symbol, strict=True):
    if symbol in NON_BEAT_SYMBOLS:
      continue
    where = f"in {path} (sample {int(sample)})"
    if symbol not in SYMBOL_TO_AAMI:
      raise ECGError(f"unknown annotation symbol {symbol!r} {where}")
    if not 0 <= sample < length:
      raise ECGError(f"beat {where} is outside the signal of {length} samples")
    samples.append(int(sample))
    symbols.append(symbol)
  return np.asarray(samples, np.int64), symbols


def read_wfdb(record_path: str, *, annotation: str = "atr") -> dict:
  """Reads one WFDB record and its beat annotations.

  Args:
    record_path: the record's path without extension, as ``wfdb`` takes it.
    annotation: the annotation file's extension; if that file does not exist the
      record has no beats.

  Returns:
    ``dict(signal=[T, leads] float32 physical units (mV), fs=float,
    sig_name=list[str], beat_samples=int64 [n], beat_symbols=list[str] [n])`` with
    non-beat annotations dropped.

  Raises:
    ECGError: naming the record for a missing header, a missing or truncated signal
      file, a channel that is all NaN, an annotation symbol that is neither in
      ``SYMBOL_TO_AAMI`` nor in ``NON_BEAT_SYMBOLS``, or a beat outside the signal.
  """
  record = _read_signal(record_path)
  samples, symbols = _read_beats(record_path, annotation, record.p_signal.shape[0])
  out = dict(signal=record.p_signal.astype(np.float32), fs=float(record.fs))
  out.update(sig_name=list(record.sig_name), beat_samples=samples, beat_symbols=symbols)
  return out


def _lead_index(sig_name: Sequence[str], lead: int | str, record_path: str) -> int:
  """The channel index of ``lead`` (an index or a signal name) in one record."""
  index = list(sig_name).index(lead) if lead in sig_name else lead
  if isinstance(index, str) or not 0 <= index < len(sig_name):
    raise ECGError(f"record {record_path} has no lead {lead!r} (has {sig_name})")
  return index


def beat_windows(
  signal: np.ndarray,
  fs: float,
  beat_samples,
  beat_symbols,
  *,
  lead: int = 0,
  window: int = 500,
  center: float = 0.4,
  target_fs: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Cuts one window per beat around its R peak from one lead.

  Args:
    signal: ``[T, leads]`` samples at ``fs``.
    fs: the sampling rate of ``signal`` in Hz.
    beat_samples: ``[n]`` R-peak sample indices into ``signal``.
    beat_symbols: ``[n]`` beat symbols, keys of ``SYMBOL_TO_AAMI``.
    lead: the channel of ``signal`` to cut.
    window: samples per window (at ``target_fs`` when given).
    center: where the R peak sits in a window: at sample ``int(center * window)``.
    target_fs: if given and not ``fs``, the lead is first resampled by
      ``scipy.signal.resample_poly`` with the ratio
      ``Fraction(target_fs / fs).limit_denominator(1000)`` and the beats moved along.

  Returns:
    ``(windows [m, window] float32, labels [m] int32 AAMI index, beat_index [m]
    int64)``: ``beat_index`` says which of the ``n`` beats were kept. Beats whose
    window would leave the signal, or would hold a NaN sample, are dropped.

  Raises:
    ValueError: for arguments out of range or beat lists of different lengths.
    ECGError: for a symbol that is not a key of ``SYMBOL_TO_AAMI``.
  """
  signal = np.asarray(signal)
  if signal.ndim != 2 or not 0 <= lead < signal.shape[1]:
    raise ValueError(f"no lead {lead} in a signal of shape {signal.shape}")
  if window < 1 or not 0 <= center < 1 or fs <= 0 or (target_fs or 1) <= 0:
    raise ValueError(f"bad window={window}, center={center}, fs={fs}, {target_fs=}")
  samples = np.asarray(beat_samples, np.int64).reshape(-1)
  symbols = list(beat_symbols)
  if len(symbols) != samples.shape[0]:
    raise ValueError(f"{samples.shape[0]} beat samples but {len(symbols)} symbols")
  if unknown := [i for i, s in enumerate(symbols) if s not in SYMBOL_TO_AAMI]:
    raise ECGError(f"unknown beat symbol {symbols[unknown[0]]!r} (beat {unknown[0]})")
  labels = np.array([AAMI.index(SYMBOL_TO_AAMI[s]) for s in symbols], np.int32)
  x = signal[:, lead].astype(np.float64)
  positions = samples.astype(np.float64)
  if target_fs is not None and target_fs != fs:
    ratio = fractions.Fraction(target_fs / fs).limit_denominator(1000)
    if ratio != 1:
      x = scipy_signal.resample_poly(x, ratio.numerator, ratio.denominator)
      positions = positions * ratio.numerator / ratio.denominator
  starts = np.round(positions).astype(np.int64) - int(center * window)
  kept = np.flatnonzero((starts >= 0) & (starts + window <= x.shape[0]))
  windows = x[starts[kept][:, None] + np.arange(window)].reshape(len(kept), window)
  finite = np.isfinite(windows).all(axis=1)
  labels = labels.reshape(-1)[kept][finite]
  return windows[finite].astype(np.float32), labels, kept[finite].astype(np.int64)


def _record_names(folder: str) -> list[str]:
  """The sorted record names of a folder: its RECORDS file, else every ``*.hea``."""
  if not os.path.isdir(folder):
    raise ECGError(f"no ECG folder {folder}")
  listing = os.path.join(folder, "RECORDS")
  if os.path.exists(listing):
    with open(listing) as f:
      names = {n for n in map(str.strip, f) if n and not n.startswith("#")}
  else:
    names = {f[: -len(".hea")] for f in os.listdir(folder) if f.endswith(".hea")}
  if not names:
    raise ECGError(f"no records in {folder} (RECORDS file or *.hea files)")
  return sorted(names)


def read_mitbih_folder(
  folder: str,
  *,
  window: int = 500,
  target_fs: float | None = 250.0,
  lead: int | str = 0,
) -> dict[str, np.ndarray]:
  """Beat windows of every record of an MIT-BIH-style folder.

  Each record is ``NAME.hea`` + its signal file + ``NAME.atr``; the records are those
  of the ``RECORDS`` file if there is one, else every ``*.hea``, sorted by name.

  Args:
    folder: the folder.
    window: samples per beat window (at ``target_fs``), R peak at ``0.4 * window``.
    target_fs: the rate every record is resampled to (None keeps each record's own).
    lead: the channel to cut: an index, or a signal name such as ``"MLII"`` looked up
      in each record (in MIT-BIH, record 114 has MLII second, 102 and 104 lack it).

  Returns:
    ``dict(signal=[n, window] float32, label=[n] int32 AAMI index, patient=[n] int32
    index of the record in the sorted record list, record=[n] str record name,
    beat_time=[n] float32 seconds of the R peak)``.

  Raises:
    ECGError: for a missing or empty folder, or a bad record (none is skipped).
  """
  names = _record_names(folder)
  parts = {k: [] for k in ("signal", "label", "patient", "record", "beat_time")}
  for patient, name in enumerate(names):
    path = os.path.join(folder, name)
    rec = read_wfdb(path)
    if not os.path.exists(path + ".atr"):
      raise ECGError(f"missing annotation file {path}.atr of record {name}")
    beats = (rec[k] for k in ("signal", "fs", "beat_samples", "beat_symbols"))
    channel = _lead_index(rec["sig_name"], lead, path)
    windows, labels, index = beat_windows(
      *beats, lead=channel, window=window, target_fs=target_fs
    )
    parts["signal"].append(windows)
    parts["label"].append(labels)
    parts["patient"].append(np.full(len(index), patient, np.int32))
    parts["record"].append(np.repeat(np.array([name], np.str_), len(index)))
    times = rec["beat_samples"][index] / rec["fs"]
    parts["beat_time"].append(times.astype(np.float32))
  return {k: np.concatenate(v) for k, v in parts.items()}


def _read_csv(path: str, columns: Sequence[str], **kwargs) -> pd.DataFrame:
  """Reads a CSV file, ECGError naming it if missing, unreadable or lacking columns."""
  if not os.path.exists(path):
    raise ECGError(f"missing CSV file {path}")
  try:
    table = pd.read_csv(path, **kwargs)
  except (ValueError, OSError, pd.errors.ParserError) as e:
    raise ECGError(f"cannot read CSV file {path}: {e}") from e
  if missing := sorted(set(columns) - set(table.columns)):
    raise ECGError(f"CSV file {path} lacks columns {missing}")
  return table


def _diagnostic_classes(path: str) -> dict[str, int]:
  """Diagnostic scp code -> superclass index, from ``scp_statements.csv``."""
  table = _read_csv(path, ["diagnostic", "diagnostic_class"], index_col=0)
  classes = {}
  for code, row in table[table["diagnostic"] == 1.0].iterrows():
    superclass = row["diagnostic_class"]
    if superclass not in PTBXL_SUPERCLASSES:
      raise ECGError(f"{path}: code {code!r} has unknown class {superclass!r}")
    classes[str(code)] = PTBXL_SUPERCLASSES.index(superclass)
  return classes


def _ptbxl_label(scp_codes: str, classes: dict[str, int], where: str) -> int | None:
  """The superclass of a record's most likely diagnostic code (None if it has none).

  Ties in likelihood go to the code first in sorted order.
  """
  try:
    codes = ast.literal_eval(scp_codes)
  except (ValueError, SyntaxError, TypeError):
    codes = None
  if not isinstance(codes, dict):
    raise ECGError(f"{where}: scp_codes {scp_codes!r} is not a dict literal")
  diagnostic = [(-float(v), str(c)) for c, v in codes.items() if str(c) in classes]
  if not diagnostic:
    return None
  return classes[min(diagnostic)[1]]


def read_ptbxl_folder(
  folder: str,
  *,
  sampling: int = 500,
  segments: int = 10,
  segment_samples: int = 500,
  lead: int | str = 0,
  label_column: str = "superclass",
) -> dict[str, np.ndarray]:
  """Labelled segments of the records of a PTB-XL-style folder.

  The folder holds ``ptbxl_database.csv`` (ecg_id, patient_id, filename_hr,
  filename_lr, scp_codes: a dict literal code -> likelihood), ``scp_statements.csv``
  (index: scp code; ``diagnostic`` 1.0 for diagnostic codes, ``diagnostic_class``)
  and the records. A record's label is the superclass of its most likely diagnostic
  code (ties: the first in sorted order); records without one are skipped. Each is
  cut from its start into ``segments`` non-overlapping segments (Chatterjee et al.
  2024: 10 x 500 samples of a 10 s record at 500 Hz).

  Args:
    folder: the folder.
    sampling: 500 (reads ``filename_hr``) or 100 (``filename_lr``), in Hz.
    segments: segments cut from each record.
    segment_samples: samples per segment.
    lead: the channel to cut: an index, or a signal name such as ``"II"``.
    label_column: the label: only ``"superclass"`` (PTBXL_SUPERCLASSES) is known.

  Returns:
    ``dict(signal=[n, segment_samples] float32, label=[n] int32 index into
    PTBXL_SUPERCLASSES, patient=[n] int32 patient_id, record=[n] int32 ecg_id)``.

  Raises:
    ValueError: for an unknown ``sampling`` or ``label_column``, or sizes < 1.
    ECGError: naming the file for a missing or malformed CSV, a missing or bad
      record, one at another rate or shorter than ``segments * segment_samples``;
      also when no record has a diagnostic code.
  """
  column = {500: "filename_hr", 100: "filename_lr"}.get(sampling)
  if column is None:
    raise ValueError(f"sampling must be 500 or 100, got {sampling}")
  if label_column != "superclass":
    raise ValueError(f"unknown label_column {label_column!r}; known: 'superclass'")
  if segments < 1 or segment_samples < 1:
    raise ValueError(f"bad {segments=} or {segment_samples=}")
  db_path = os.path.join(folder, "ptbxl_database.csv")
  database = _read_csv(db_path, _PTBXL_COLUMNS)
  classes = _diagnostic_classes(os.path.join(folder, "scp_statements.csv"))
  needed = segments * segment_samples
  parts = {k: [] for k in ("signal", "label", "patient", "record")}
  for row in database.itertuples(index=False):
    where = f"{db_path} (ecg_id {row.ecg_id})"
    label = _ptbxl_label(row.scp_codes, classes, where)
    if label is None:
      continue
    if not isinstance(filename := getattr(row, column), str) or not filename:
      raise ECGError(f"{where}: no {column}")
    path = os.path.join(folder, filename)
    record = _read_signal(path)
    if record.fs != sampling:
      raise ECGError(f"record {path} is at {record.fs} Hz, not {sampling} Hz")
    if (length := record.p_signal.shape[0]) < needed:
      raise ECGError(f"record {path} has {length} samples, fewer than {needed}")
    channel = _lead_index(record.sig_name, lead, path)
    cut = record.p_signal[:needed, channel].reshape(segments, segment_samples)
    parts["signal"].append(cut.astype(np.float32))
    parts["label"].append(np.full(segments, label, np.int32))
    parts["patient"].append(np.full(segments, int(row.patient_id), np.int32))
    parts["record"].append(np.full(segments, int(row.ecg_id), np.int32))
  if not parts["signal"]:
    raise ECGError(f"no record of {db_path} has a diagnostic scp code")
  return {k: np.concatenate(v) for k, v in parts.items()}
