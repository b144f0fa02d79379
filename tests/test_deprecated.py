"""Old paths, names and keywords keep working for one release, warn, and name the new place.

The only test file that may see a DeprecationWarning from factorprobe: every other test uses the
new names (tests/test_deprecated.py::test_nothing_else_uses_a_deprecated_name checks the sources).
"""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from factorprobe._deprecated import ANALYSIS_MOVED, MOVED_MODULES, MOVED_NAMES, RENAMED

ROOT = Path(__file__).resolve().parents[1]
# the report's tests are being rewritten elsewhere (the report reads saved files only); they
# still import planted_units from factorprobe.analysis; drop them here once they do not
NOT_YET = {"tests/report/test_html.py", "tests/report/test_plots.py"}
TORCH_MODULES = {"factorprobe.analysis.ablation", "factorprobe.analysis.input_gradients"}
TORCH_TARGETS = {"factorprobe.interventions", "factorprobe.pipeline.ablate"}


def _needs_torch(*names: str) -> None:
    if any(n in TORCH_MODULES | TORCH_TARGETS for n in names):
        pytest.importorskip("torch")


def _fresh_import(old: str) -> object:
    # a shim warns when it is first imported; drop it so that this test sees the warning
    sys.modules.pop(old, None)
    return importlib.import_module(old)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_MODULES.items()))
def test_moved_module_warns_and_holds_the_new_modules_objects(old, new):
    _needs_torch(old, new)
    target = importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match=rf"{re.escape(old)} moved to {re.escape(new)}"):
        shim = _fresh_import(old)
    names = getattr(target, "__all__", None) or [n for n in vars(target) if n[0] != "_"]
    assert names
    for name in names:
        assert getattr(shim, name) is getattr(target, name), name
    for name, module in MOVED_NAMES.get(old, {}).items():
        assert getattr(shim, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("name", "new"), sorted(ANALYSIS_MOVED.items()))
def test_names_moved_out_of_analysis_warn_and_are_the_same_object(name, new):
    _needs_torch(new)
    import factorprobe.analysis as analysis

    expected = getattr(importlib.import_module(new), name)
    match = rf"factorprobe\.analysis\.{name} moved to {re.escape(new)}\.{name}"
    with pytest.warns(DeprecationWarning, match=match):
        assert getattr(analysis, name) is expected
    with pytest.warns(DeprecationWarning, match=match):
        namespace: dict[str, object] = {}
        exec(f"from factorprobe.analysis import {name}", namespace)
    assert namespace[name] is expected
    assert name not in analysis.__all__


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [(m, old, new) for m, names in sorted(RENAMED.items()) for old, new in names.items()],
)
def test_renamed_names_warn_and_are_the_same_object(module, old, new):
    mod = importlib.import_module(module)
    match = rf"{re.escape(module)}\.{old} is renamed {re.escape(module)}\.{new}"
    with pytest.warns(DeprecationWarning, match=match):
        assert getattr(mod, old) is getattr(mod, new)
    assert old not in getattr(mod, "__all__", ())


def test_unknown_names_still_raise_attribute_error():
    import factorprobe.analysis as analysis
    import factorprobe.stimuli as stimuli

    for mod in (analysis, stimuli):
        with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
            mod.nonexistent  # noqa: B018


def _acts():
    a, b = np.repeat([0, 1], 4), np.tile([0, 0, 1, 1], 2)
    r = np.stack([a + 0.1 * np.tile([1, -1], 4), a * b + 0.1 * np.tile([1, -1], 4)], 1)
    coords = {"a": ("stimulus", a), "b": ("stimulus", b)}
    return xr.DataArray(r, dims=("stimulus", "unit"), coords=coords)


def test_two_way_anova_correction_keyword_warns_and_means_multiple_testing():
    from factorprobe.analysis import two_way_anova

    new = two_way_anova(_acts(), ("a", "b"), multiple_testing="none")
    match = r"'correction' parameter of two_way_anova is renamed 'multiple_testing'"
    with pytest.warns(DeprecationWarning, match=match):
        old = two_way_anova(_acts(), ("a", "b"), correction="none")
    xr.testing.assert_identical(old, new)
    assert new.attrs["multiple_testing"] == "none" and "correction" not in new.attrs


def test_run_quiet_keyword_warns_and_means_progress_none(tmp_path, monkeypatch):
    from factorprobe.pipeline import runner

    seen = {}

    def fake_run_one(config, folder, progress):
        seen["mode"] = progress.mode
        return folder

    monkeypatch.setattr(runner, "_run_one", fake_run_one)
    with pytest.warns(DeprecationWarning, match=r"'quiet' parameter of run is renamed 'progress'"):
        runner.run(out=tmp_path / "r", quiet=True)
    assert seen["mode"] == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        runner.run(out=tmp_path / "r", progress=False)
    assert seen["mode"] == "none"


def _python_sources():
    for folder in ("tests", "examples", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


def test_nothing_else_uses_a_deprecated_name():
    """Tests, examples, benchmarks, docs and notebooks import every name from its new place."""
    moved = "|".join(map(re.escape, MOVED_MODULES))
    old_module = re.compile(rf"(?:import|from)\s+({moved})\b")
    analysis_names = "|".join(ANALYSIS_MOVED) + "|factor_dependence"
    attribute = re.compile(rf"\b(?:fp|factorprobe)\.(?:analysis|stimuli)\.({analysis_names})\b")
    from_analysis = re.compile(r"from factorprobe\.(analysis|stimuli) import (\([^)]*\)|[^\n]*)")
    files = [*_python_sources(), ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    files += list((ROOT / "notebooks").glob("*.ipynb"))
    found = []
    for path in files:
        if path == Path(__file__).resolve() or str(path.relative_to(ROOT)) in NOT_YET:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits = [m.group(0) for m in old_module.finditer(text)]
        hits += [m.group(0) for m in attribute.finditer(text)]
        for m in from_analysis.finditer(text):
            names = set(re.findall(r"\w+", m.group(2)))
            bad = names & ({*ANALYSIS_MOVED, "factor_dependence"})
            hits += [f"from factorprobe.{m.group(1)} import {n}" for n in sorted(bad)]
        found += [f"{path.relative_to(ROOT)}: {h}" for h in hits]
    assert not found, "\n".join(found)
