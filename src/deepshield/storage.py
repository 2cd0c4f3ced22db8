"""Where uploads and artifacts live: under STORAGE_DATA_DIR, never inside a served folder.
Uploads get UUID names; artifacts are read back only through names that pass
:func:`safe_artifact_name`."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.(png|json)$")


@dataclass(frozen=True)
class Storage:
    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def prepare(self) -> None:
        for folder in (self.uploads, self.artifacts):
            folder.mkdir(parents=True, exist_ok=True)

    def upload_path(self, upload_name: str) -> Path:
        return self.uploads / upload_name

    def job_artifacts(self, job_id: str) -> Path:
        return self.artifacts / job_id

    def artifact_path(self, job_id: str, name: str) -> Path | None:
        """The artifact's path if the name is safe and the file exists, else None."""
        if not safe_artifact_name(name):
            return None
        path = self.job_artifacts(job_id) / name
        return path if path.is_file() else None

    def remove_job_files(self, job_id: str, upload_name: str | None) -> None:
        if upload_name:
            self.upload_path(upload_name).unlink(missing_ok=True)
        shutil.rmtree(self.job_artifacts(job_id), ignore_errors=True)

    def remove_path(self, path: Path) -> None:
        """Remove a file or folder, but only inside this storage root."""
        if self.root.resolve() not in path.resolve().parents:
            raise ValueError(f"refusing to remove {path}: outside {self.root}")
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def safe_artifact_name(name: str) -> bool:
    return bool(ARTIFACT_NAME.fullmatch(name)) and ".." not in name
