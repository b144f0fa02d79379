from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import factorprobe

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.+)"$', text, re.M).group(1) == factorprobe.__version__


def test_import_is_cheap_and_lazy():
    code = "import sys, factorprobe; print('torch' in sys.modules, 'xarray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_attribute():
    try:
        factorprobe.nonexistent  # noqa: B018
    except AttributeError as err:
        assert "nonexistent" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- quickstart-test -->" in readme and "<!-- quickstart-main -->" in readme
    assert "quickstart-test" in ci
    blocks = re.findall(r"<!-- quickstart-(\w+) -->\n```bash\n(.+)\n```", readme)
    assert [name for name, _ in blocks] == ["main", "test"]
    assert all(cmd.startswith("python3.11 -m venv .venv && ") for _, cmd in blocks)


def test_analysis_import_does_not_load_torch_until_needed():
    code = (
        "import sys, factorprobe.analysis as a; before = 'torch' in sys.modules; "
        "f = a.saliency; print(before, 'torch' in sys.modules, callable(f), f.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "saliency"]
