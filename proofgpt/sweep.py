"""Sweeps: one run and one report per point of a grid (or list) of profiles and overrides, compared.

    python -m proofgpt sweep NAME --profile cpu -g model.dropout=0,0.1 -g train.label_smoothing=0,0.1
    python -m proofgpt sweep NAME --points points.yaml [--only 04] [--no-html]

A grid is the cartesian product of its `-g key=v1,v2,...` axes (`-g profile=cpu,smoke` varies the
profile); a points file is a YAML mapping {point name: {profile: ..., section.key: value, ...}}.
Point <p> trains into runs/NAME/<p>/ and reports (report.run_report: the notebooks, summary.md/json)
into reports/NAME/<p>/. Every point is resolved by config.load_profile before anything runs, so a
bad grid costs one line and no kernel. A point whose summary.json lists the notebooks asked for
is finished and skipped, so a stopped sweep resumes where it stopped (a half-trained run resumes
from its ckpt/last.pt: notebook 04's rule). Then reports/NAME/comparison.md/.json (the headline
numbers and the diagnosis per point) and comparison.ipynb/.html: notebooks/sweep_comparison.ipynb
executed by papermill, which adds the val curves overlaid.

The trade-off: points run one after another, each in fresh kernels (no parallelism on a 2-core
machine, and every point proves its notebooks run on their own).
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import yaml

from proofgpt import paths
from proofgpt.config import load_profile, to_dict
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, atomic_write_text
from proofgpt.report import ReportError, execute, notebooks, run_report
from proofgpt.workbook import read_sweep, sweep_rows

COMPARISON = "sweep_comparison.ipynb"  # in notebooks/: a template like the five, run by papermill


def parse_grid(specs: list) -> dict:
    """-g texts -> {key: [value texts]}: ["model.dropout=0,0.1"] -> {"model.dropout": ["0", "0.1"]}."""
    grid = {}
    for spec in specs:
        key, eq, values = spec.partition("=")
        key = key.strip()
        values = [v.strip() for v in values.split(",")]
        if not eq or not key:
            raise UserError(f"-g {spec!r}: expected key=v1,v2,..., e.g. -g model.dropout=0,0.1")
        if not all(values):
            raise UserError(f"-g {spec!r}: an empty value; list values separated by commas")
        if key in grid:
            raise UserError(f"-g {spec!r}: {key} is already an axis of the grid")
        grid[key] = values
    return grid


def grid_points(profile: str, grid: dict) -> dict:
    """Cartesian product -> {point name: (profile, {key: value text})}, names from what varies.

    grid_points("cpu", {"model.dropout": ["0", "0.1"]}) ->
    {"dropout=0": ("cpu", {"model.dropout": "0"}), "dropout=0.1": ("cpu", {"model.dropout": "0.1"})}
    """
    if not grid:
        return {}
    varied = [k for k in grid if len(grid[k]) > 1] or list(grid)
    leaves = [k.split(".")[-1] for k in varied]
    short = {k: (leaf if leaves.count(leaf) == 1 else k) for k, leaf in zip(varied, leaves)}
    points = {}
    for combo in itertools.product(*grid.values()):
        point = dict(zip(grid, combo))
        name = ",".join(point[k] if k == "profile" else f"{short[k]}={point[k]}" for k in varied)
        points[name] = (point.pop("profile", profile), point)
    return points


def read_points(path, profile: str) -> dict:
    """A YAML mapping {name: {profile?, section.key: value, ...}} -> {name: (profile, overrides)}."""
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(d, dict) or not all(isinstance(v, dict) or v is None for v in d.values()):
        raise UserError(f"{path}: expected a mapping of point names to overrides, e.g. 'small: {{model.d_model: 96}}'")
    points = {}
    for name, overrides in d.items():
        overrides = dict(overrides or {})
        points[str(name)] = (str(overrides.pop("profile", profile)), overrides)
    return points


def resolve(points: dict) -> dict:
    """Check every point now: {name: (profile, overrides typed as the config has them)}; UserError naming the point."""
    if not points:
        raise UserError("empty sweep: give -g key=v1,v2 axes or --points FILE")
    out = {}
    for name, (profile, overrides) in points.items():
        if not name or "/" in name or name.startswith("."):
            raise UserError(f"sweep point {name!r}: not a usable directory name")
        try:
            cfg = load_profile(profile, [f"{k}={v}" for k, v in overrides.items()])
        except UserError as e:
            raise UserError(f"sweep point {name!r}: {e}") from None
        flat = to_dict(cfg)
        out[name] = (profile, {k: flat[k.split(".")[0]][k.split(".", 1)[1]] for k in overrides}, flat)
    return out


def comparison_markdown(name: str, rows: list) -> str:
    """The comparison table: one row per point."""
    cols = list(rows[0]) if rows else []
    lines = [f"# sweep `{name}`", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join("n/a" if r[c] is None else f"{r[c]:.4g}" if isinstance(r[c], float)
                                       else str(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def run_sweep(name: str, points: dict, seed=0, only=None, html_export=True, timeout_s=None, progress=False,
              log=print) -> list:
    """Run (or skip, when finished) every point, then write the comparison; -> its rows."""
    if not name or "/" in name or name.startswith("."):
        raise UserError(f"sweep name {name!r}: a plain name, e.g. dropout (reports/<name>/, runs/<name>/)")
    resolved = resolve(points)
    sweep_dir = paths.REPORTS_DIR / name
    wanted = {nb.stem for nb in notebooks() if not only or nb.name[:2] in only}
    atomic_write_json(sweep_dir / "sweep.json", {"name": name, "points": [  # a list: the order of the grid
        {"point": p, "profile": profile, "overrides": overrides} for p, (profile, overrides, _) in resolved.items()]})
    for i, (point, (profile, overrides, flat)) in enumerate(resolved.items(), 1):
        done = _read_summary(sweep_dir / point / "summary.json")
        if done and wanted <= set(done.get("notebook_runtime_s", {})):
            if done.get("config") not in (None, json.loads(json.dumps(flat))):
                raise UserError(f"{sweep_dir / point}: finished with another config; use another sweep name "
                                f"or delete that directory")
            log(f"sweep {name}: {i}/{len(resolved)} {point}: finished, skipped")
            continue
        log(f"sweep {name}: {i}/{len(resolved)} {point} (profile {profile}, {overrides or 'no overrides'})")
        run_report(profile, str(paths.RUNS_DIR / name / point), seed, overrides, timeout_s=timeout_s,
                   html_export=html_export, only=only, log=log, out_dir=sweep_dir / point, progress=progress)
    rows = sweep_rows(read_sweep(sweep_dir))
    atomic_write_json(sweep_dir / "comparison.json", rows)
    atomic_write_text(sweep_dir / "comparison.md", comparison_markdown(name, rows))
    execute(paths.NOTEBOOKS_DIR / COMPARISON, sweep_dir / "comparison.ipynb", {"sweep_dir": str(sweep_dir)},
            flat["report"]["kernel_name"], timeout_s, html_export, progress)
    log(f"sweep {name}: {sweep_dir / 'comparison.md'}")
    return rows


def _read_summary(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt sweep", description="One run and one report per point of a grid "
                                 "of overrides and/or profiles, resumable, then a comparison (reports/NAME/comparison.md, "
                                 ".ipynb, .html).", epilog="example: proofgpt sweep reg --profile cpu "
                                 "-g model.dropout=0,0.1 -g train.label_smoothing=0,0.1")
    ap.add_argument("name", help="the sweep's name: runs/NAME/<point>/, reports/NAME/<point>/")
    ap.add_argument("--profile", default="cpu", help="the points' profile unless an axis or point sets one (default cpu)")
    ap.add_argument("-g", "--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="an axis of the grid (section.key or profile); repeat for a cartesian product")
    ap.add_argument("--points", metavar="FILE", help="a YAML mapping {point name: {profile?, section.key: value}} instead of -g")
    ap.add_argument("--seed", type=int, default=0, help="the notebooks' seed (default 0)")
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers to run per point, e.g. 04 (default: all)")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: each profile's)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML exports")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a TTY)")
    args = ap.parse_args(argv)
    if args.points and args.grid:
        raise UserError("give -g axes or --points FILE, not both")
    points = read_points(args.points, args.profile) if args.points else grid_points(args.profile, parse_grid(args.grid))
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    try:
        rows = run_sweep(args.name, points, args.seed, only, not args.no_html, args.timeout,
                         progress=not args.no_progress and sys.stderr.isatty())
    except ReportError as e:
        print(f"proofgpt: error: {e}", file=sys.stderr)
        return 1
    print(comparison_markdown(args.name, rows))
    return 0
