"""Run records: ``runs/<experiment>/<model>__<searcher>__s<seed>__<time>/``.

``config.json`` (resolved configuration, git SHA, versions), ``trials.jsonl`` (one evaluation per
line, appended, flushed and fsynced, each line with a checksum) and ``summary.json``. A killed run
resumes from its trials: `RunRecord.load_trials` returns what was recorded, detects a corrupted
line, and drops only a torn last line (a write that the kill interrupted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CorruptRecordError(RuntimeError):
    pass


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    import platform

    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _line_checksum(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


class RunConfigMismatch(ValueError):
    """A run directory holds a run with other settings (its config.json differs)."""

    def __init__(self, run_dir: Path, diff: list[str]):
        self.run_dir, self.diff = run_dir, diff
        super().__init__(f"{run_dir} holds a run with another configuration (differs in {diff}); "
                         "resume with the same settings or use a new run directory")


class RunRecord:
    """The files of one run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.trials_path = self.dir / "trials.jsonl"
        self._fh = None

    @staticmethod
    def new_dir(root: str | os.PathLike, experiment: str, model: str, searcher: str, seed: int) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return Path(root) / experiment / f"{model}__{searcher}__s{seed}__{stamp}"

    def write_config(self, config: dict[str, Any]) -> None:
        path = self.dir / "config.json"
        full = {**config, "git_sha": git_sha(), "versions": versions()}
        if path.exists():
            old = json.loads(path.read_text())
            old_cmp = {k: v for k, v in old.items() if k not in ("git_sha", "versions", "created")}
            new_cmp = {k: v for k, v in json.loads(json.dumps(config, default=str)).items() if k != "created"}
            if old_cmp != new_cmp:
                diff = sorted(k for k in set(old_cmp) | set(new_cmp) if old_cmp.get(k) != new_cmp.get(k))
                raise RunConfigMismatch(self.dir, diff)
            return
        path.write_text(json.dumps({**full, "created": time.time()}, indent=1, default=str))

    def load_trials(self) -> list[dict[str, Any]]:
        if not self.trials_path.exists():
            return []
        raw = self.trials_path.read_bytes()
        lines = raw.split(b"\n")
        trials, good_bytes = [], 0
        for i, line in enumerate(lines):
            if not line.strip():
                good_bytes += len(line) + 1
                continue
            last = i == len(lines) - 1 or all(not x.strip() for x in lines[i + 1 :])
            try:
                d = json.loads(line)
                crc = d.pop("crc")
                if crc != _line_checksum(d):
                    raise ValueError("checksum mismatch")
            except (ValueError, KeyError) as e:
                if last and not raw.endswith(b"\n"):
                    log.warning("dropping a torn last line of %s (the run was killed mid-write)", self.trials_path)
                    with open(self.trials_path, "r+b") as fh:
                        fh.truncate(good_bytes)
                    break
                raise CorruptRecordError(
                    f"{self.trials_path} line {i + 1} is corrupted ({e}); fix or remove that line to resume"
                ) from e
            trials.append(d)
            good_bytes += len(line) + 1
        return trials

    def append_trial(self, trial: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.trials_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends
        d = json.loads(json.dumps(trial, default=float))
        d["crc"] = _line_checksum(d)
        self._fh.write(json.dumps(d) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write_summary(self, summary: dict[str, Any]) -> None:
        tmp = self.dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1, default=str))
        tmp.replace(self.dir / "summary.json")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
