"""The ECG data set ``audiojax_ecg``: beat windows with patient ids, in ArrayRecord.

A ``tensorflow_datasets`` builder (no TensorFlow needed) with three sources behind
one layout:

* ``tiny`` / ``small`` / ``default``: synthetic patients
  (:mod:`audiojax.data.ecg_synth`), one 2 s window (500 samples at 250 Hz) per beat,
  labelled N / S / V (AAMI).
* ``mitbih``: an MIT-BIH-style folder of WFDB records with ``atr`` beat annotations
  (:func:`audiojax.data.ecg.read_mitbih_folder`; every record is a patient, resampled
  to 250 Hz), labelled with the five AAMI classes.
* ``ptbxl``: a PTB-XL-style folder (:func:`audiojax.data.ecg.read_ptbxl_folder`;
  10 segments of 500 samples per 500 Hz record as in Chatterjee et al., 2024),
  labelled with the diagnostic superclass.

The real sources need their folder placed, as tfds does for data behind a licence
or a login, in ``<data_dir>/downloads/manual/<config>/`` (PhysioNet's MIT-BIH
Arrhythmia Database or PTB-XL, as downloaded).

Splits. A seeded choice of ``personal`` patients is held out of pretraining. Every
other patient's recording is split in time (the first 80 % ``train``, then 10 %
``validation`` and 10 % ``test``), so the population splits cover the same patients.
Each personal patient's recording is split in time too: the first
``personal_fraction`` is ``personal_train`` (what the personalized model is
fine-tuned on, and later asked to forget) and the rest ``personal_test``.

Every example holds ``audio`` (the lead in mV divided by :data:`ECG_SCALE_MV` and
clipped to [-1, 1], the waveform field the shared pipeline, models and attacks
read), ``label``, ``patient`` and ``time`` (the beat's or segment's place in its
record, seconds).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from audiojax.data import ecg, ecg_synth
from audiojax.data.source import AudioSplit, DataError

SPLITS = ("train", "validation", "test", "personal_train", "personal_test")
# Millivolts per unit of ``audio``: +-5 mV holds every QRS of an adult lead.
ECG_SCALE_MV = 5.0
POPULATION_FRACTIONS = (0.8, 0.1, 0.1)


@dataclasses.dataclass(eq=False)
class EcgConfig(tfds.core.BuilderConfig):
  """What to build.

  Attributes:
    source: "synthetic", "mitbih" or "ptbxl".
    population: synthetic patients in the pretraining pool.
    personal: patients held out for personalization (synthetic or chosen from the
      folder's patients).
    seconds: length of each synthetic recording.
    sample_rate: Hz of the windows.
    window: samples per example.
    personal_fraction: the share of a personal patient's recording (in time) that
      is ``personal_train``.
    seed: patients, recordings and the personal choice follow it.
  """

  source: str = "synthetic"
  population: int = 24
  personal: int = 4
  seconds: float = 180.0
  sample_rate: int = 250
  window: int = 500
  personal_fraction: float = 0.5
  seed: int = 0

  @property
  def classes(self) -> tuple[str, ...]:
    if self.source == "ptbxl":
      return ecg.PTBXL_SUPERCLASSES
    if self.source == "mitbih":
      return ecg.AAMI
    return ecg.AAMI[:3]


CONFIGS: dict[str, EcgConfig] = {
  "tiny": EcgConfig(
    name="tiny",
    description="Tests: 6 + 2 synthetic patients, 40 s each.",
    population=6,
    personal=2,
    seconds=40.0,
  ),
  "small": EcgConfig(
    name="small",
    description="runlocal: 24 + 4 synthetic patients, 3 min each (~6000 beats).",
  ),
  "default": EcgConfig(
    name="default",
    description="48 + 8 synthetic patients, 5 min each.",
    population=48,
    personal=8,
    seconds=300.0,
  ),
  "mitbih": EcgConfig(
    name="mitbih",
    description="An MIT-BIH-style WFDB folder in downloads/manual/mitbih.",
    source="mitbih",
    personal=4,
    sample_rate=250,
  ),
  "ptbxl": EcgConfig(
    name="ptbxl",
    description="A PTB-XL-style folder in downloads/manual/ptbxl (500 Hz records).",
    source="ptbxl",
    personal=4,
    sample_rate=500,
  ),
}


def synthetic_beats(cfg: EcgConfig) -> dict[str, np.ndarray]:
  """Every synthetic patient's beat windows (mV) with label, patient and time."""
  parts = []
  for pid in range(cfg.population + cfg.personal):
    patient = ecg_synth.sample_patient(pid, cfg.seed)
    signal, samples, symbols = ecg_synth.simulate(
      patient, cfg.seconds, cfg.sample_rate, cfg.seed
    )
    windows, labels, index = ecg.beat_windows(
      signal[:, None], cfg.sample_rate, samples, symbols, window=cfg.window
    )
    parts.append(
      {
        "signal": windows,
        "label": labels,
        "patient": np.full(len(labels), pid, np.int32),
        "time": (samples[index] / cfg.sample_rate).astype(np.float32),
      }
    )
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def personal_patients(patients: np.ndarray, cfg: EcgConfig) -> np.ndarray:
  """The held-out patients: the last ``cfg.personal`` synthetic ids, or a seeded
  choice among a folder's patients."""
  ids = np.unique(patients)
  if cfg.personal >= len(ids):
    raise DataError(
      f"{cfg.personal} personal patients asked for, but only {len(ids)} patients"
    )
  if cfg.source == "synthetic":
    return ids[len(ids) - cfg.personal :]
  rng = np.random.default_rng(cfg.seed)
  return np.sort(rng.choice(ids, cfg.personal, replace=False))


def assign_splits(
  patient: np.ndarray, time: np.ndarray, personal: np.ndarray, cfg: EcgConfig
) -> np.ndarray:
  """Each example's split name: by patient group, then by its time rank in the
  patient's record (ties broken by order, so the split is a pure function)."""
  split = np.empty(len(patient), object)
  for pid in np.unique(patient):
    idx = np.flatnonzero(patient == pid)
    idx = idx[np.argsort(time[idx], kind="stable")]
    rank = np.arange(len(idx)) / len(idx)
    if pid in personal:
      split[idx] = np.where(
        rank < cfg.personal_fraction, "personal_train", "personal_test"
      )
    else:
      cut = np.cumsum(POPULATION_FRACTIONS)
      split[idx] = np.where(
        rank < cut[0], "train", np.where(rank < cut[1], "validation", "test")
      )
  return split


class AudiojaxEcg(tfds.core.GeneratorBasedBuilder):
  """ECG beat windows with patient ids: synthetic, MIT-BIH-style or PTB-XL-style."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS.values())
  DEFAULT_BUILDER_CONFIG_NAME = "small"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "For the mitbih and ptbxl configs, place the PhysioNet folder (WFDB records, "
    "and for PTB-XL ptbxl_database.csv + scp_statements.csv) in "
    "<data_dir>/downloads/manual/<config>/."
  )

  def __init__(self, *, file_format: str = "array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=tfds.features.FeaturesDict(
        {
          "audio": tfds.features.Tensor(shape=(cfg.window,), dtype=np.float32),
          "label": tfds.features.ClassLabel(names=cfg.classes),
          "patient": tfds.features.Tensor(shape=(), dtype=np.int32),
          "time": tfds.features.Tensor(shape=(), dtype=np.float32),
        }
      ),
      supervised_keys=("audio", "label"),
    )

  def _read(self, dl_manager) -> dict[str, np.ndarray]:
    cfg = self.builder_config
    if cfg.source == "synthetic":
      return synthetic_beats(cfg)
    folder = os.path.join(dl_manager.manual_dir, cfg.name)
    if not os.path.isdir(folder):
      raise DataError(
        f"audiojax_ecg/{cfg.name}: no folder {folder}. "
        + self.MANUAL_DOWNLOAD_INSTRUCTIONS
      )
    if cfg.source == "mitbih":
      out = ecg.read_mitbih_folder(folder, window=cfg.window, target_fs=cfg.sample_rate)
      out["time"] = out.pop("beat_time")
    else:
      out = ecg.read_ptbxl_folder(
        folder, sampling=cfg.sample_rate, segment_samples=cfg.window
      )
      # A record's segments are consecutive: time = record order, then segment.
      segment = np.zeros(len(out["record"]), np.float32)
      for rec in np.unique(out["record"]):
        idx = np.flatnonzero(out["record"] == rec)
        segment[idx] = np.arange(len(idx)) * cfg.window / cfg.sample_rate
      out["time"] = out["record"].astype(np.float32) * 10.0 + segment
    return {k: out[k] for k in ("signal", "label", "patient", "time")}

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    data = self._read(dl_manager)
    personal = personal_patients(data["patient"], cfg)
    split = assign_splits(data["patient"], data["time"], personal, cfg)
    audio = np.clip(data["signal"] / ECG_SCALE_MV, -1.0, 1.0).astype(np.float32)
    return {
      name: self._generate_examples(audio, data, np.flatnonzero(split == name))
      for name in SPLITS
    }

  def _generate_examples(self, audio, data, indices):
    for i in indices:
      yield (
        int(i),
        {
          "audio": audio[i],
          "label": int(data["label"][i]),
          "patient": np.int32(data["patient"][i]),
          "time": np.float32(data["time"][i]),
        },
      )


def load_split(
  split: str, *, data_dir: str, config: str | None = None, label: str | None = None
) -> AudioSplit:
  """One split of ``audiojax_ecg``, building the config on first use.

  Args:
    split: one of :data:`SPLITS`.
    data_dir: tfds data directory (real folders under ``downloads/manual/``).
    config: a name in :data:`CONFIGS` (None for "small").
    label: only "label" exists.

  Raises:
    DataError: for an unknown config, split or label, or a missing real folder.
  """
  name = config or AudiojaxEcg.DEFAULT_BUILDER_CONFIG_NAME
  if name not in CONFIGS:
    raise DataError(f"unknown audiojax_ecg config {name!r}; valid: {sorted(CONFIGS)}")
  if split not in SPLITS:
    raise DataError(f"unknown audiojax_ecg split {split!r}; valid: {list(SPLITS)}")
  if label not in (None, "label"):
    raise DataError(f"audiojax_ecg has one class label, 'label', not {label!r}")
  builder = AudiojaxEcg(config=name, data_dir=data_dir)
  folder = os.path.join(data_dir, "downloads", "manual", name)
  if not builder.is_prepared() and CONFIGS[name].source != "synthetic":
    if not os.path.isdir(folder) or not os.listdir(folder):
      raise DataError(
        f"audiojax_ecg/{name}: no folder {folder}. "
        + AudiojaxEcg.MANUAL_DOWNLOAD_INSTRUCTIONS
      )
  if not builder.is_prepared():
    logging.info("audiojax_ecg: building config %r in %s (first use)", name, data_dir)
    builder.download_and_prepare()
  cfg = builder.builder_config
  return AudioSplit(
    source=builder.as_data_source(split=split),
    label_key="label",
    class_names=cfg.classes,
    sample_rate=cfg.sample_rate,
    clip_samples=cfg.window,
  )
