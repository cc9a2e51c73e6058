"""A throwaway PostgreSQL server in a directory, for trying replicas on one machine.

  python -m launch.local_postgres --dir=runs/pg [--port=5433]   # prints the URL

starts Debian's ``postgresql`` (``initdb`` on first use, then ``pg_ctl start``) on
127.0.0.1 and creates the database ``audiojax``; ``--stop`` stops it. As root the
server runs as the ``postgres`` user (it refuses root). A study with real raters
wants a managed PostgreSQL instead (README, "Several replicas").
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time

from absl import app, flags

_DIR = flags.DEFINE_string("dir", "runs/pg", "Where the server keeps its data.")
_PORT = flags.DEFINE_integer("port", 0, "Port (0: a free one).")
_STOP = flags.DEFINE_bool("stop", False, "Stop the server in --dir.")


def _bin(name: str) -> str:
  found = shutil.which(name) or next(
    iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
  )
  if found is None:
    raise FileNotFoundError(
      f"{name} not found: install PostgreSQL (launch/setup.sh does, as root)"
    )
  return found


def _as_server_user(cmd: list[str]) -> list[str]:
  return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class LocalPostgres:
  """A server in ``directory``: :meth:`start` returns its ``postgresql://`` URL."""

  def __init__(self, directory: str, port: int = 0):
    self.directory = os.path.abspath(directory)
    self.data = os.path.join(self.directory, "data")
    self.port = port or _free_port()
    self.url = f"postgresql://audiojax@127.0.0.1:{self.port}/audiojax"

  def _run(self, cmd: list[str]) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if done.returncode:
      raise RuntimeError(
        f"{' '.join(cmd[:1])} failed ({done.returncode}): {done.stderr[-2000:]}"
        + (
          " (as root the server user needs every parent directory readable)"
          if os.geteuid() == 0
          else ""
        )
      )

  def start(self, max_connections: int = 300, timeout: float = 60.0) -> str:
    os.makedirs(self.directory, exist_ok=True)
    if os.geteuid() == 0:
      shutil.chown(self.directory, "postgres", "postgres")
    if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
      self._run([_bin("initdb"), "-D", self.data, "-U", "audiojax", "-A", "trust"])
    options = (
      f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
      f"-c max_connections={max_connections}"
    )
    log = os.path.join(self.directory, "server.log")
    self._run(
      [_bin("pg_ctl"), "-D", self.data, "-l", log, "-o", options, "-w", "start"]
    )
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
      try:
        base = f"postgresql://audiojax@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(base, autocommit=True) as conn:
          if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname='audiojax'"
          ).fetchone():
            conn.execute("CREATE DATABASE audiojax")
        return self.url
      except psycopg.OperationalError:
        if time.monotonic() > deadline:
          raise
        time.sleep(0.2)

  def stop(self) -> None:
    if os.path.exists(os.path.join(self.data, "postmaster.pid")):
      self._run([_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])


def main(argv):
  del argv
  server = LocalPostgres(_DIR.value, _PORT.value)
  if _STOP.value:
    server.stop()
    return
  print(server.start())


if __name__ == "__main__":
  app.run(main)
