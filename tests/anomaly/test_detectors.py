"""Every registered detector on the tiny embedded music set: broken clips score above
their clean versions, save/load round-trips scores exactly, thresholds keep their
false-alarm rate, bad input gets a typed error; the statistics name the fault; AUROC
and pAUC agree with hand counts."""

import numpy as np
import pytest

from audiojax import anomaly
from audiojax.anomaly import metrics, statistics
from audiojax.registry import UnknownNameError

SAMPLES = 16000  # 1 s of each tiny-set clip keeps the compiles small


def _clips(split, n):
  """Every whole second of the first ``n`` clips of ``split``."""
  audio = np.stack([split.source[i]["audio"] for i in range(n)])
  seconds = audio.shape[1] // SAMPLES
  return audio[:, : seconds * SAMPLES].reshape(-1, SAMPLES)


@pytest.fixture(scope="module")
def clips(music_tiny):
  train = _clips(music_tiny["train"], len(music_tiny["train"]))
  test = _clips(music_tiny["test"], 6)
  return train, test, music_tiny["train"].sample_rate


def _options(name, classifier_run):
  tiny_ae = dict(steps=60, batch_size=128, hidden=(32, 32), bottleneck=4)
  return {
    "statistics": {},
    "autoencoder": tiny_ae,
    "embedding": dict(workdir=classifier_run[1]),
    "combined": dict(
      members=("statistics", "autoencoder"), options={"autoencoder": tiny_ae}
    ),
    "pyod": dict(n_estimators=50),
  }[name]


@pytest.fixture(scope="module")
def fitted(clips, classifier_run):
  import jax

  train, test, sr = clips
  out = {}
  for name in sorted(anomaly.DETECTORS):
    d = anomaly.fit(
      name, train, sr, jax.random.key(0), **_options(name, classifier_run)
    )
    out[name] = d.calibrate(test, false_alarm_rate=0.1)
  return out


