"""Every path the project uses, as pathlib constants off the repository root.

The root is the working directory's repository when run from a checkout (so an installed
package still writes data/, runs/ and reports/ where the user is), overridable with the
PROOFGPT_ROOT environment variable.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _find_root() -> Path:
    if os.environ.get("PROOFGPT_ROOT"):
        return Path(os.environ["PROOFGPT_ROOT"]).resolve()
    # a source checkout: the package sits directly under the repository root
    if (PACKAGE_DIR.parent / "configs").is_dir():
        return PACKAGE_DIR.parent
    return Path.cwd()


ROOT = _find_root()
DATA_DIR = ROOT / "data"
CONFIGS_DIR = ROOT / "configs"
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"
RUNS_DIR = ROOT / "runs"

CORPUS = DATA_DIR / "training.txt"  # the plan's file: ours (generated) or the user's own
TRAIN = DATA_DIR / "train.txt"
VAL = DATA_DIR / "val.txt"


def meta_path(corpus: Path) -> Path:
    """data/training.txt -> data/training.meta.jsonl (the generator's per-certificate sidecar)."""
    corpus = Path(corpus)
    return corpus.with_name(corpus.stem + ".meta.jsonl")


def manifest_path(corpus: Path) -> Path:
    """data/training.txt -> data/training.manifest.json (who wrote the file, with its sha256)."""
    corpus = Path(corpus)
    return corpus.with_name(corpus.stem + ".manifest.json")


def run_dir(run_name: str) -> Path:
    return RUNS_DIR / run_name


def resolve_run(name_or_path: str) -> Path:
    """`--run` as the commands take it: a bare name means runs/<name>, anything path-like is a path
    (`~` expanded, as the shell does not in `--run=~/x`).

    >>> resolve_run("cpu") == RUNS_DIR / "cpu", resolve_run("./x") == Path("./x")
    (True, True)
    """
    if os.sep in name_or_path or name_or_path.startswith((".", "~")):
        return Path(name_or_path).expanduser()
    return run_dir(name_or_path)
