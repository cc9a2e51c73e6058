#!/usr/bin/env bash
# Set up, then run the test suite (what CI runs). Extra arguments go to pytest,
# e.g. ./launch/test.sh -m "not slow" or ./launch/test.sh tests/test_features.py
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
# Compiled XLA programs are cached across test processes and runs.
export AUDIOJAX_JAX_CACHE=${AUDIOJAX_JAX_CACHE:-$HOME/.cache/audiojax/jax}
exec .venv/bin/python -m pytest -q --durations=15 "$@"
