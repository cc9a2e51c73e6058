"""Tests for audiojax.audio: malformed input raises AudioError; I/O round trips."""

import io

import numpy as np
import pytest
import soundfile as sf

from audiojax import audio

SR = 16000


def _sine(freq=440.0, seconds=0.25, sr=SR, amp=0.5):
  t = np.arange(int(seconds * sr)) / sr
  return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _encode(y, sr=SR, fmt="WAV", subtype="PCM_16"):
  """Encodes ``y`` ([samples] or [samples, channels], soundfile layout) to bytes."""
  buf = io.BytesIO()
  sf.write(buf, y, sr, format=fmt, subtype=subtype)
  return buf.getvalue()


def _wav():
  return _encode(_sine())


def _to_file(data):
  def build(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(data() if callable(data) else data)
    return path

  return build


# Each case: (source builder taking tmp_path, load kwargs, words the message must hold).
LOAD_ERRORS = {
  "empty_bytes": (lambda _: b"", {}, ["empty", "0 bytes"]),
  "empty_file": (_to_file(b""), {}, ["empty", "clip.wav"]),
  "zero_samples": (lambda _: _encode(np.zeros(0, np.float32)), {}, ["0 samples"]),
  "wav_cut_mid_header": (lambda _: _wav()[:20], {}, ["truncated", "'fmt '"]),
  "wav_cut_before_data": (lambda _: _wav()[:40], {}, ["truncated", "'data'"]),
  "wav_data_shorter_than_header": (
    _to_file(lambda: _wav()[:1044]),
    {},
    ["truncated", "clip.wav", "8000 bytes", "has 1000"],
  ),
  "flac_truncated": (
    lambda _: (lambda b: b[: len(b) // 2])(_encode(_sine(), fmt="FLAC")),
    {},
    ["truncated or corrupt"],
  ),
  "png_bytes": (lambda _: b"\x89PNG\r\n\x1a\n" + bytes(64), {}, ["not audio", "PNG"]),
  "text_bytes": (lambda _: b"just some words\n" * 8, {}, ["not audio", "text"]),
  "nan_samples": (
    lambda _: _encode(np.array([0.1, np.nan, 0.2], np.float32), subtype="FLOAT"),
    {},
    ["non-finite", "nan at sample 1"],
  ),
  "inf_samples": (
    lambda _: _encode(np.array([0.1, 0.2, np.inf], np.float32), subtype="FLOAT"),
    {},
    ["non-finite", "inf at sample 2"],
  ),
  "too_long": (lambda _: _wav(), {"max_seconds": 0.1}, ["0.25 s long", "max_seconds"]),
  "zero_target_rate": (lambda _: _wav(), {"sr": 0}, ["positive", "0"]),
  "negative_target_rate": (lambda _: _wav(), {"sr": -8000}, ["positive", "-8000"]),
  "fractional_target_rate": (lambda _: _wav(), {"sr": 8000.5}, ["integer", "8000.5"]),
  "bad_dtype": (lambda _: _wav(), {"dtype": np.int16}, ["float32", "int16"]),
}


@pytest.mark.parametrize("case", sorted(LOAD_ERRORS))
def test_load_raises_audio_error(case, tmp_path):
  build, kwargs, words = LOAD_ERRORS[case]
  with pytest.raises(audio.AudioError) as info:
    audio.load(build(tmp_path), **kwargs)
  for word in words:
    assert word in str(info.value), (word, str(info.value))


def test_too_long_is_checked_before_reading(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError("samples were read before the duration check")

  monkeypatch.setattr(sf.SoundFile, "read", fail)
  with pytest.raises(audio.AudioError, match="max_seconds"):
    audio.load(_wav(), max_seconds=0.1)


def test_missing_path_raises_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError, match="nothing.wav"):
    audio.load(tmp_path / "nothing.wav")


VALIDATE_ERRORS = {
  "int16_pcm": (np.array([1000, -1000], np.int16), {}, ["int16", "/ 32768"]),
  "int32": (np.array([1, 2], np.int32), {}, ["int32"]),
  "bool": (np.array([True, False]), {}, ["bool"]),
  "complex": (np.array([1 + 1j, 0j]), {}, ["complex128"]),
  "object": (np.array([0.1, None], dtype=object), {}, ["object"]),
  "scalar": (np.float32(0.5), {}, ["rank 0"]),
  "rank3": (np.zeros((1, 2, 8), np.float32), {}, ["rank 3", "(1, 2, 8)"]),
  "empty": (np.zeros(0, np.float32), {}, ["empty", "0 samples"]),
  "empty_channels": (np.zeros((2, 0), np.float32), {}, ["empty"]),
  "samples_channels_layout": (np.zeros((100, 2), np.float32), {}, ["transpose"]),
  "nan": (np.array([0.0, 0.1, np.nan], np.float32), {}, ["non-finite", "sample 2"]),
  "inf_stereo": (
    np.array([[0.0, 0.1, 0.2], [0.0, -np.inf, 0.0]], np.float32),
    {},
    ["non-finite", "-inf at sample 1 of channel 1"],
  ),
  "zero_rate": (_sine(), {"sr": 0}, ["sample rate", "positive", "0"]),
  "negative_rate": (_sine(), {"sr": -1.5}, ["positive", "-1.5"]),
  "nan_rate": (_sine(), {"sr": float("nan")}, ["positive", "nan"]),
  "string_rate": (_sine(), {"sr": "16000"}, ["positive number", "'16000'"]),
}


@pytest.mark.parametrize("case", sorted(VALIDATE_ERRORS))
def test_validate_raises_audio_error(case):
  y, kwargs, words = VALIDATE_ERRORS[case]
  with pytest.raises(audio.AudioError) as info:
    audio.validate(y, name="clip7", **kwargs)
  assert "clip7" in str(info.value)
  for word in words:
    assert word in str(info.value), (word, str(info.value))


def test_validate_returns_float32_unchanged_values():
  y = np.linspace(-1, 1, 11)
  out = audio.validate(y)
  assert out.dtype == np.float32
  np.testing.assert_array_equal(out, y.astype(np.float32))


@pytest.mark.parametrize(
  "call, words",
  [
    (lambda: audio.resample(_sine(), 0, SR), ["orig_sr", "positive"]),
    (lambda: audio.resample(_sine(), SR, -1), ["target_sr", "positive"]),
    (lambda: audio.resample(np.zeros(8, np.int16), SR, 8000), ["int16"]),
    (lambda: audio.save("x.wav", _sine(), 0), ["positive"]),
    (lambda: audio.save("x.wav", _sine(), 16000.5), ["integer sample rate"]),
    (lambda: audio.to_mono(np.zeros((2, 3, 4), np.float32)), ["rank 3"]),
  ],
)
def test_other_entry_points_raise_audio_error(call, words):
  with pytest.raises(audio.AudioError) as info:
    call()
  for word in words:
    assert word in str(info.value)


def test_save_unknown_format_raises(tmp_path):
  with pytest.raises(audio.AudioError, match="cannot write"):
    audio.save(tmp_path / "clip.notaformat", _sine(), SR)


@pytest.mark.parametrize("as_source", ["path", "bytes", "fileobj"])
def test_round_trip_within_pcm16_quantisation(tmp_path, as_source):
  y = _sine(seconds=0.1, amp=0.9)
  path = tmp_path / "clip.wav"
  audio.save(path, y, SR)
  source = {
    "path": path,
    "bytes": path.read_bytes(),
    "fileobj": io.BytesIO(path.read_bytes()),
  }[as_source]
  out, sr = audio.load(source)
  assert sr == SR and out.dtype == np.float32 and out.shape == y.shape
  assert np.abs(out - y).max() <= 1 / 32768


def test_stereo_round_trip_and_down_mix(tmp_path):
  stereo = np.stack([_sine(440, 0.1), _sine(660, 0.1, amp=0.25)])  # [2, samples]
  path = tmp_path / "stereo.flac"
  audio.save(path, stereo, SR)
  both, sr = audio.load(path, mono=False)
  mono, _ = audio.load(path)
  assert sr == SR and both.shape == stereo.shape and mono.shape == stereo.shape[1:]
  assert np.abs(both - stereo).max() <= 1 / 32768
  np.testing.assert_allclose(mono, both.mean(axis=0), atol=1e-7)
  np.testing.assert_allclose(audio.to_mono(stereo), (stereo[0] + stereo[1]) / 2)


def test_one_frame_stereo_file_is_not_mistaken_for_samples_channels():
  out, _ = audio.load(_encode(np.array([[0.5, -0.5]], np.float32)), mono=False)
  np.testing.assert_allclose(out, [[0.5], [-0.5]])


def test_mono_file_with_mono_false_is_two_dimensional():
  out, _ = audio.load(_wav(), mono=False)
  assert out.shape == (1, int(0.25 * SR))


@pytest.mark.parametrize("target_sr", [8000, 22050])
def test_resample_length_and_frequency(target_sr):
  freq, y = 440.0, _sine(440.0, seconds=1.0)
  out = audio.resample(y, SR, target_sr)
  assert out.dtype == np.float32
  assert out.shape == (int(np.ceil(len(y) * target_sr / SR)),)
  spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
  peak_hz = np.argmax(spectrum) * target_sr / len(out)
  assert abs(peak_hz - freq) <= target_sr / len(out)  # within one FFT bin
  # Away from the edges the resampled sine keeps its amplitude.
  middle = out[len(out) // 4 : 3 * len(out) // 4]
  assert abs(np.abs(middle).max() - 0.5) < 0.01


def test_resample_batched_over_last_axis_matches_rows():
  batch = np.stack([_sine(300.0), _sine(500.0)])
  out = audio.resample(batch, SR, 8000)
  for row, y in zip(out, batch, strict=True):
    np.testing.assert_array_equal(row, audio.resample(y, SR, 8000))


def test_load_resamples_to_requested_rate():
  native, _ = audio.load(_wav())
  out, sr = audio.load(_wav(), sr=8000)
  assert sr == 8000
  np.testing.assert_array_equal(out, audio.resample(native, SR, 8000))


def test_save_clips_out_of_range_pcm(tmp_path):
  path = tmp_path / "loud.wav"
  audio.save(path, np.array([0.5, 1.5, -2.0], np.float32), SR)
  out, _ = audio.load(path)
  np.testing.assert_allclose(out, [0.5, 32767 / 32768, -1.0])
