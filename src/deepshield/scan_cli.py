"""``deepshield scan``: analyse files and folders, print a table or JSON, save heatmaps."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from deepshield.engine.analyze import Analyzer
from deepshield.engine.errors import MediaError
from deepshield.engine.media import MEDIA_SUFFIXES


class UsageError(ValueError):
    pass


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for media by suffix; sorted, no repeats."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no images or videos found in the given folders")
    return unique


def artifact_folder(out: Path, number: int, path: Path) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:60] or "file"
    return out / f"{number:03d}_{safe}"


def verdict_text(result: dict[str, Any]) -> str:
    if result["predicted_manipulation"] is None:
        return "inconclusive"
    return "manipulated" if result["predicted_manipulation"] else "no manipulation found"


def run_scan(
    paths: list[Path],
    analyzer: Analyzer,
    *,
    json_output: bool,
    out: Path | None,
    top_k: int | None,
    sample: int | None,
) -> int:
    """Analyse every input; returns the exit code (0 all analysed, 1 any failed)."""
    console = Console(stderr=json_output)
    results: list[dict[str, Any]] = []
    for number, path in enumerate(paths, start=1):
        artifacts = artifact_folder(out, number, path) if out else None
        result = analyze_one(analyzer, path, artifacts, top_k=top_k, sample=sample)
        results.append(result)
        if not json_output and "error" in result:
            error = result["error"]
            console.print(f"[red]{path}: {error['error_code']}: {error['message']}[/]")
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        console.print(summary_table(results))
        for r in results:
            for warning in r.get("warnings", []):
                line = f"{Path(r['input']).name}: {warning}"
                console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)
    return 1 if any("error" in r for r in results) else 0


def analyze_one(
    analyzer: Analyzer, path: Path, artifacts: Path | None, *, top_k: int | None, sample: int | None
) -> dict[str, Any]:
    """One file's result dict (or its error), with a progress bar when stderr is a terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stage]}"),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task(path.name, total=100, stage="")

        def on_progress(stage: str, percent: float) -> None:
            progress.update(task, completed=percent, stage=stage)

        try:
            result = analyzer.analyze(
                path,
                on_progress=on_progress,
                artifacts_dir=artifacts,
                top_k=top_k,
                sample_frames=sample,
            ).to_dict()
        except MediaError as exc:
            return {"input": str(path), "error": {"error_code": exc.code, "message": exc.message}}
    extra = {"artifacts_dir": str(artifacts)} if artifacts is not None else {}
    return {"input": str(path), **result, **extra}


def summary_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="DeepShield scan (screening evidence, not proof)")
    for column in ("file", "verdict", "score", "threshold", "people", "frames with face", "note"):
        table.add_column(column)
    for r in results:
        name = Path(r["input"]).name
        if "error" in r:
            table.add_row(name, "[red]error[/]", "", "", "", "", r["error"]["error_code"])
            continue
        score = "" if r["final_score"] is None else f"{r['final_score']:.3f}"
        note = r["low_confidence_reason"] or r["confidence_label"]
        table.add_row(
            name,
            verdict_text(r),
            score,
            f"{r['decision_threshold']:.2f}",
            str(len(r["people"])),
            f"{r['frames_with_face']}/{r['frames_sampled']}",
            note,
        )
    return table
