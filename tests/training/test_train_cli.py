"""`deepshield train` refuses contradictory options and missing folders before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepshield.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--epochs", "3", "--average-last", "4"], "--average-last cannot exceed --epochs"),
        (["--real-dir", "missing-folder"], "folder not found"),
        (["--sam-rho", "-0.1"], "--sam-rho"),
        (["--epochs", "3", "--sam-rho", "0.05", "--sam-last", "4"], "--sam-last cannot exceed"),
        (["--sam-last", "2"], "--sam-last needs a --sam-rho above 0"),
        (["--sam-rho", "0.05", "--sam-last", "-1"], "--sam-last"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    options: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "real-ffhq").mkdir()
    (tmp_path / "fake-stylegan2").mkdir()
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *options]
    result = runner.invoke(app, [a.replace("missing-folder", str(tmp_path / "no")) for a in args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run").exists()  # nothing was started


def test_folders_without_images_stop_training_with_a_message(tmp_path: Path) -> None:
    for folder in ("real-ffhq", "fake-stylegan2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text("not an image")
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert "no images found" in result.output
    assert not (tmp_path / "run" / "last.pt").exists()
