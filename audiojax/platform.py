"""Process-level JAX settings for launchers and tests (library code only reads them).

A persistent compilation cache makes the second start of the same program skip XLA
compilation, which dominates short runs on CPU (resumes, tests, the quickstart).

A process confined to one CPU core (``taskset -c 0``, a one-CPU container or batch
job) gets an XLA CPU thread pool of one thread, and a ``jax.pure_callback`` there can
deadlock: the callback runs on that thread and waits for the ``device_put`` of its own
arguments (jax 0.10.2; measured: 3 of 6 runs of the codec layer under ``jit`` hung,
with CPU async dispatch on or off). :func:`usable_cores` lets library code refuse
such a call with a typed error instead of hanging.
"""

from __future__ import annotations

import os

import jax


def usable_cores() -> int:
  """The CPU cores this process may run on (its affinity where the OS has one)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def configure(cache_dir: str | None = None) -> None:
  """Turns on the persistent compilation cache (``$AUDIOJAX_JAX_CACHE`` or ~/.cache)."""
  cache_dir = cache_dir or os.environ.get(
    "AUDIOJAX_JAX_CACHE", os.path.expanduser("~/.cache/audiojax/jax")
  )
  if cache_dir.lower() in ("", "0", "off", "none"):
    return
  os.makedirs(cache_dir, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", cache_dir)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class _QuietLibraries:
  """Drops INFO records of chatty libraries (orbax logs every save step by step)."""

  QUIET = ("/orbax/", "/tensorflow_datasets/", "/etils/")

  def filter(self, record) -> bool:
    return record.levelno >= 30 or not any(q in record.pathname for q in self.QUIET)


def quiet_library_logs() -> None:
  """Keeps our INFO logs and library warnings, not the libraries' INFO chatter."""
  import logging as py_logging

  from absl import logging

  handler = logging.get_absl_handler()
  handler.addFilter(_QuietLibraries())
  py_logging.getLogger().addFilter(_QuietLibraries())
