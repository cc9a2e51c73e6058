"""What the code base promises about itself: registries, configs, module sizes."""

import ast
import importlib
import pathlib

import pytest

from audiojax import data, evaluators, experiment
from audiojax.registry import UnknownNameError
from audiojax.train import runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(
  p.stem for p in (ROOT / "experiments").glob("*.py") if p.stem[0] != "_"
)
MODULES = sorted((ROOT / "audiojax").rglob("*.py"))


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("variant", ["tiny", "runlocal"])
def test_every_experiment_builds_its_variants_and_names_a_runner(name, variant):
  module = importlib.import_module(f"experiments.{name}")
  config = module.get_config(variant)
  assert config.kind in experiment.RUNNERS
  assert isinstance(config.seed, int) and config.name
  with pytest.raises(ValueError, match="unknown config variants.*'nope'"):
    module.get_config(f"{variant},nope")


@pytest.mark.parametrize(
  "registry",
  [experiment.RUNNERS, data.DATASETS, evaluators.EVALUATORS, runs.RESTORABLE],
)
def test_every_lazy_entry_resolves_and_unknown_names_list_the_valid_ones(registry):
  for name, entry in registry.items():
    assert callable(entry), name
  with pytest.raises(UnknownNameError, match="valid names: " + ", ".join(registry)):
    registry.get("no-such-entry")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small_and_leave_no_re_export_shims(path):
  text = path.read_text()
  assert len(text.splitlines()) <= 400
  for node in ast.walk(ast.parse(text)):
    if isinstance(node, ast.ImportFrom):
      for alias in node.names:
        # ``from x import y as y`` is how a split leaves old names behind.
        assert alias.asname != alias.name, f"{path}: re-exports {alias.name}"


def test_nothing_points_outside_the_repository():
  for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *MODULES]:
    assert "../shared" not in path.read_text(), path
