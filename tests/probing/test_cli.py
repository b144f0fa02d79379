"""The 'models' and 'train' subcommands."""

from __future__ import annotations

import json

from factorprobe.cli import main


def test_models_lists_the_embedded_model_and_timm_naming(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("embedded:")
    assert "held-out accuracy" in out and "'timm:NAME'" in out and "timm.list_models()" in out


def test_train_writes_a_model(tmp_path, capsys):
    options = "--steps 2 --batch-size 4 --n-eval 8 --input-size 64 --n-fc 2 --fc-width 8 --seed 5"
    argv = ["train", "--out", str(tmp_path), *options.split(), "--quiet"]
    assert main(argv) == 0
    assert "held-out accuracy: disc" in capsys.readouterr().out
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["seed"] == 5 and card["architecture"]["config"]["fc_width"] == 8
    assert (tmp_path / "weights.safetensors").stat().st_size > 0


def test_train_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "factorprobe train: error: The 'steps' parameter of train_embedded must be" in err
