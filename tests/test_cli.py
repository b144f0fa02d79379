from __future__ import annotations

import subprocess
import sys

import pytest

from factorprobe import cli


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "COMMAND" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: factorprobe" in capsys.readouterr().err


def test_float_list_parsing():
    assert cli._float_list("16, 32,48") == [16.0, 32.0, 48.0]
    assert cli._float_list("10:20:5") == [10.0, 15.0, 20.0]
    with pytest.raises(Exception, match="expected comma-separated numbers"):
        cli._float_list("10:20:0")


def test_one_line_error_messages():
    assert cli._one_line(KeyError("Unknown layer 'fc9'")) == "Unknown layer 'fc9'"
    assert cli._one_line(ValueError("a\n  b")) == "a b"


def test_version_from_console_entry():
    out = subprocess.run(
        [sys.executable, "-m", "factorprobe.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("factorprobe ")
