"""Train a tiny run end to end on faces made from the astronaut photo: resume equals an
uninterrupted run, calibration is stored, and the ONNX export matches torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from deepshield.engine import WEIGHTS_DIR
from deepshield.engine.classifier import MODEL_CARD_NAME, FaceClassifier
from deepshield.engine.faces import create_detector, crop_face
from deepshield.training.data import ExtraAugmentation
from deepshield.training.export import (
    export_run,
    load_checkpoint,
    max_parity_error,
    train_command,
)
from deepshield.training.model import fake_margin
from deepshield.training.train import TrainConfig, train, training_environment
from tests.fixtures.media_factory import write_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_faces(
    tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("faces")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        x, y = rng.integers(0, 60, size=2)
        view = cv2.resize(astronaut[y : y + 440, x : x + 440], (320, 320))
        view = np.clip(view.astype(int) + int(rng.integers(-25, 25)), 0, 255).astype(np.uint8)
        write_image(root / "real" / f"real_{i}.jpg", view, quality=92)
    for i in range(7):
        smooth = cv2.bilateralFilter(cv2.resize(astronaut, (320, 320)), 9, 60 + 10 * i, 9)
        write_image(root / "fake" / f"fake_{i}.jpg", smooth, quality=92)
    return root / "real", root / "fake"


def read_history(run: Path) -> list[dict[str, Any]]:
    """The records of ``run``'s history.jsonl, one per validation."""
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def config_for(faces: tuple[Path, Path], out: Path) -> TrainConfig:
    return TrainConfig(
        real_dir=faces[0], fake_dir=faces[1], out_dir=out, epochs=2, batch_entries=4, threads=2
    )


