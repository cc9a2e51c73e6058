"""Synthetic multi-patient ECG with labelled normal and ectopic beats.

No package ships labelled multi-patient ECG, and PhysioNet is out of reach offline,
so the embedded ECG set is simulated. Each patient's beats come from ECGSYN
(McSharry et al., 2003, "A dynamical model for generating synthetic
electrocardiogram signals", IEEE TBME 50(3); neurokit2's ``ecg_simulate``) with the
patient's own wave parameters (the angles ``ti``, heights ``ai`` and widths ``bi`` of
the P, Q, R, S and T waves), heart rate, beat-to-beat variability, noise, baseline
wander and mains pick-up. ECGSYN has no arrhythmias, so the ectopic beats are spliced
in here, one template per beat class and patient, with the timing and morphology the
AAMI EC57 classes are defined by (Mark & Moody's MIT-BIH conventions):

* ``N`` normal sinus beat: the patient's ECGSYN beat at the sinus rate.
* ``S`` supraventricular ectopic (MIT-BIH symbol ``A``, atrial premature): early
  (coupling 0.60-0.80 of the sinus RR), an abnormal P wave (moved towards the QRS,
  flattened or inverted: an ectopic atrial focus), a normal narrow QRS, and a
  non-compensatory pause (the sinus node is reset, the next RR is a sinus RR).
* ``V`` ventricular ectopic (``V``, premature ventricular contraction): early
  (coupling 0.55-0.75), no P wave, a QRS 2-3.5x wider and larger, a T wave
  discordant to the QRS, and a full compensatory pause (coupling + next RR = two
  sinus RRs).

A beat is placed by adding its template, baseline-corrected and tapered at the ends,
at its R position, so a premature beat's P wave may land on the previous T wave as in
real tracings. Beats and their MIT-BIH symbols are returned as a WFDB record would
give them, so a synthetic record goes through the same windowing as a real one
(:func:`audiojax.data.ecg.beat_windows`).
"""

from __future__ import annotations

import dataclasses

import neurokit2 as nk
import numpy as np
import scipy.signal

# ECGSYN's own defaults (McSharry et al., Table 1): P, Q, R, S, T.
TI = np.array([-70.0, -15.0, 0.0, 15.0, 100.0])
AI = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
BI = np.array([0.25, 0.1, 0.1, 0.1, 0.4])

# The MIT-BIH symbol each synthetic beat class is written with.
SYMBOLS = {"N": "N", "S": "A", "V": "V"}

# Where a template starts and ends around its R peak, in sinus RR intervals: the
# P wave begins ~0.25 RR before R and the T wave ends ~0.5 RR after it, so both
# cuts fall on the isoelectric TP segment.
PRE_RR, POST_RR = 0.4, 0.6


@dataclasses.dataclass(frozen=True)
class Patient:
  """One simulated patient: everything their recordings are drawn from.

  Attributes:
    patient_id: the id windows carry.
    heart_rate: sinus rate, beats per minute.
    rr_std: beat-to-beat RR variability (fraction of the RR, AR(1) with 0.9).
    ti, ai, bi: ECGSYN wave angles (degrees), heights and widths of the normal beat.
    amplitude_mv: the normal R wave's height.
    noise_mv: white measurement noise (std).
    wander_mv, wander_hz: baseline wander amplitude and frequency (breathing).
    mains_mv, mains_hz: mains pick-up.
    rates: probabilities of an S and a V beat (after a normal one; 8-18 % each).
    s_coupling, s_p_shift, s_p_gain: S timing, P wave angle shift (deg), P gain.
    v_coupling, v_width, v_gain, v_t_gain: V timing, QRS widening, QRS gain, T gain
      (negative: discordant).
  """

  patient_id: int
  heart_rate: float
  rr_std: float
  ti: tuple[float, ...]
  ai: tuple[float, ...]
  bi: tuple[float, ...]
  amplitude_mv: float
  noise_mv: float
  wander_mv: float
  wander_hz: float
  mains_mv: float
  mains_hz: float
  rates: tuple[float, float]
  s_coupling: float
  s_p_shift: float
  s_p_gain: float
  v_coupling: float
  v_width: float
  v_gain: float
  v_t_gain: float


def sample_patient(patient_id: int, seed: int) -> Patient:
  """A patient drawn from the population: a pure function of ``(patient_id, seed)``.

  The ranges keep every beat physiologically plausible (sinus 55-95 bpm, P-R-T
  geometry within ~15 % of ECGSYN's defaults) while making patients different
  enough that a model of the population is not yet a model of the patient.
  """
  rng = np.random.default_rng([seed, patient_id, 0xEC6])
  u = rng.uniform
  ti = TI + rng.normal(0.0, [6.0, 2.0, 0.0, 2.0, 8.0])
  ai = AI * u(0.7, 1.3, 5)
  bi = BI * u(0.8, 1.25, 5)
  return Patient(
    patient_id=int(patient_id),
    heart_rate=float(u(55, 95)),
    rr_std=float(u(0.01, 0.05)),
    ti=tuple(float(v) for v in ti),
    ai=tuple(float(v) for v in ai),
    bi=tuple(float(v) for v in bi),
    amplitude_mv=float(u(0.7, 1.8)),
    noise_mv=float(u(0.005, 0.04)),
    wander_mv=float(u(0.02, 0.25)),
    wander_hz=float(u(0.15, 0.4)),
    mains_mv=float(u(0.0, 0.02)),
    mains_hz=float(rng.choice([50.0, 60.0])),
    rates=(float(u(0.08, 0.18)), float(u(0.08, 0.18))),
    s_coupling=float(u(0.6, 0.8)),
    s_p_shift=float(u(10.0, 30.0)),
    s_p_gain=float(u(-0.8, 0.4)),
    v_coupling=float(u(0.55, 0.75)),
    v_width=float(u(2.0, 3.5)),
    v_gain=float(u(1.2, 2.0)),
    v_t_gain=float(u(-3.0, -1.2)),
  )


