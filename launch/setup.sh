#!/usr/bin/env bash
# Idempotent set-up: a .venv with the pinned stack, plus Debian extras when root.
#
#   ./launch/setup.sh          runtime + dev requirements (tests, benchmarks)
#   AUDIOJAX_NO_DEV=1 ./launch/setup.sh   runtime only
#   AUDIOJAX_BENCH=1 ./launch/setup.sh    also the benchmarks' PyTorch peers
#                                          (requirements-bench.txt, ~1 GB)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# Debian extras: TTS voices for the keyword set, sox for inspection, and (for the
# tests) chromium to screenshot the rating app and PostgreSQL for the ratings store.
APT_PACKAGES="flite espeak-ng sox libsndfile1"
BINARIES="flite espeak-ng sox"
if [ "${AUDIOJAX_NO_DEV:-0}" != "1" ]; then
  APT_PACKAGES="$APT_PACKAGES chromium"
  BINARIES="$BINARIES chromium"
fi
missing=""
for bin in $BINARIES; do command -v "$bin" >/dev/null 2>&1 || missing="$missing $bin"; done
# The ratings tests run their PostgreSQL half against Debian's server (pg_ctl is
# off PATH there, under /usr/lib/postgresql/VERSION/bin).
if [ "${AUDIOJAX_NO_DEV:-0}" != "1" ] && ! command -v pg_ctl >/dev/null 2>&1 \
  && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  APT_PACKAGES="$APT_PACKAGES postgresql"
  missing="$missing pg_ctl"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] apt-get install $APT_PACKAGES"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES >/dev/null) \
      || echo "[setup] apt-get failed; the keyword data set and the app screenshot test will be unavailable (they need: $APT_PACKAGES)"
  else
    echo "[setup] not root: skipping apt packages ($APT_PACKAGES)."
    echo "[setup] Everything but the spoken keyword data set (and the browser test of the"
    echo "[setup] rating app, and the PostgreSQL half of the ratings tests) works without them;"
    echo "[setup] ask an administrator for: apt-get install $APT_PACKAGES"
  fi
fi

req_files="requirements.txt"
[ "${AUDIOJAX_NO_DEV:-0}" = "1" ] || req_files="requirements-dev.txt"
bench=${AUDIOJAX_BENCH:-0}
stamp_files="requirements.txt requirements-dev.txt launch/setup.sh"
# Only a bench install depends on requirements-bench.txt, so editing it re-runs
# set-up for bench users and leaves everyone else's .venv up to date.
[ "$bench" != "1" ] || stamp_files="$stamp_files requirements-bench.txt"
stamp=.venv/.audiojax-installed
want=$(cat $stamp_files | sha256sum | cut -d' ' -f1)-${AUDIOJAX_NO_DEV:-0}-$bench
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] .venv is up to date"
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() {
  # Machines here may carry a pip config naming local indexes that do not exist;
  # pip warns once per package about them. Keep real errors, drop that noise.
  .venv/bin/python -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
echo "[setup] pip install -r $req_files (about 2 minutes on a fresh machine)"
pip_install -r "$req_files"
pip_install --no-deps tinysoundfont==0.3.7
pip_install --no-deps basic-pitch==0.4.0
if [ "$bench" = "1" ]; then
  echo "[setup] pip install -r requirements-bench.txt (torch CPU, about 1 GB)"
  pip_install -r requirements-bench.txt
  pip_install --no-deps torchattacks==3.5.1
fi
# tinysoundfont declares pyaudio (for live playback, which we never use), basic-pitch
# tensorflow<2.15.1 (it runs its ONNX model here through onnxruntime), and
# torchattacks (a bench install, kept by later plain runs) declares torchvision and
# requests~=2.25.1, neither of which its PGD needs; anything else pip check reports is
# a real conflict. pip check exits 1 on any report, so it runs outside the pipeline:
# under pipefail its status would hide grep's.
report=$(.venv/bin/python -m pip check || true)
if printf '%s\n' "$report" | grep -Ev "^No broken|requires pyaudio|^basic-pitch .* requires tensorflow|^torchattacks " | grep .; then
  echo "[setup] pip check found conflicts" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import jax; print("jax", jax.__version__, jax.devices())')"
