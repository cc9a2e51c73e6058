"""Process-level JAX settings for launchers and tests (library code only reads them).

A persistent compilation cache makes the second start of the same program skip XLA
compilation, which dominates short runs on CPU (resumes, tests, the quickstart).

A process confined to one CPU core (``taskset -c 0``, a one-CPU container or batch
job) gets an XLA CPU thread pool of one thread. With CPU async dispatch on (jax's
default), a ``jax.pure_callback`` under ``jax.jit`` then deadlocks: the callback runs on
that one thread and waits for the ``device_put`` of its own arguments, which needs
the same thread (jax 0.10.2; the codec layer of :mod:`audiojax.channel.codecs` hung
this way). :func:`configure` turns async dispatch off there, where it has nothing to
overlap anyway; it must run before the first JAX computation creates the backend.
"""

from __future__ import annotations

import os

import jax

ASYNC_DISPATCH = "jax_cpu_enable_async_dispatch"


def usable_cores() -> int:
  """The CPU cores this process may run on (its affinity where the OS has one)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def configure(cache_dir: str | None = None) -> None:
  """Turns on the persistent compilation cache (``$AUDIOJAX_JAX_CACHE`` or ~/.cache)
  and, in a process confined to one core, turns CPU async dispatch off (see above).
  """
  if usable_cores() == 1:
    jax.config.update(ASYNC_DISPATCH, False)
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
