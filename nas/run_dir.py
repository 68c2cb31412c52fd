"""Run directories: `runs/<name>/` with the resolved config, checkpoints, metrics, exports.

A run directory belongs to one space (name + fingerprint of its decisions);
re-running the same command resumes it, and pointing a command for another
space or different settings at it is refused before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nas.atomic_write import write_json_atomically
from nas.config import changed_settings
from nas.errors import RunDirError

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def exports(self) -> Path:
        return self.path / "exports"

    def read_config(self) -> dict:
        if not self.config_file.exists():
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG_FILE}); "
                              "create one with `nas train --run PATH`")
        if self.config_file.is_dir():
            raise RunDirError(f"{self.config_file} is a directory; allowed: the run's record (a JSON file), as "
                              "nas train writes it")
        try:
            record = json.loads(self.config_file.read_text())
        except ValueError as error:
            raise RunDirError(f"{self.config_file} is not valid JSON: {error}") from None
        if not isinstance(record, dict):
            raise RunDirError(f"{self.config_file} is not a run's record (a JSON object naming its space and "
                              f"config), it holds a {type(record).__name__}")
        return record

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(Path(path))
        run.read_config()
        return run

    @classmethod
    def check_resumable(cls, path: str | Path, record: dict, invariant: tuple[str, ...],
                        defaults: dict | None = None, legacy=None) -> tuple["RunDir", bool]:
        """Check that `record` matches the run directory's, writing nothing (a caller may check more before it writes).

        A setting missing from a saved config (a run older than the setting) reads its value from
        `legacy(saved config)` when that fills it in, else from `defaults`.
        """
        run = cls(Path(path))
        if run.config_file.exists():
            saved = run.read_config()
            if "space" not in saved:
                raise RunDirError(f"{run.config_file} is not a run's record (no space named in it); restore it or "
                                  "choose another --run")
            if (saved.get("space") == record["space"] and saved.get("space_fingerprint") != record["space_fingerprint"]
                    and isinstance(saved.get("space_options"), dict) and "space_options" in record):
                mine, theirs = record["space_options"], saved["space_options"]
                changed = changed_settings(theirs, mine, sorted(set(mine) | set(theirs)))
                if changed:
                    raise RunDirError(
                        f"run directory {run.path} holds space {record['space']!r} with other options ("
                        + ", ".join(f"{k}={theirs.get(k)!r} there, {mine.get(k)!r} here" for k in changed)
                        + "); use its options or choose another --run")
            if (saved.get("space"), saved.get("space_fingerprint")) != (record["space"], record["space_fingerprint"]):
                raise RunDirError(
                    f"run directory {run.path} belongs to space {saved.get('space')!r} "
                    f"(fingerprint {saved.get('space_fingerprint')}), not {record['space']!r} "
                    f"(fingerprint {record['space_fingerprint']}); choose another --run")
            settings = saved.get("config", {})
            settings = legacy(settings) if legacy else settings
            changed = changed_settings(settings, record["config"], invariant, defaults)
            if changed:
                key = changed[0]
                raise RunDirError(
                    f"run directory {run.path} was started with {key}={settings.get(key, (defaults or {}).get(key))!r}, "
                    f"this command has {key}={record['config'].get(key)!r}; resume with the same "
                    "settings or choose another --run")
            run.check_layout()
            return run, True
        if run.path.exists() and any(run.path.iterdir()):
            raise RunDirError(f"{run.path} exists, is not empty and holds no {CONFIG_FILE}; "
                              "refusing to write into it")
        return run, False

    def check_layout(self) -> None:
        """The run's own entries are of their kind: a file where a directory belongs (or the reverse) would fail
        only after the resume had rewritten the record and cut the metrics."""
        for entry, directory in ((self.checkpoints, True), (self.metrics_file, False), (self.summary_file, False)):
            if entry.exists() and entry.is_dir() != directory:
                found, wanted = ("file", "directory") if directory else ("directory", "file")
                raise RunDirError(f"{entry} is a {found}; the run keeps a {wanted} there: move it away, then run "
                                  "the command again")

    def write_record(self, record: dict, resumed: bool) -> None:
        """A new run's record, or a resumed run's new step count (the only setting a resume may change)."""
        if resumed:
            saved = self.read_config()
            if saved["config"].get("steps") == record["config"]["steps"]:
                return
            record = {**saved, "config": {**saved["config"], "steps": record["config"]["steps"]}}
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.config_file, record, indent=2, sort_keys=True)
