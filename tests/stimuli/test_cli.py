"""The 'factorprobe stimuli' command."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import xarray as xr

from factorprobe import cli


def test_default_grid(tmp_path, capsys):
    assert cli.main(["stimuli", "--out", str(tmp_path)]) == 0
    stim = xr.load_dataset(tmp_path / "stimuli.nc", engine="h5netcdf")
    assert stim.sizes["stimulus"] == 100 and stim["image"].shape[1:] == (224, 224, 1)
    np.testing.assert_array_equal(np.unique(stim["size"]), [16, 32, 48, 64])
    np.testing.assert_array_equal(np.unique(stim["x"]), [48, 80, 112, 144, 176])
    assert (tmp_path / "contact_sheet.png").stat().st_size > 0
    assert "100 stimuli" in capsys.readouterr().out


def test_flags_map_onto_the_grid(tmp_path):
    argv = ["stimuli", "--out", str(tmp_path), "--size", "10:20:10", "--x", "32", "--y", "32,40",
            "--shape", "square,cross", "--rotation", "0,45", "--contrast", "0.5",
            "--canvas", "64", "--background", "0.25", "--rows", "shape"]  # fmt: skip
    assert cli.main(argv) == 0
    stim = xr.load_dataset(tmp_path / "stimuli.nc", engine="h5netcdf")
    assert stim.sizes["stimulus"] == 16 and stim.attrs["canvas"] == 64
    assert set(stim["shape"].values) == {"square", "cross"}
    assert float(stim["image"].min()) == 0.25


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    argv = ["stimuli", "--out", str(tmp_path), "--size", "120", "--x", "20", "--y", "112"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("factorprobe stimuli: error: Object of size 120 px at x=20, y=112")
    assert "largest size there is 40 px" in err and "\n" not in err
    assert not (tmp_path / "stimuli.nc").exists()
    assert cli.main(["stimuli", "--out", str(tmp_path), "--shape", "disk"]) == 2
    assert "Unknown shape 'disk'" in capsys.readouterr().err


def test_subprocess(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FACTORPROBE_DEBUG"}
    out = subprocess.run(
        [sys.executable, "-m", "factorprobe.cli", "stimuli", "--out", str(tmp_path),
         "--size", "16", "--x", "40,60", "--y", "50", "--canvas", "100"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2 stimuli" in out.stdout
    assert (tmp_path / "stimuli.nc").exists() and (tmp_path / "contact_sheet.png").exists()