def _ecgsyn_beat(patient: Patient, ti, ai, bi, fs: int, seed: int) -> np.ndarray:
  """One ECGSYN beat at the sinus rate, cut TP to TP, baseline at 0, R at PRE_RR."""
  rr = 60.0 * fs / patient.heart_rate
  x = nk.ecg_simulate(
    duration=max(8.0, 8 * 60.0 / patient.heart_rate),
    sampling_rate=fs,
    heart_rate=patient.heart_rate,
    heart_rate_std=0,
    noise=0,
    method="ecgsyn",
    random_state=seed,
    ti=tuple(ti),
    ai=tuple(ai),
    bi=tuple(bi),
  )
  x = np.asarray(x, np.float64)
  mid, half = len(x) // 2, int(rr / 2)
  # The fiducial point is the largest deflection from the median: the R wave of a
  # normal beat and the dominant QRS deflection of a ventricular one.
  r = mid - half + int(np.argmax(np.abs(x[mid - half : mid + half] - np.median(x))))
  pre, post = int(PRE_RR * rr), int(POST_RR * rr)
  beat = x[r - pre : r + post].copy()
  ends = np.linspace(beat[:4].mean(), beat[-4:].mean(), len(beat))
  return (beat - ends) * scipy.signal.windows.tukey(len(beat), alpha=0.1)


def beat_templates(patient: Patient, fs: int) -> dict[str, np.ndarray]:
  """The patient's N, S and V beats in mV, each ``[pre + post]`` with R at ``pre``."""
  ti, ai, bi = np.array(patient.ti), np.array(patient.ai), np.array(patient.bi)
  seed = patient.patient_id
  normal = _ecgsyn_beat(patient, ti, ai, bi, fs, seed)
  scale = patient.amplitude_mv / np.max(normal)
  s_ti, s_ai = ti.copy(), ai.copy()
  s_ti[0] += patient.s_p_shift
  s_ai[0] *= patient.s_p_gain
  v_ti, v_ai, v_bi = ti.copy(), ai.copy(), bi.copy()
  v_ai[0] = 0.0  # no P wave: the beat starts in the ventricles
  v_bi[1:4] *= patient.v_width
  v_ti[1] *= patient.v_width
  v_ti[3] *= patient.v_width
  v_ai[4] = abs(v_ai[4]) * patient.v_t_gain
  v_bi[4] *= 1.3
  ventricular = _ecgsyn_beat(patient, v_ti, v_ai, v_bi, fs, seed)
  return {
    "N": normal * scale,
    "S": _ecgsyn_beat(patient, s_ti, s_ai, bi, fs, seed) * scale,
    "V": ventricular * scale * patient.v_gain,
  }


def simulate(
  patient: Patient, seconds: float, fs: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """A recording of ``patient``: one lead in mV with its beat annotations.

  Args:
    patient: from :func:`sample_patient`.
    seconds: recording length.
    fs: sampling rate, Hz.
    seed: the recording's randomness (beat sequence, variability, noise).

  Returns:
    ``(signal [T] float32 mV, beat_samples [n] int64, beat_symbols [n])``; symbols
    are MIT-BIH's (``N``, ``A``, ``V``; :data:`SYMBOLS`).
  """
  rng = np.random.default_rng([seed, patient.patient_id, 0x5EC])
  templates = beat_templates(patient, fs)
  rr0 = 60.0 * fs / patient.heart_rate
  pre = int(PRE_RR * rr0)
  length = int(round(seconds * fs))
  signal = np.zeros(length + 4 * int(rr0), np.float64)
  samples, symbols = [], []
  p_s, p_v = patient.rates
  # The first beat lands at ``pre``, so the record starts on its P wave.
  drift, r, previous = 0.0, float(pre) - rr0, "N"
  pending = None  # the RR forced by a pause after an ectopic beat
  while r + 2 * rr0 < len(signal):
    kind = "N"
    if previous == "N" and pending is None:
      kind = str(rng.choice(["N", "S", "V"], p=[1 - p_s - p_v, p_s, p_v]))
    drift = 0.9 * drift + rng.normal(0.0, patient.rr_std * np.sqrt(1 - 0.81))
    sinus = rr0 * (1.0 + drift)
    if kind == "S":
      rr, pending = sinus * patient.s_coupling, sinus
    elif kind == "V":
      rr = sinus * patient.v_coupling
      pending = 2 * sinus - rr
    else:
      rr, pending = (pending if pending is not None else sinus), None
    r = max(r + rr, float(pre))
    if r + len(templates[kind]) - pre > len(signal):
      break
    start = int(round(r)) - pre
    signal[start : start + len(templates[kind])] += templates[kind]
    samples.append(int(round(r)))
    symbols.append(SYMBOLS[kind])
    previous = kind
  signal = signal[:length]
  t = np.arange(length) / fs
  signal += patient.wander_mv * np.sin(
    2 * np.pi * patient.wander_hz * t + rng.uniform(0, 2 * np.pi)
  )
  signal += patient.mains_mv * np.sin(2 * np.pi * patient.mains_hz * t)
  signal += rng.normal(0.0, patient.noise_mv, length)
  keep = [i for i, s in enumerate(samples) if s < length]
  return (
    signal.astype(np.float32),
    np.asarray([samples[i] for i in keep], np.int64),
    [symbols[i] for i in keep],
  )
