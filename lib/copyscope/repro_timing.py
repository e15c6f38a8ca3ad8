"""Wall time of the whole study: `dvc repro` at a chosen scale in a fresh copy of the checkout, timed per stage.

    python -m copyscope.repro_timing smoke [--keep DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from copyscope.atomic import write_json
from copyscope.paths import repo_root

GIT = ["git", "-c", "user.name=copyscope", "-c", "user.email=copyscope@localhost", "-c", "init.defaultBranch=main"]
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def copy_checkout(src: Path, dst: Path, scale: str) -> Path:
    """Copy the checkout's tracked and untracked-but-not-ignored files to `dst`, set `scale`, commit it as a new
    git repository (DVC's stage cache and `dvc repro` need one). Data, models and the venv stay behind."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=src,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        if (src / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
    params = dst / "params.yaml"
    params.write_text(re.sub(r"(?m)^scale: \S+", f"scale: {scale}", params.read_text()))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", f"copy at scale {scale}"]):
        subprocess.run([*GIT, *args], cwd=dst, check=True, capture_output=True)
    return dst


def stage_group(stage: str) -> str:
    """`prepare@shapes` -> `prepare`; `train-mitigation` -> `train`; `replication` -> `replication`."""
    return stage.split("@")[0].split("-")[0]


def study_environment(root: Path) -> dict[str, str]:
    """The environment a stage in `root` needs: this Python's tools (dvc, papermill) first on PATH, `root`'s own
    library first on PYTHONPATH (the copy runs its own code, even where copyscope is installed editable from the
    caller's checkout, which may change meanwhile), and COPYSCOPE_ROOT pointing at `root`."""
    tools = Path(sys.executable).parent
    path = os.pathsep.join(filter(None, [str(root / "lib"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": path,
            "COPYSCOPE_ROOT": str(root)}


def timed_repro(root: Path) -> dict:
    """Run `dvc repro` in `root`, echoing its output, and time each stage from its 'Running stage' line to the
    next one (or the end). Raises CalledProcessError if the pipeline fails."""
    env = study_environment(root)
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with subprocess.Popen(["dvc", "repro"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            if match := STAGE_LINE.match(line):
                marks.append((match.group(1), time.perf_counter()))
    end = time.perf_counter()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, "dvc repro")
    stages = {name: round(nxt - t, 1) for (name, t), (_, nxt) in zip(marks, [*marks[1:], ("", end)])}
    groups: dict[str, float] = {}
    for name, seconds in stages.items():
        groups[stage_group(name)] = round(groups.get(stage_group(name), 0.0) + seconds, 1)
    return {"total_seconds": round(end - start, 1), "groups": groups, "stages": stages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope.repro_timing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scale", help="a scale named in params.yaml (smoke, default, full, gpu, sd)")
    parser.add_argument("--keep", type=Path, help="run in this (new or empty) folder and keep it")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="copyscope-timing-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        if any(work.iterdir()):
            parser.error(f"--keep folder {work} is not empty")
        copy_checkout(repo_root(), work, args.scale)
        timing = {"scale": args.scale, **timed_repro(work)}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.scale}: {timing['total_seconds']:.0f} s in all")
    for group, seconds in sorted(timing["groups"].items(), key=lambda kv: -kv[1]):
        print(f"  {group:<14} {seconds:8.1f} s")
    if args.json:
        write_json(args.json, timing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
