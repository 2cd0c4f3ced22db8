"""``deepshield evaluate`` end to end through the CLI, with the shipped model, on folders that
hold good faces, a video, a face-free image and an unreadable file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata
from typer.testing import CliRunner

from deepshield.cli import app
from deepshield.engine.faces import create_detector
from deepshield.training.sbi import self_blend
from tests.fixtures.media_factory import write_bytes, write_image, write_video

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval")
    real, fake = root / "real", root / "fake"
    (fake / "blended").mkdir(parents=True)
    real.mkdir()
    face = create_detector("centerface").detect(astronaut)[0]
    for i in range(3):
        shifted = np.roll(astronaut, 10 * i, axis=1)
        write_image(real / f"astronaut_{i}.jpg", shifted, quality=90)
    write_image(real / "coffee.png", np.ascontiguousarray(skdata.coffee()))  # no face
    write_bytes(real / "broken.jpg", "not an image at all")  # unreadable
    write_video(real / "clip.mp4", [astronaut[:, :, :]] * 10, fps=5)
    for i in range(3):
        blended = self_blend(astronaut, face.landmarks, np.random.default_rng(i)).fake
        write_image(fake / "blended" / f"sbi_{i}.jpg", blended, quality=90)
    write_image(fake / "posterised.png", (astronaut // 64 * 64).astype(np.uint8))
    return real, fake


def test_json_report_counts_every_file(folders: tuple[Path, Path], tmp_path: Path) -> None:
    real, fake = folders
    result = runner.invoke(
        app,
        ["evaluate", "--real", str(real), "--fake", str(fake), "--json", "--plots", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in (
        "auc",
        "ap",
        "eer",
        "tpr_at_fpr_1",
        "tpr_at_fpr_5",
        "accuracy",
        "ece",
        "threshold",
        "n_real",
        "n_fake",
    ):
        assert key in report
    assert (report["n_real"], report["n_fake"]) == (4, 4)  # 3 photos + 1 video; 4 fakes
    assert [Path(p).name for p in report["files_without_face"]] == ["coffee.png"]
    assert {Path(p).name: code for p, code in report["files_unreadable"].items()} == {
        "broken.jpg": "UNSUPPORTED_MEDIA_TYPE"
    }
    assert set(report["per_source"]) == {"fake", "fake/blended"}
    # the astronaut's face (about 92 px) is under the compressed-media floor in the JPEGs and
    # the video, over the lossless floor in the PNG: scored, counted, and named low confidence
    named = {Path(p).name: reason for p, reason in report["files_low_confidence"].items()}
    assert named == dict.fromkeys(
        [f"astronaut_{i}.jpg" for i in range(3)]
        + ["clip.mp4"]
        + [f"sbi_{i}.jpg" for i in range(3)],
        "faces_too_small",
    )
    assert report["files_scored"] == 8
    # all that is left without them is the one PNG fake: no real file, no confident metrics
    assert report["confident_only"] is None
    assert 0.0 <= report["auc"] <= 1.0 and 0.0 <= report["ece"] <= 1.0
    low, high = report["intervals_90"]["auc"]  # 4 + 4 files: a wide interval
    assert 0.0 <= low <= high <= 1.0 and set(report["intervals_90"]) >= {"auc", "eer", "ece"}
    for name in ("roc.png", "reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_report_names_the_skipped_files(folders: tuple[Path, Path]) -> None:
    real, fake = folders
    result = runner.invoke(app, ["evaluate", "--real", str(real), "--fake", str(fake)])
    assert result.exit_code == 0, result.output
    assert "without a detectable face" in result.stdout and "coffee.png" in result.stdout
    assert "90% bootstrap intervals (all files): AUC " in result.stdout
    assert "could not be read" in result.stdout and "broken.jpg" in result.stdout
    assert "7 scored file(s) were low confidence (faces_too_small: 7)" in result.stdout


def test_low_confidence_files_are_left_out_of_the_confident_metrics(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    face = create_detector("centerface").detect(astronaut)[0]
    blended = self_blend(astronaut, face.landmarks, np.random.default_rng(0)).fake
    # an 84 px face: judged in a lossless PNG, too small to judge in a JPEG
    write_image(real / "lossless.png", astronaut)
    write_image(real / "compressed.jpg", astronaut, quality=90)
    write_image(fake / "lossless.png", blended)
    write_image(fake / "compressed.jpg", blended, quality=90)
    args = ["evaluate", "--real", str(real), "--fake", str(fake), "--bootstrap", "0"]
    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert (report["n_real"], report["n_fake"]) == (2, 2)
    assert sorted(report["files_low_confidence"]) == [
        str(fake / "compressed.jpg"),
        str(real / "compressed.jpg"),
    ]
    confident = report["confident_only"]
    assert (confident["n_real"], confident["n_fake"]) == (1, 1)
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "confident only" in table.stdout
    assert "2 scored file(s) were low confidence (faces_too_small: 2)" in table.stdout


def test_labels_csv(folders: tuple[Path, Path], tmp_path: Path) -> None:
    real, fake = folders
    rows = [
        f"{real / 'astronaut_0.jpg'},real",
        f"{real / 'astronaut_1.jpg'},0",
        f"{fake / 'blended/sbi_0.jpg'},fake,swap",
        f"{fake / 'posterised.png'},1",
    ]
    csv_path = write_bytes(tmp_path / "labels.csv", "path,label\n" + "\n".join(rows) + "\n")
    result = runner.invoke(
        app, ["evaluate", "--labels", str(csv_path), "--json", "--bootstrap", "0"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["n_real"], report["n_fake"]) == (2, 2)
    assert report["intervals_90"] == {}  # --bootstrap 0: none asked for
    assert set(report["per_source"]) == {"fake", "swap"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--real", "/nonexistent/real", "--fake", "/nonexistent/fake"], "folder not found"),
        (["--real", "EMPTY", "--fake", "EMPTY"], "no images or videos"),
        (["--real", "EMPTY"], "give --real DIR and --fake DIR"),
        (
            ["--real", "NOFACE", "--fake", "NOFACE"],
            "need at least one scored real and one scored fake",
        ),
        (["--labels", "BADCSV"], "expected 'path,real|fake"),
        (["--real", "EMPTY", "--fake", "EMPTY", "--bootstrap", "-1"], "greater than or equal to 0"),
    ],
    ids=[
        "missing-folder",
        "empty-folder",
        "only-real",
        "no-face-anywhere",
        "bad-csv",
        "negative-bootstrap",
    ],
)
def test_unusable_input_exits_2_with_a_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "noface").mkdir()
    write_image(tmp_path / "noface" / "coffee.png", np.ascontiguousarray(skdata.coffee()))
    write_bytes(tmp_path / "bad.csv", "a.jpg,maybe\n")
    swap = {
        "EMPTY": str(tmp_path / "empty"),
        "NOFACE": str(tmp_path / "noface"),
        "BADCSV": str(tmp_path / "bad.csv"),
    }
    result = runner.invoke(app, ["evaluate", *[swap.get(a, a) for a in args]])
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_extra_gives_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sklearn" else real_find_spec(name, *a),
    )
    result = runner.invoke(app, ["evaluate", "--real", str(tmp_path), "--fake", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'deepshield[eval]'" in result.stderr