def _broken(x):
  """Driven into hard clipping at 0.1 (nearly a square wave), the first half
  dropped out: broken by any standard."""
  y = np.clip(20.0 * x, -0.1, 0.1)
  y[:, : y.shape[1] // 2] = 0.0
  return y.astype(np.float32)


@pytest.mark.parametrize("name", sorted(anomaly.DETECTORS))
def test_broken_clip_scores_above_its_clean_version(name, fitted, clips):
  _, test, _ = clips
  clean, broken = fitted[name].score(test), fitted[name].score(_broken(test))
  assert clean.shape == broken.shape == (len(test),)
  assert np.all(broken > clean), (clean, broken)


@pytest.mark.parametrize("name", sorted(anomaly.DETECTORS))
def test_save_load_round_trips_scores_exactly(name, fitted, clips, tmp_path):
  _, test, _ = clips
  detector = fitted[name]
  detector.save(str(tmp_path / name))
  loaded = anomaly.load(str(tmp_path / name))
  assert type(loaded) is type(detector)
  x = np.concatenate([test, _broken(test)])
  np.testing.assert_array_equal(loaded.score(x), detector.score(x))
  assert loaded.threshold() == detector.threshold()
  assert loaded.false_alarm_rate == 0.1


def test_fit_is_deterministic_given_the_key(clips):
  import jax

  train, test, sr = clips
  opts = dict(steps=30, batch_size=64, hidden=(16,), bottleneck=4)
  a = anomaly.fit("autoencoder", train, sr, jax.random.key(3), **opts).score(test)
  b = anomaly.fit("autoencoder", train, sr, jax.random.key(3), **opts).score(test)
  np.testing.assert_array_equal(a, b)


def test_threshold_keeps_the_false_alarm_rate(fitted, clips):
  _, test, _ = clips
  detector = fitted["statistics"]
  calibration = detector.calibration
  for rate in (0.05, 0.1, 0.25, 0.5):
    t = detector.threshold(rate)
    assert np.mean(calibration > t) <= rate
    assert np.mean(calibration >= t) > rate - 1.0 / len(calibration)
  p = detector.p_value(detector.score(test))
  assert np.all((p > 0) & (p <= 1))
  assert detector.p_value([np.inf])[0] == pytest.approx(1 / (len(calibration) + 1))


def test_bad_input_gets_typed_errors(clips, tmp_path):
  import jax

  train, _, sr = clips
  key = jax.random.key(0)
  with pytest.raises(UnknownNameError, match="statistics"):
    anomaly.fit("nope", train, sr, key)
  with pytest.raises(anomaly.DetectorError, match="no option"):
    anomaly.fit("statistics", train, sr, key, steps=3)
  with pytest.raises(anomaly.DetectorError, match="floating"):
    anomaly.fit("statistics", (train * 1000).astype(np.int16), sr, key)
  with pytest.raises(anomaly.DetectorError, match=r"\[-1, 1\]"):
    anomaly.fit("statistics", train * 5, sr, key)
  with pytest.raises(anomaly.DetectorError, match="non-finite"):
    bad = train.copy()
    bad[0, 3] = np.nan
    anomaly.fit("statistics", bad, sr, key)
  detector = anomaly.fit("statistics", train, sr, key)
  with pytest.raises(anomaly.DetectorError, match="not calibrated"):
    detector.threshold()
  with pytest.raises(anomaly.DetectorError, match="rate"):
    detector.calibrate(train).threshold(1.5)
  with pytest.raises(anomaly.DetectorError, match="no saved detector"):
    anomaly.load(str(tmp_path))
  with pytest.raises(anomaly.DetectorError, match="workdir"):
    anomaly.fit("embedding", train, sr, key)


def test_statistics_name_the_fault(fitted, clips):
  _, test, sr = clips
  detector = fitted["statistics"]
  x = test[:4]
  t = np.arange(x.shape[1]) / sr
  faulty = {
    "clipping": np.clip(3.0 * x, -0.25, 0.25),
    "dropout": np.where((t > 0.3) & (t < 0.55), 0.0, x),
    "dc_offset": np.clip(x + 0.2, -1, 1),
    "hum": np.clip(x + 0.1 * np.sin(2 * np.pi * 50 * t), -1, 1),
  }
  # "none" exactly when no feature deviates beyond the clean clips' tail.
  quiet = np.max(detector.deviations(test), axis=-1) <= 1.0
  assert [s == "none" for s in detector.suggest(test)] == quiet.tolist()
  for fault, y in faulty.items():
    assert detector.suggest(y.astype(np.float32)) == [fault] * 4, fault


def test_a_16_bit_file_of_a_clean_clip_is_still_clean(fitted, clips):
  """Read from a 16-bit file, quiet passages hold runs of exact zeros at their zero
  crossings: the statistics must not take those for dropouts."""
  _, test, _ = clips
  detector = fitted["statistics"]
  pcm16 = (np.round(test * 32767.0) / 32767.0).astype(np.float32)
  np.testing.assert_allclose(detector.score(pcm16), detector.score(test), atol=0.05)
  j = statistics.FEATURE_NAMES.index("zero_run")
  assert np.all(detector.deviations(pcm16)[:, j] <= 1.0)


def test_features_are_the_documented_ones(clips):
  _, test, sr = clips
  f = statistics.clip_features(test, sr)
  assert f.shape == (len(test), len(statistics.FEATURES))
  assert np.all(np.isfinite(f))
  j = statistics.FEATURE_NAMES.index("zero_run")
  gap = test.copy()
  gap[:, 1000:5000] = 0.0
  g = statistics.clip_features(gap, sr)
  np.testing.assert_allclose(10 ** g[:, j] - 1e-3, 4000 / sr, rtol=1e-3)
  # Leading digital silence is not a gap; nor are zeros after near-silence.
  lead = test.copy()
  lead[:, :4000] = 0.0
  np.testing.assert_allclose(
    statistics.clip_features(lead, sr)[:, j], f[:, j], atol=np.log10(2.0)
  )


def test_auroc_and_pauc_by_hand():
  clean, bad = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.35, 0.5, 0.6])
  # 11 of the 12 (bad, clean) pairs are ordered right.
  assert metrics.auroc(clean, bad) == pytest.approx(11 / 12)
  assert metrics.pauc(clean, bad + 1.0) == pytest.approx(1.0)
  assert metrics.pauc(clean + 1.0, bad) == pytest.approx(0.0)
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=4000), rng.normal(size=4000)
  assert metrics.auroc(a, b) == pytest.approx(0.5, abs=0.03)
  assert metrics.pauc(a, b, max_fpr=0.1) == pytest.approx(0.05, abs=0.02)
