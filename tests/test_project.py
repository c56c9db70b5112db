"""The project's own wiring: dependencies in step, CI runs the README's test command, CLI help."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ]", spec, maxsplit=1)[0].lower()


def test_environment_yml_lists_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(s): s for s in conda + pip if not s.startswith("-e")}
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    for spec in wanted:
        name = _name(spec)
        assert name in listed, f"environment.yml lacks {spec}"
        if name == "torch":
            assert listed[name] == "torch==2.13.0"  # the pinned CPU wheel, inside pyproject's range
        else:
            assert listed[name] == spec, f"environment.yml has {listed[name]!r}, pyproject.toml {spec!r}"
    assert set(listed) == {_name(s) for s in wanted} | {"python", "pip"}
    assert '-e ".[dev]"' in pip  # the package itself, with its dev extras


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]


def test_cli_help_lists_every_stage():
    out = subprocess.run([sys.executable, "-m", "proofgpt", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("data generate", "data split", "check", "train", "sample", "evaluate", "report", "bench"):
        assert cmd in out


def test_cli_unknown_command_is_one_line_error():
    r = subprocess.run([sys.executable, "-m", "proofgpt", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "proofgpt: error: unknown command 'frobnicate'"
    assert "Traceback" not in r.stderr
