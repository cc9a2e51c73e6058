"""Protects a folder of labelled audio with PosCUDA (or CUDA) before publishing it.

  python -m launch.protect --input=DIR --key=KEYFILE --output=DIR \\
      [--method=poscuda] [--poison_rate=1.0] [--patch_samples=1600] \\
      [--num_patches=4] [--kernel_size=9] [--blur=0.3] [--fade=0] [--skip_bad]

DIR holds one folder per class (DIR/<class>/<file>). KEYFILE is the owner's secret:
made on the first run (from the method and knob flags) and reused after, so later
batches get the same class-wise protection; keep it private. OUTPUT gets the
protected WAVs in the same layout, a tfds data set (OUTPUT/tfds) and
protection.json. Unreadable files stop the run before anything is written, named
one per line, unless --skip_bad.
"""

import sys

from absl import app, flags

_INPUT = flags.DEFINE_string("input", None, "folder of class folders of audio")
_KEY = flags.DEFINE_string("key", None, "the owner's key file (made if missing)")
_OUTPUT = flags.DEFINE_string("output", None, "new folder for the protected set")
_METHOD = flags.DEFINE_enum("method", "poscuda", ["poscuda", "cuda"], "for a new key")
_RATE = flags.DEFINE_float("poison_rate", 1.0, "share of clips protected (new key)")
_PATCH = flags.DEFINE_integer("patch_samples", 1600, "PosCUDA patch length (new key)")
_PATCHES = flags.DEFINE_integer("num_patches", 4, "PosCUDA patches per clip (new key)")
_KERNEL = flags.DEFINE_integer("kernel_size", 9, "blur filter taps (new key)")
_BLUR = flags.DEFINE_float("blur", 0.3, "taps drawn from U(0, blur) (new key)")
_FADE = flags.DEFINE_integer("fade", 0, "PosCUDA cross-fade samples (new key)")
_SKIP = flags.DEFINE_bool("skip_bad", False, "leave unreadable files out")
flags.mark_flags_as_required(["input", "key", "output"])


def main(argv):
  del argv
  from audiojax import platform
  from audiojax.unlearnable.protect import ProtectError, protect_folder

  platform.configure()
  platform.quiet_library_logs()
  knobs = dict(kernel_size=_KERNEL.value, blur=_BLUR.value)
  if _METHOD.value == "poscuda":
    knobs.update(
      patch_samples=_PATCH.value, num_patches=_PATCHES.value, fade=_FADE.value
    )
  try:
    summary = protect_folder(
      _INPUT.value,
      _KEY.value,
      _OUTPUT.value,
      method=_METHOD.value,
      poison_rate=_RATE.value,
      knobs=knobs,
      skip_bad=_SKIP.value,
    )
  except (ProtectError, ValueError) as e:
    print(f"protect: {e}", file=sys.stderr)
    sys.exit(2)
  made = "made and saved" if summary["key_created"] else "reused"
  print(
    f"protected {summary['protected']} of {summary['clips']} clips "
    f"({len(summary['classes'])} classes, {summary['method']}, key {made}: "
    f"{_KEY.value}) -> {_OUTPUT.value}"
  )
  for line in summary["skipped"]:
    print(f"skipped {line}")


if __name__ == "__main__":
  app.run(main)
