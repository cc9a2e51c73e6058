"""The data owner's tool: a folder of class folders in, the protected folder out,
nothing half-written, the same key giving the same files."""

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from audiojax import audio as audio_lib
from audiojax import data
from audiojax.unlearnable import keys
from audiojax.unlearnable.protect import ProtectError, protect_folder

SR = 16000
KNOBS = dict(patch_samples=800, num_patches=3, kernel_size=9, blur=0.5)


@pytest.fixture
def folder(tmp_path):
  """Two classes, three clips each (two lengths), tones with overtones."""
  rng = np.random.default_rng(0)
  root = tmp_path / "songs"
  for c, name in enumerate(("drums", "piano")):
    (root / name).mkdir(parents=True)
    for i, seconds in enumerate((1.0, 1.0, 1.5)):
      t = np.arange(int(SR * seconds)) / SR
      f0 = 200 * (c + 1) + 20 * i
      y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 10))
      y = 0.4 * y / np.max(np.abs(y)) + 0.01 * rng.standard_normal(t.size)
      audio_lib.save(str(root / name / f"take{i}.flac"), y, SR, format="FLAC")
  return root


def _wavs(root):
  return sorted(
    os.path.relpath(os.path.join(d, f), root)
    for d, _, files in os.walk(root)
    for f in files
    if f.endswith(".wav")
  )


def test_a_folder_is_protected_class_by_class(folder, tmp_path):
  key_path, out = str(tmp_path / "owner.key"), str(tmp_path / "published")
  summary = protect_folder(str(folder), key_path, out, knobs=KNOBS)
  assert summary["key_created"] and summary["clips"] == summary["protected"] == 6
  assert summary["classes"] == ["drums", "piano"]
  assert _wavs(out) == [
    f"{c}/take{i}.wav" for c in ("drums", "piano") for i in range(3)
  ]
  assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
  key = keys.load(key_path)
  assert key.method == "poscuda" and key.knobs == KNOBS
  with open(key_path) as f:
    assert json.load(f)["classes"] == ["drums", "piano"]
  for c, name in enumerate(("drums", "piano")):
    for i in range(3):
      clean, _ = audio_lib.load(str(folder / name / f"take{i}.flac"))
      got, sr = audio_lib.load(os.path.join(out, name, f"take{i}.wav"))
      expected = np.asarray(key.perturb(clean[None], np.array([c], np.int32)))[0]
      assert sr == SR and got.shape == clean.shape
      np.testing.assert_allclose(got, expected, atol=1.5 / 32768)  # 16-bit PCM
      changed = np.abs(got - clean) > 2 / 32768
      assert 0 < changed.mean() <= 3 * 800 / len(clean)  # only the patches
  # The tfds copy holds the same clips with their labels.
  split = data.load("audiojax_protected", "train", data_dir=os.path.join(out, "tfds"))
  assert len(split) == 6 and split.class_names == ("drums", "piano")
  assert [int(split.source[i]["label"]) for i in range(6)] == [0, 0, 0, 1, 1, 1]
  with open(os.path.join(out, "protection.json")) as f:
    published = json.load(f)
  assert "key_data" not in published and published["knobs"] == KNOBS


def test_the_same_key_gives_the_same_files_and_keeps_its_classes(folder, tmp_path):
  key_path = str(tmp_path / "owner.key")
  protect_folder(str(folder), key_path, str(tmp_path / "a"), knobs=KNOBS)
  again = protect_folder(
    str(folder), key_path, str(tmp_path / "b"), knobs=dict(KNOBS, blur=2.0)
  )
  assert not again["key_created"]  # the existing key's knobs, not the new flags
  for rel in _wavs(tmp_path / "a"):
    a = open(tmp_path / "a" / rel, "rb").read()
    assert a == open(tmp_path / "b" / rel, "rb").read()
  (folder / "violin").mkdir()
  audio_lib.save(str(folder / "violin" / "x.wav"), np.zeros(SR, np.float32) + 0.1, SR)
  with pytest.raises(ProtectError, match="violin"):
    protect_folder(str(folder), key_path, str(tmp_path / "c"))
  assert not (tmp_path / "c").exists()


def test_unreadable_files_stop_the_run_before_anything_is_written(folder, tmp_path):
  (folder / "piano" / "notes.wav").write_text("not audio at all")
  (folder / "drums" / "cut.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
  key_path, out = str(tmp_path / "owner.key"), str(tmp_path / "out")
  with pytest.raises(ProtectError) as info:
    protect_folder(str(folder), key_path, out, knobs=KNOBS)
  message = str(info.value)
  assert "2 file(s)" in message and "notes.wav" in message and "cut.wav" in message
  assert not os.path.exists(out) and not os.path.exists(key_path)
  assert [p for p in os.listdir(tmp_path) if p.startswith(".protect")] == []
  summary = protect_folder(str(folder), key_path, out, knobs=KNOBS, skip_bad=True)
  assert summary["clips"] == 6 and len(summary["skipped"]) == 2
  with pytest.raises(ProtectError, match="never overwrites"):
    protect_folder(str(folder), key_path, out)


def test_bad_folders_and_knobs_are_refused(tmp_path, folder):
  key_path = str(tmp_path / "k")
  with pytest.raises(ProtectError, match="does not exist"):
    protect_folder(str(tmp_path / "none"), key_path, str(tmp_path / "o"))
  (tmp_path / "flat").mkdir()
  with pytest.raises(ProtectError, match="no class folders"):
    protect_folder(str(tmp_path / "flat"), key_path, str(tmp_path / "o"))
  with pytest.raises(ValueError, match="do not fit"):  # 40 patches of 800 > 1 s
    protect_folder(
      str(folder), key_path, str(tmp_path / "o"), knobs=dict(KNOBS, num_patches=40)
    )
  assert not os.path.exists(key_path)
  audio_lib.save(str(folder / "piano" / "fast.wav"), np.zeros(8000) + 0.1, 8000)
  with pytest.raises(ProtectError, match="sample rates"):
    protect_folder(str(folder), key_path, str(tmp_path / "o"))


def test_the_command_line(folder, tmp_path):
  cmd = [
    sys.executable,
    "-m",
    "launch.protect",
    f"--input={folder}",
    f"--key={tmp_path / 'owner.key'}",
    f"--output={tmp_path / 'out'}",
    "--patch_samples=800",
    "--num_patches=3",
  ]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
  assert ok.returncode == 0, ok.stderr
  assert "protected 6 of 6 clips (2 classes, poscuda, key made and saved" in ok.stdout
  again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
  assert again.returncode == 2 and "never overwrites" in again.stderr