@pytest.fixture(scope="module")
def trained(tiny_faces: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> TrainConfig:
    config = config_for(tiny_faces, tmp_path_factory.mktemp("run"))
    assert train(config) == config.out_dir / "best.pt"
    return config


def test_resumed_run_equals_uninterrupted_run(
    trained: TrainConfig, tiny_faces, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = config_for(tiny_faces, tmp_path / "run")
    assert train(config, stop_after=1) is None
    assert len(read_history(config.out_dir)) == 1
    assert train(config) == config.out_dir / "best.pt"  # resumes at epoch 2
    history = read_history(config.out_dir)
    assert [h["epoch"] for h in history] == [1, 2]
    resumed = torch.load(tmp_path / "run/last.pt", weights_only=False)["model"]
    straight = torch.load(trained.out_dir / "last.pt", weights_only=False)["model"]
    for name, tensor in straight.items():
        assert torch.allclose(resumed[name].float(), tensor.float(), atol=1e-6), name


def test_history_and_calibration_are_recorded(trained: TrainConfig) -> None:
    history = read_history(trained.out_dir)
    assert len(history) == 2
    assert all(0.0 <= h["val_auc"]["all"] <= 1.0 and h["train_loss"] > 0 for h in history)
    calibration = json.loads((trained.out_dir / "calibration.json").read_text())
    assert calibration["temperature"] > 0
    assert 0 < calibration["threshold"] < 1


def test_mean_weights_of_the_last_epochs_are_validated_and_can_win(
    tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    config = replace(config_for(tiny_faces, tmp_path / "run"), epochs=3, average_last=2)
    assert train(config, stop_after=2) is None  # the average survives a resume
    after_2 = torch.load(tmp_path / "run/last.pt", weights_only=False)["model"]
    assert train(config) == config.out_dir / "best.pt"
    state = torch.load(tmp_path / "run/last.pt", weights_only=False)
    after_3, averaged = state["model"], state["averaged"]
    assert int(averaged["n_averaged"]) == 2 and state["averaged_validated"]
    for name, tensor in after_3.items():
        if tensor.is_floating_point() and "running" not in name:  # BN statistics: recomputed
            mean = (after_2[name] + tensor) / 2
            assert torch.allclose(averaged[f"module.{name}"], mean, atol=1e-6), name
    history = read_history(config.out_dir)
    assert [(h["epoch"], h.get("averaged_epochs")) for h in history] == [
        (1, None),
        (2, None),
        (3, None),
        (3, 2),
    ]
    best = torch.load(tmp_path / "run/best.pt", weights_only=False)["best"]
    best_auc = max(h["val_auc"]["all"] for h in history)
    assert best["auc"] == best_auc
    winner = max(history, key=lambda h: (h["val_auc"]["all"], -h["val_loss"]))
    assert best.get("averaged_epochs") == winner.get("averaged_epochs")
    assert train(config) == config.out_dir / "best.pt"  # a finished run is not validated again
    assert len(read_history(config.out_dir)) == 4


def test_sharpness_aware_run_trains_resumes_and_takes_other_steps(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    config = replace(config_for(tiny_faces, tmp_path / "run"), sam_rho=0.05)
    assert train(config, stop_after=1) is None
    assert train(config) == config.out_dir / "best.pt"
    state = torch.load(tmp_path / "run/last.pt", weights_only=False)
    assert state["config"]["sam_rho"] == 0.05 and state["epoch"] == 1
    plain = torch.load(trained.out_dir / "last.pt", weights_only=False)["model"]
    assert all(torch.isfinite(t.float()).all() for t in state["model"].values())
    assert not torch.allclose(state["model"]["_fc.weight"], plain["_fc.weight"], atol=1e-4)


def test_sharpness_aware_last_epoch_only_starts_as_a_plain_run(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    config = replace(config_for(tiny_faces, tmp_path / "run"), sam_rho=0.05, sam_last=1)
    assert train(config) == config.out_dir / "best.pt"
    history, plain = read_history(config.out_dir), read_history(trained.out_dir)
    assert history[0]["train_loss"] == pytest.approx(plain[0]["train_loss"], rel=1e-4)  # plain
    assert abs(history[1]["train_loss"] - plain[1]["train_loss"]) > 1e-3  # sharpness-aware


def test_label_smoothing_trains_towards_softer_targets(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    """Smoothed targets cannot be met as closely as one-hot ones, so the same first epoch ends
    with a higher training loss; the model card names the smoothing."""
    config = replace(config_for(tiny_faces, tmp_path / "run"), label_smoothing=0.1)
    assert train(config) == config.out_dir / "best.pt"
    smoothed, plain = read_history(config.out_dir)[0], read_history(trained.out_dir)[0]
    assert smoothed["train_loss"] > plain["train_loss"] + 0.01
    onnx_path = export_run(config, config.out_dir / "best.pt")
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert "cross-entropy with label smoothing 0.1;" in card["training"]["recipe"]
    assert "--label-smoothing 0.1" in card["training"]["command"]
    assert card["training"]["config"]["label_smoothing"] == 0.1


def test_extra_augmentation_and_focal_loss_change_the_run_and_are_named_in_the_model_card(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    extra = {"occlusion": 1.0, "colour_shift": 0.3, "focal_gamma": 2.0, "blend_fakes": True}
    config = replace(config_for(tiny_faces, tmp_path / "run"), **extra)
    assert config.extra_augmentation() == ExtraAugmentation(occlusion=1.0, colour_shift=0.3)
    assert train(config) == config.out_dir / "best.pt"
    changed, plain = read_history(config.out_dir)[0], read_history(trained.out_dir)[0]
    assert abs(changed["train_loss"] - plain["train_loss"]) > 1e-4
    onnx_path = export_run(config, config.out_dir / "best.pt")
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert (
        "retouching, flip, colour, JPEG, occlusion of 1.0 of the samples, strong RGB shift and "
        "brightness-contrast each with probability 0.3; StyleGAN2 faces self-blended too, once "
        "an epoch;" in (card["training"]["recipe"])
    )
    assert "cross-entropy, focal (gamma 2.0);" in card["training"]["recipe"]
    command = "--occlusion 1.0 --colour-shift 0.3 --focal-gamma 2.0 --blend-fakes --ship"
    assert command in card["training"]["command"]


def test_sgd_run_trains_resumes_and_exports_with_its_optimiser_named(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    config = replace(config_for(tiny_faces, tmp_path / "run"), optimizer="sgd", lr=0.01)
    assert train(config, stop_after=1) is None
    assert train(config) == config.out_dir / "best.pt"
    state = torch.load(config.out_dir / "last.pt", weights_only=False)
    momenta = [entry["momentum_buffer"] for entry in state["optimizer"]["state"].values()]
    assert momenta and all(torch.isfinite(m).all() for m in momenta)  # SGD's state, resumed
    plain = torch.load(trained.out_dir / "last.pt", weights_only=False)["model"]
    assert not torch.allclose(state["model"]["_fc.weight"], plain["_fc.weight"], atol=1e-4)
    onnx_path = export_run(config, config.out_dir / "best.pt")
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert "SGD with Nesterov momentum, one-cycle LR (peak 0.01)" in card["training"]["recipe"]
    assert "--optimizer sgd --ship" in card["training"]["command"]


def test_model_card_command_names_every_option_the_run_used() -> None:
    paths = Path("real"), Path("fake"), Path("run")
    assert train_command(TrainConfig(*paths)) == "deepshield train --epochs 16 --seed 1234 --ship"
    sam = TrainConfig(
        *paths, average_last=5, sam_rho=0.05, sam_last=5, channels_last=True, label_smoothing=0.1
    )
    assert train_command(sam) == (
        "deepshield train --epochs 16 --seed 1234 --average-last 5 --sam-rho 0.05 --sam-last 5"
        " --label-smoothing 0.1 --channels-last --ship"
    )
    occluded = TrainConfig(*paths, average_last=5, occlusion=0.5)
    assert train_command(occluded) == (
        "deepshield train --epochs 16 --seed 1234 --average-last 5 --occlusion 0.5 --ship"
    )
    recoloured = TrainConfig(*paths, average_last=5, colour_shift=0.3)
    assert train_command(recoloured) == (
        "deepshield train --epochs 16 --seed 1234 --average-last 5 --colour-shift 0.3 --ship"
    )
    focal = TrainConfig(*paths, focal_gamma=2.0)
    assert train_command(focal) == (
        "deepshield train --epochs 16 --seed 1234 --focal-gamma 2.0 --ship"
    )
    blended = TrainConfig(*paths, blend_fakes=True, channels_last=True)
    assert train_command(blended) == (
        "deepshield train --epochs 16 --seed 1234 --blend-fakes --channels-last --ship"
    )
    larger = TrainConfig(*paths, input_size=256)
    assert train_command(larger) == (
        "deepshield train --epochs 16 --seed 1234 --input-size 256 --ship"
    )
    sgd = TrainConfig(*paths, optimizer="sgd", lr=0.01)
    assert train_command(sgd) == "deepshield train --epochs 16 --seed 1234 --optimizer sgd --ship"
    faster = TrainConfig(*paths, optimizer="sgd", lr=0.02)
    assert "--optimizer sgd --lr 0.02 --ship" in train_command(faster)
    assert "--lr 0.001 --ship" in train_command(TrainConfig(*paths, lr=1e-3))


def test_channels_last_run_trains_the_same_recipe_and_exports(
    trained: TrainConfig, tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    """The NHWC layout changes rounding only: the first epoch's loss is the NCHW run's within
    1% (0.12% here), the checkpoint exports within 1e-4 of torch and its card names the option."""
    config = replace(config_for(tiny_faces, tmp_path / "run"), channels_last=True)
    assert train(config) == config.out_dir / "best.pt"
    history, plain = read_history(config.out_dir), read_history(trained.out_dir)
    assert history[0]["train_loss"] == pytest.approx(plain[0]["train_loss"], rel=1e-2)
    assert torch.load(config.out_dir / "last.pt", weights_only=False)["config"]["channels_last"]
    onnx_path = export_run(config, config.out_dir / "best.pt")
    model = load_checkpoint(config.out_dir / "best.pt")
    assert max_parity_error(model, onnx_path, 224, seed=5) <= 1e-4
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["training"]["command"].endswith("--channels-last --ship")


def test_changed_settings_refuse_to_resume(trained: TrainConfig) -> None:
    changed = TrainConfig(**{**trained.__dict__, "lr": 0.1})
    with pytest.raises(SystemExit, match="other settings"):
        train(changed)


def test_run_from_before_a_new_setting_resumes_with_its_default(
    tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    config = config_for(tiny_faces, tmp_path / "run")
    assert train(config, stop_after=1) is None
    last = tmp_path / "run/last.pt"
    state = torch.load(last, weights_only=False)
    settings_added_later = (
        "drop_path",
        "sam_rho",
        "sam_last",
        "channels_last",
        "label_smoothing",
        "optimizer",
    )
    for setting in settings_added_later:
        del state["config"][setting]  # as stored before these settings existed
    torch.save(state, last)
    assert train(config) == config.out_dir / "best.pt"
    assert torch.load(last, weights_only=False)["epoch"] == 1

    state["config"]["from_a_newer_version"] = 1
    torch.save(state, last)
    with pytest.raises(SystemExit, match="other settings"):
        train(config)


def test_export_matches_torch_and_serves(trained: TrainConfig, astronaut: np.ndarray) -> None:
    onnx_path = export_run(trained, trained.out_dir / "best.pt")
    model = load_checkpoint(trained.out_dir / "best.pt")
    assert max_parity_error(model, onnx_path, 224, seed=5) <= 1e-4
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:8]
    assert card["model_version"].endswith(f"-{digest}")  # names this very graph
    for key in (
        "model_version",
        "input",
        "calibration",
        "threshold",
        "training",
        "data",
        "metrics",
    ):
        assert key in card
    assert {"stylegan2", "self_blended", "all"} <= set(card["metrics"]["test"])
    environment = card["training"]["environment"]  # what an exact rerun needs
    assert environment["torch"] == torch.__version__
    assert environment["numpy"] == np.__version__
    assert environment["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert environment["cpu_model"]  # two AVX512 CPUs, Intel and AMD, trained differently
    over_draws = card["metrics"]["test"]["self_blended_over_draws"]
    assert len(over_draws["auc"]) == over_draws["draws"] == 8
    # the serving classifier gives torch's calibrated probability for a real face crop
    face = create_detector("centerface").detect(astronaut)[0]
    crop = crop_face(astronaut, face).pixels
    served = FaceClassifier(onnx_path).predict(crop[None])
    from deepshield.engine.classifier import normalise

    with torch.no_grad():
        logits = model(torch.from_numpy(normalise(crop[None])))
    margin = float(fake_margin(logits)[0])
    expected = 1 / (1 + np.exp(-margin / card["calibration"]["temperature"]))
    assert served.p_fake[0] == pytest.approx(expected, abs=1e-5)
    assert served.cams.shape == (1, 7, 7)


def test_run_at_another_input_size_exports_and_is_served_at_that_size(
    tiny_faces: tuple[Path, Path], tmp_path: Path, astronaut: np.ndarray
) -> None:
    """A model trained on 160 px crops records that size in its card; the scanner then crops
    faces at 160 px for it and draws its heatmaps from a 5 x 5 map onto 160 px crops."""
    from deepshield.config import Settings
    from deepshield.engine.analyze import Analyzer

    config = replace(config_for(tiny_faces, tmp_path / "run"), epochs=1, input_size=160)
    assert train(config) == config.out_dir / "best.pt"
    assert np.load(next((config.out_dir / "cache").glob("*.npz")))["crops"].shape[1:3] == (160, 160)
    onnx_path = export_run(config, config.out_dir / "best.pt")
    assert max_parity_error(load_checkpoint(config.out_dir / "best.pt"), onnx_path, 160) <= 1e-4
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["input"]["size"] == 160
    assert card["training"]["command"].endswith("--input-size 160 --ship")
    classifier = FaceClassifier(onnx_path)
    crop = crop_face(astronaut, create_detector("centerface").detect(astronaut)[0], size=160)
    assert classifier.predict(crop.pixels[None]).cams.shape == (1, 5, 5)
    photo = tmp_path / "astronaut.png"
    write_image(photo, astronaut)
    result = Analyzer(Settings(), classifier=classifier).analyze(photo, artifacts_dir=tmp_path)
    overlays = [face["heatmap_overlay_url"] for face in result.top_k_suspicious]
    assert overlays and cv2.imread(str(tmp_path / overlays[0])).shape[:2] == (160, 160)


def test_constraints_pin_what_the_shipped_model_was_trained_with() -> None:
    constraints = Path(__file__).parents[2] / "constraints" / "train.txt"
    pins = dict(
        line.split("==")
        for line in constraints.read_text().splitlines()
        if line and not line.startswith("#")
    )
    recorded = set(training_environment()) - {"torch_cpu_capability", "torch_threads", "cpu_model"}
    assert recorded <= set(pins)
    shipped_with = json.loads((WEIGHTS_DIR / MODEL_CARD_NAME).read_text())["training"][
        "environment"
    ]
    for library in recorded & set(shipped_with):
        assert shipped_with[library].split("+")[0] == pins[library], library  # 2.13.0+cpu


def test_train_command_passes_layout_label_smoothing_and_extra_augmentation_to_the_run(
    tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from deepshield.cli import app

    real, fake = (str(folder) for folder in tiny_faces)
    out = tmp_path / "run"
    args = ["train", "--real-dir", real, "--fake-dir", fake, "--out", str(out), "--epochs", "2"]
    options = ["--stop-after", "1", "--channels-last", "--label-smoothing", "0.1"]
    extra = ["--occlusion", "0.5", "--colour-shift", "0.3", "--focal-gamma", "2"]
    extra += ["--input-size", "160", "--blend-fakes"]
    result = CliRunner().invoke(app, [*args, *options, *extra])
    assert result.exit_code == 0, result.output
    stored = torch.load(out / "last.pt", weights_only=False)["config"]
    assert stored["channels_last"] is True and stored["label_smoothing"] == 0.1
    assert stored["occlusion"] == 0.5 and stored["colour_shift"] == 0.3
    assert stored["focal_gamma"] == 2.0 and stored["input_size"] == 160
    assert stored["blend_fakes"] is True
    refusals = (
        ("--label-smoothing", "0.9"),
        ("--occlusion", "1.5"),
        ("--colour-shift", "-0.1"),
        ("--focal-gamma", "6"),
        ("--input-size", "1024"),
        ("--input-size", "250"),  # not a multiple of the network's stride, 32
    )
    for option, bad in refusals:
        refused = CliRunner().invoke(app, [*args, option, bad])
        assert refused.exit_code == 2 and option.lstrip("-") in refused.output


def test_train_command_gives_each_optimiser_its_learning_rate(
    tiny_faces: tuple[Path, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from deepshield.cli import app

    real, fake = (str(folder) for folder in tiny_faces)
    args = ["train", "--real-dir", real, "--fake-dir", fake, "--epochs", "2", "--stop-after", "1"]
    for options, expected in (([], ("adamw", 6e-4)), (["--optimizer", "sgd"], ("sgd", 0.01))):
        out = tmp_path / "-".join(["run", *options])
        result = CliRunner().invoke(app, [*args, "--out", str(out), *options])
        assert result.exit_code == 0, result.output
        stored = torch.load(out / "last.pt", weights_only=False)["config"]
        assert (stored["optimizer"], stored["lr"]) == expected
    shown = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "(default 6e-4 with AdamW, 0.01 with SGD)" in shown.output  # not eaten as markup
    for bad in (["--optimizer", "adam"], ["--lr", "0"]):
        refused = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad"), *bad])
        assert refused.exit_code == 2 and bad[0] in refused.output
        assert not (tmp_path / "bad").exists()
