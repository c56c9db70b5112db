"""Bad-input battery: every CLI command that reads input, fed what users really have.

One table, one row per (command, input): `python -m proofgpt ...` runs as a subprocess with
PROOFGPT_ROOT and the working directory in a temp folder (configs copied, notebooks linked), and
every path is given explicitly, so nothing touches the repository's data/, runs/ or reports/.
Each row expects one of:
  error   exit != 0, stderr's last line is the only `proofgpt: error: ...` line and names the
          file/key and what is wrong (`says`), no traceback;
  warn    exit 0, a `proofgpt: warning:` naming the file, and the same outputs as the clean file
          (CRLF, BOM: normalised, not refused);
  reject  exit 1 from `check`, with FILE:LINE of the bad certificate (a verdict, not an error);
  ok      exit 0, no traceback, plus the row's own check of its outputs.
`guard` files are written with sentinel content first and must be unchanged after a failed run
("no file it was about to replace is lost"). An unwritable output directory is a path under a
regular file (`afile/out`): the tests run as root, where chmod stops nothing.

The runs go through a pool of (at most 4) workers at module scope, so the ~100 subprocesses
(~25 of them import torch) take ~35 s on 2 idle cores; the 100 MB single-line file and the tiny
checkpoint (smoke profile, 2 steps, ctx 128) are made once. At the end: a hypothesis fuzz of the
term parser and the checker on random bytes decoded with errors="replace".
"""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from proofgpt.check import check_certificate, check_corpus
from proofgpt.certificate import split_blocks
from proofgpt.checkpoint import payload_sha256
from proofgpt.generate import generate_corpus
from proofgpt.terms import ParseError, parse_term

REPO = Path(__file__).resolve().parents[1]
HUGE_BYTES = 100_000_000
CTX = 128  # the tiny checkpoint's context
TIMEOUT_S = 180  # per command: a hang fails its row instead of the session

_blocks = split_blocks(generate_corpus(seed=0, n_chars=6000)[0])[:6]
GOOD = "\n\n".join(b.text for b in _blocks) + "\n"
HALF = "\n\n".join(b.text for b in _blocks[:3])
HALF = HALF[: len(HALF) - len(_blocks[2].text) // 2]  # the third certificate cut in half, mid-line
HALF_LINE = HALF.count("\n") + 1  # where `check` must point: the line cut in half

INPUTS = {  # name -> file content (the 100 MB line is written separately, once)
    "clean": GOOD.encode(),
    "empty": b"",
    "whitespace": b"  \n\t\n\n   \n",
    "no-T": b"hello world\nthis is a shopping list, not a corpus\n",
    "half": HALF.encode(),
    "crlf": GOOD.replace("\n", "\r\n").encode(),
    "bom": b"\xef\xbb\xbf" + GOOD.encode(),
    "bad-utf8": GOOD.encode()[:300] + b"\xff\xc3(" + GOOD.encode()[300:],
    "nul": GOOD.encode()[:300] + b"\x00" + GOOD.encode()[300:],
}
# what the error line says for each refused input (besides the file's name)
SAYS = {"empty": "file is empty", "whitespace": "only whitespace", "no-T": "no '@T'", "bad-utf8": "invalid UTF-8",
        "nul": "NUL byte", "huge": "a line of", "missing": "no such file", "dir": "is a directory"}


@dataclass
class Case:
    id: str
    argv: list  # after `python -m proofgpt`; {case} {in} {run} {afile} {root} are filled in
    expect: str = "error"  # error | warn | ok | reject
    says: tuple = ()  # substrings of the error line
    input: str | None = None  # an INPUTS name, "huge", "missing" or "dir" -> {case}/input.txt
    guard: tuple = ()  # files that must survive a failed run unchanged (relative to {case})
    files: dict = field(default_factory=dict)  # extra files to write into {case}
    copy_run: bool = False  # give the case its own copy of the checkpoint's run dir at {case}/run
    needs_run: bool = False
    same_as: str | None = None  # warn: outputs equal to this (clean) row's
    check: object = None  # ok: fn(result) with its own asserts
    setup: object = None  # fn(case dir, checkpoint run dir) that prepares what files cannot (links, FIFOs, checkpoints)
    xfail: str | None = None


def _lossless(r):
    out = [b.text for f in ("train.txt", "val.txt") for b in split_blocks((r.dir / "out" / f).read_text())]
    assert Counter(out) == Counter(b.text for b in split_blocks(HALF))


def _n_tptp(n):
    def check(r):
        assert len(list((r.dir / "out").glob("*.p"))) == n

    return check


READERS = {  # command -> (argv, files its failure must leave alone)
    "stats": (["data", "stats", "{in}"], ()),
    "check": (["check", "{in}"], ()),
    "split": (["data", "split", "--input", "{in}", "--out-dir", "{case}/out"], ("out/train.txt", "out/val.txt", "out/split.json")),
    "tptp": (["data", "export-tptp", "{in}", "--out", "{case}/out"], ("out/left_cancel.p",)),
    "prepare": (["data", "prepare", "--corpus", "{in}"], ("train.txt", "val.txt", "prepare.json")),
}
HALF_OK = {  # a certificate cut in half is data, not a read error: each command does its job on it
    "stats": lambda r: ": 3 certificates, " in r.stdout.splitlines()[0],
    "split": _lossless,
    "tptp": _n_tptp(sum(v.verified for v in check_corpus(split_blocks(HALF)).verdicts)),
    "prepare": lambda r: "3 certificates (user)" in r.stdout,
}

CASES = []
for cmd, (argv, guard) in READERS.items():
    for name in ["clean", "empty", "whitespace", "no-T", "half", "crlf", "bom", "bad-utf8", "nul", "huge", "missing", "dir"]:
        if cmd == "prepare" and name == "missing":
            continue  # by design: an absent corpus is generated (3.68M chars), the `make data` path
        c = Case(f"{cmd}-{name}", argv, input=name)
        if name in ("clean", "half"):
            c.expect, c.check = "ok", HALF_OK.get(cmd) if name == "half" else None
            if cmd == "check" and name == "half":
                c.expect = "reject"
        elif name in ("crlf", "bom"):
            c.expect, c.same_as = "warn", f"{cmd}-clean"
        else:
            c.says, c.guard = ("input.txt", SAYS[name]), guard
        CASES.append(c)

TRAIN = ["train", "--profile", "smoke", "--run", "{case}/run", "--no-progress"]
TRAIN_DATA = TRAIN + ["data.generate_chars=0", "data.path={in}"]
RUN_FILES = ("run/config.json", "run/metrics.jsonl")
BAD_YAML = {"unknown-key": "train:\n  lrr: 0.1\n", "wrong-type": "train:\n  lr: fast\n", "bad-yaml": "train: [1, 2\n"}
YAML_SAYS = {"unknown-key": ("train.lrr", "unknown key", "did you mean 'lr'"), "wrong-type": ("train.lr", "expected float"),
             "bad-yaml": ("invalid YAML",)}
SAMPLE = ["sample", "--run", "{run}"]
EVALUATE = ["evaluate", "--run", "{case}/run", "--n-theorems", "1", "--k", "1", "--n-unconditional", "0"]
REPORT = ["report", "--profile", "smoke", "--no-html"]

CASES += [
    # data generate: bad --chars, unwritable --out, a user's file in the way
    Case("generate-chars-zero", ["data", "generate", "--chars", "0", "--out", "{case}/training.txt"], says=("--chars", "positive")),
    Case("generate-chars-text", ["data", "generate", "--chars", "lots", "--out", "{case}/training.txt"], says=("--chars", "'lots'")),
    Case("generate-unwritable-out", ["data", "generate", "--chars", "2000", "--out", "{afile}/out/training.txt"],
         says=("afile", "not a directory")),
    Case("generate-out-is-dir", ["data", "generate", "--chars", "2000", "--out", "{case}"], says=("is a directory",)),
    Case("generate-user-file", ["data", "generate", "--chars", "2000", "--out", "{case}/training.txt"],
         says=("training.txt", "not written by this generator", "--force"), guard=("training.txt",)),
    # outputs that cannot be written
    Case("split-unwritable-out", ["data", "split", "--input", "{in}", "--out-dir", "{afile}/out"], input="clean",
         says=("afile/out", "cannot write")),
    Case("tptp-unwritable-out", ["data", "export-tptp", "{in}", "--out", "{afile}/out"], input="clean",
         says=("afile", "not a directory")),
    Case("prepare-unwritable-corpus", ["data", "prepare", "--corpus", "{afile}/training.txt", "--chars", "2000"],
         says=("afile", "not a directory")),
    Case("train-unwritable-run", ["train", "--profile", "smoke", "--run", "{afile}/run", "data.generate_chars=0", "data.path={in}"],
         input="clean", says=("afile/run", "cannot write")),
    # train on a bad corpus (data.path), and on a bad config
    *[Case(f"train-{name}", TRAIN_DATA, input=name, says=("input.txt", "no such corpus" if name == "missing" else SAYS[name]))
      for name in ("empty", "bad-utf8", "huge", "missing", "dir")],
    Case("train-bad-data-keeps-metrics", TRAIN_DATA, input="empty", says=("input.txt", "file is empty"), guard=RUN_FILES,
         files={"run/proofgpt-run.json": "{}\n"}),
    Case("train-unknown-key", TRAIN + ["train.lrr=1e-3"], says=("train.lrr", "unknown key", "did you mean 'lr'"), guard=RUN_FILES),
    Case("train-wrong-type", TRAIN + ["train.lr=fast"], says=("train.lr", "expected float"), guard=RUN_FILES),
    *[Case(f"train-profile-{kind}", ["train", "--profile", "{case}/bad.yaml", "--run", "{case}/run"], files={"bad.yaml": text},
           says=("bad.yaml",) + YAML_SAYS[kind], guard=RUN_FILES) for kind, text in BAD_YAML.items()],
    Case("train-profile-missing", ["train", "--profile", "{case}/nope.yaml", "--run", "{case}/run"], says=("nope.yaml", "no such profile")),
    # sampling requests a model cannot serve
    Case("sample-top-p-zero", SAMPLE + ["--top-p", "0"], needs_run=True, says=("--top-p", "(0, 1]")),
    Case("sample-top-p-negative", SAMPLE + ["--top-p", "-0.5"], needs_run=True, says=("--top-p", "-0.5")),
    Case("sample-temperature-negative", SAMPLE + ["--temperature", "-0.5"], needs_run=True, says=("--temperature", "-0.5")),
    Case("sample-max-tokens-over-ctx", SAMPLE + ["--max-tokens", str(CTX + 1)], needs_run=True, says=(f"--max-tokens {CTX + 1}", f"ctx {CTX}")),
    Case("sample-missing-run", ["sample", "--run", "{case}/nope"], says=("nope", "no such run directory")),
    Case("sample-corrupt-ckpt", ["sample", "--ckpt", "{case}/bad.pt"], files={"bad.pt": "not a checkpoint\n"},
         says=("bad.pt", "corrupt checkpoint")),
    # the run's own split (generated into it), not the repository's data/val.txt, which this root lacks
    Case("sample-theorem-reads-the-runs-split", SAMPLE + ["--theorem", "0"], needs_run=True,
         says=("{root}/ckpt-run/data/val.txt: theorem 0's prompt", "fills the model's ctx 128")),
    Case("evaluate-top-p-zero", EVALUATE + ["--top-p", "0"], needs_run=True, copy_run=True, says=("--top-p",), guard=("run/eval.json",)),
    Case("evaluate-temperature-negative", EVALUATE + ["--temperature", "-1"], needs_run=True, copy_run=True, says=("--temperature",),
         guard=("run/eval.json",)),
    Case("evaluate-max-tokens-over-ctx", EVALUATE + ["--max-tokens", str(CTX + 1)], needs_run=True, copy_run=True,
         says=("--max-tokens", f"ctx {CTX}"), guard=("run/eval.json",)),
    Case("evaluate-missing-run", ["evaluate", "--run", "{case}/nope"], says=("nope", "no such run directory")),
    # report: papermill parameters of the wrong type, refused before any kernel starts
    *[Case(f"report-{name}", REPORT + ["--run", name, "-p", param], says=says, guard=("{root}/reports/smoke/" + name + "/summary.md",))
      for name, param, says in [
          ("seed-text", "seed=abc", ("'seed'", "expected int", "'abc'")),
          ("seed-float", "seed=1.5", ("'seed'", "expected int", "1.5")),
          ("overrides-not-dict", "overrides=3", ("'overrides'", "expected dict")),
          ("unknown-param", "sed=1", ("'sed'", "unknown", "did you mean 'seed'")),
          ("override-wrong-type", "train.lr=fast", ("train.lr", "expected float")),
          ("missing-data-path", "data_path={case}/nope.txt", ("nope.txt", "no such corpus")),
      ]],
    Case("report-empty-data-path", REPORT + ["--run", "empty-data", "-p", "data_path={case}/empty.txt"],
         files={"empty.txt": ""}, says=("empty.txt", "file is empty"), guard=("{root}/reports/smoke/empty-data/summary.md",)),
]


def _checkpoint_with(change, name="bad.pt"):
    """setup: {case}/<name>, the tiny run's last.pt with change(meta) applied and a valid checksum."""
    def setup(d, run):
        payload = torch.load(run / "ckpt" / "last.pt", weights_only=True)
        meta = json.loads(payload["meta_json"])
        change(meta)
        payload["meta_json"] = json.dumps(meta)
        payload["sha256"] = payload_sha256(payload)
        torch.save(payload, d / name)
    return setup


def _flip_a_byte(d, run):
    data = bytearray((run / "ckpt" / "last.pt").read_bytes())
    data[len(data) // 2] ^= 0x10  # the middle of the file: tensor bytes
    (d / "flipped.pt").write_bytes(bytes(data))


def _break_best(d, run):
    (best,) = (d / "run" / "ckpt").glob("best-*.pt")
    best.write_bytes(b"not a checkpoint any more\n")  # its .json sidecar still calls it the best


def _prepend_to_metrics(d, run):
    m = d / "run" / "metrics.jsonl"
    m.write_text("[1, 2]\n" + m.read_text())


def _warned_and_sampled(r):
    assert "proofgpt: warning: skipped" in r.stderr and "trying last.pt" in r.stderr, r.stderr
    assert r.stdout.startswith("@T"), r.stdout


FOREIGN = ("run/config.json", "run/metrics.jsonl", "run/ckpt/last.pt", "run/data/training.txt")  # a user's own files
SMOKE_TINY = ["train.max_steps=1", "data.generate_chars=8000", f"model.ctx={CTX}"]
CASES += [
    # 1. never take over a user's directory, corpus or split
    Case("train-not-a-run-dir", TRAIN + SMOKE_TINY, guard=FOREIGN, says=("run", "not a proofgpt run directory", "--force")),
    Case("train-not-a-run-dir-force", TRAIN + SMOKE_TINY + ["--force"], guard=FOREIGN,
         says=("run/config.json", "not written by proofgpt", "--force never replaces")),
    Case("train-run-is-cwd", ["train", "--profile", "smoke", "--run", ".", *SMOKE_TINY], says=(".: not a proofgpt run directory",)),
    Case("train-run-is-parent", ["train", "--profile", "smoke", "--run", "..", *SMOKE_TINY],
         says=("..: not a proofgpt run directory",)),
    Case("train-generated-corpus-over-users", TRAIN + SMOKE_TINY, files={"run/proofgpt-run.json": "{}\n"},
         guard=("run/data/training.txt",), says=("run/data/training.txt", "not written by proofgpt")),
    Case("prepare-users-split", ["data", "prepare", "--corpus", "{in}"], input="clean", guard=("train.txt", "val.txt", "split.json"),
         says=("train.txt", "not written by proofgpt", "refusing to replace")),
    Case("split-users-split", ["data", "split", "--input", "{in}", "--out-dir", "{case}/out"], input="clean",
         guard=("out/train.txt",), says=("out/train.txt", "not written by proofgpt")),
    # 7. one line for every bad number, device, prompt and checkpoint
    Case("sample-temperature-tiny", SAMPLE + ["--temperature", "1e-40"], needs_run=True, says=("--temperature", ">= 0.001")),
    Case("sample-temperature-nan", SAMPLE + ["--temperature", "nan"], needs_run=True, says=("--temperature", "nan")),
    Case("sample-seed-huge", SAMPLE + ["--seed", str(2**63)], needs_run=True, says=("--seed", "[0, 2**63)")),
    Case("evaluate-seed-huge", EVALUATE + ["--seed", str(2**64)], needs_run=True, copy_run=True, says=("--seed", "[0, 2**63)"),
         guard=("run/eval.json",)),
    Case("train-seed-huge", TRAIN + [f"train.seed={2**63}"], says=("train.seed", "[0, 2**63)"), guard=RUN_FILES),
    Case("train-seed-negative", TRAIN + ["data.split_seed=-1"], says=("data.split_seed", "[0, 2**63)"), guard=RUN_FILES),
    Case("train-sample-temperature-tiny", TRAIN + ["sample.temperature=1e-40"], says=("sample.temperature", ">= 0.001"),
         guard=RUN_FILES),
    Case("train-weight-decay-inf", TRAIN + ["train.weight_decay=inf"], says=("train.weight_decay", "finite"), guard=RUN_FILES),
    Case("train-threads-huge", TRAIN + ["train.threads=100000"], says=("train.threads", "must be in [0, "), guard=RUN_FILES),
    Case("train-chars-huge", TRAIN + [f"data.generate_chars={10**20}"], says=("data.generate_chars", "1e+09"), guard=RUN_FILES),
    Case("sample-device-foo", SAMPLE + ["--device", "foo"], needs_run=True, says=("'foo'", "expected cpu, cuda")),
    *([] if torch.cuda.is_available() else
      [Case("sample-device-cuda", SAMPLE + ["--device", "cuda"], needs_run=True, says=("'cuda'", "no CUDA device"))]),
    Case("evaluate-device-foo", EVALUATE + ["--device", "foo"], needs_run=True, copy_run=True, says=("'foo'",),
         guard=("run/eval.json",)),
    Case("sample-prompt-not-utf8", SAMPLE + ["--prompt", b"@T \xff"], needs_run=True, says=("--prompt", "not valid UTF-8")),
    Case("sample-ckpt-symlink-to-text", ["sample", "--ckpt", "{case}/link.pt"], files={"notes.txt": "hello\n"},
         setup=lambda d, run: (d / "link.pt").symlink_to(d / "notes.txt"), says=("link.pt", "corrupt checkpoint")),
    Case("sample-ckpt-n-heads-3", ["sample", "--ckpt", "{case}/bad.pt"], needs_run=True,
         setup=_checkpoint_with(lambda m: m["config"]["model"].update(n_heads=3)), says=("bad.pt", "model.n_heads=3")),
    Case("sample-ckpt-ctx-negative", ["sample", "--ckpt", "{case}/bad.pt"], needs_run=True,
         setup=_checkpoint_with(lambda m: m["config"]["model"].update(ctx=-5)), says=("bad.pt", "model.ctx=-5")),
    Case("sample-ckpt-no-state", ["sample", "--ckpt", "{case}/bad.pt"], needs_run=True,
         setup=_checkpoint_with(lambda m: m.pop("state")), says=("bad.pt", "malformed checkpoint metadata", "'state'")),
    Case("sample-run-bad-best", ["sample", "--run", "{case}/run", "--max-tokens", "8"], needs_run=True, copy_run=True,
         setup=_break_best, expect="ok", check=_warned_and_sampled),
    Case("evaluate-run-bad-best", EVALUATE, needs_run=True, copy_run=True, setup=_break_best, expect="ok",
         check=lambda r: "trying last.pt" in r.stderr and (r.dir / "run" / "eval.json").is_file()),
    Case("evaluate-metrics-not-object", EVALUATE, needs_run=True, copy_run=True, setup=_prepend_to_metrics,
         says=("metrics.jsonl:1", "expected a JSON object"), guard=("run/eval.json",)),
    # 9. a flipped byte, a FIFO, an unbounded corpus
    Case("sample-ckpt-flipped-byte", ["sample", "--ckpt", "{case}/flipped.pt"], needs_run=True, setup=_flip_a_byte,
         says=("flipped.pt", "corrupt checkpoint")),
    Case("sample-ckpt-fifo", ["sample", "--ckpt", "{case}/fifo.pt"], setup=lambda d, run: os.mkfifo(d / "fifo.pt"),
         says=("fifo.pt", "not a regular file")),
    Case("generate-chars-huge", ["data", "generate", "--chars", str(10**20), "--out", "{case}/training.txt"],
         says=("--chars", "at most 1e+09")),
    Case("prepare-chars-huge", ["data", "prepare", "--corpus", "{case}/training.txt", "--chars", str(10**20)],
         says=("--chars", "at most 1e+09")),
]


@dataclass
class Result:
    dir: Path
    rc: int
    stdout: str
    stderr: str
    guards: dict  # path -> (sentinel, content after or None)


def _make_checkpoint(root: Path, env: dict) -> Path | None:
    """A 2-step smoke run (ctx 128, 8k-char corpus, no validity monitor): seconds."""
    run = root / "ckpt-run"
    cmd = [sys.executable, "-m", "proofgpt", "train", "--profile", "smoke", "--run", str(run), "--no-progress",
           "train.max_steps=2", "eval.monitor_theorems=0", "data.generate_chars=8000", f"model.ctx={CTX}"]
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    return run if r.returncode == 0 and (run / "ckpt" / "last.pt").exists() else None


def _run_case(c: Case, tmp: Path, env: dict, run: Path | None) -> Result:
    d = tmp / "cases" / c.id
    d.mkdir(parents=True)
    inp = d / "input.txt"
    if c.input in INPUTS:
        inp.symlink_to(tmp / "inputs" / c.input)  # outputs written next to the input land in {case}
    elif c.input == "huge":
        inp.symlink_to(tmp / "inputs" / "huge")
    elif c.input == "dir":
        inp.mkdir()
    for name, text in c.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    if c.copy_run:
        shutil.copytree(run, d / "run", symlinks=True)
    if c.setup:
        c.setup(d, run)
    fill = dict(case=d, root=tmp / "root", afile=tmp / "afile", run=run, **{"in": inp})
    guards = {}
    for g in c.guard:
        p = d / g.format(**fill)
        p.parent.mkdir(parents=True, exist_ok=True)
        guards[p] = f"sentinel: {c.id} must not replace {p.name}\n"
        p.write_text(guards[p])
    argv = [a.format(**fill) if isinstance(a, str) else a for a in c.argv]  # bytes: an argument that is not UTF-8
    try:
        r = subprocess.run([sys.executable, "-m", "proofgpt", *argv], cwd=tmp / "root", env=env,
                           capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, str(e.stdout or ""), f"(timed out after {TIMEOUT_S} s)"
    after = {p: (s, p.read_text() if p.is_file() else None) for p, s in guards.items()}
    return Result(d, rc, out, err, after)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    (tmp / "inputs").mkdir()
    for name, data in INPUTS.items():
        (tmp / "inputs" / name).write_bytes(data)
    with open(tmp / "inputs" / "huge", "wb") as f:  # one 100 MB line that starts like a certificate
        f.write(b"@T huge : a = ")
        f.write(b"a * " * ((HUGE_BYTES - 16) // 4))
        f.write(b"a\n")
    (tmp / "afile").write_text("a regular file: nothing can be created under it\n")
    root = tmp / "root"  # PROOFGPT_ROOT: configs copied, notebooks linked, data/ runs/ reports/ empty
    root.mkdir()
    shutil.copytree(REPO / "configs", root / "configs")
    (root / "notebooks").symlink_to(REPO / "notebooks")
    env = {**os.environ, "PROOFGPT_ROOT": str(root), "PYTHONPATH": str(REPO)}
    env.pop("PROOFGPT_TRACEBACK", None)
    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        ckpt = pool.submit(_make_checkpoint, root, env)
        futures = {c.id: pool.submit(_run_case, c, tmp, env, None) for c in CASES if not c.needs_run}
        run = ckpt.result()
        if run is not None:
            futures.update({c.id: pool.submit(_run_case, c, tmp, env, run) for c in CASES if c.needs_run})
        res = {k: f.result() for k, f in futures.items()}
    res["_root"] = root
    return res


def _normalised(r: Result) -> dict:
    """stdout and every output file of a row, its own paths and timings taken out (to compare rows)."""
    keep = lambda s: "\n".join(line for line in s.replace(str(r.dir), "<case>").splitlines() if "chars/s" not in line)  # noqa: E731
    files = {str(p.relative_to(r.dir)): keep(p.read_text()) for p in sorted(r.dir.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.suffix != ".json"}
    return {"stdout": keep(r.stdout), **files}


@pytest.mark.slow  # the module fixture: ~100 subprocesses, ~40 s of CPU on 2 cores
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
                                  for c in CASES])
def test_bad_input(case, results):
    assert case.id in results, "`train --profile smoke` could not make the tiny checkpoint these rows need"
    r = results[case.id]
    fill = dict(case=r.dir, root=results["_root"])
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("proofgpt: error:")]
    if case.expect == "error":
        assert r.rc not in (0, -1), (r.rc, r.stdout[-500:], r.stderr)
        assert lines and lines[-1].startswith("proofgpt: error: ") and errors == lines[-1:], r.stderr
        for s in case.says:
            assert s.format(**fill) in lines[-1], (s, lines[-1])
    else:
        assert not errors, r.stderr
        assert r.rc == (1 if case.expect == "reject" else 0), (r.rc, r.stderr)
    if case.expect == "reject":
        assert f"{r.dir}/input.txt:{HALF_LINE}: " in r.stdout, r.stdout
    if case.expect == "warn":
        assert any(line.startswith("proofgpt: warning: ") and f"{r.dir}/input.txt" in line for line in lines), r.stderr
        assert _normalised(r) == _normalised(results[case.same_as])
    if case.check:
        case.check(r)
    for p, (sentinel, now) in r.guards.items():
        assert now == sentinel, f"{p} was {'removed' if now is None else 'replaced'} by a failed run"


# --------------------------------------------------------------------------- 5. a reader that leaves early


def _read_one_line_then_leave(argv, tmp_path):
    """Run `python -m proofgpt argv | head -1`: read the first line, close the pipe, wait."""
    env = {**os.environ, "PROOFGPT_ROOT": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("PROOFGPT_TRACEBACK", None)
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    p = subprocess.Popen([sys.executable, "-m", "proofgpt", *argv], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=TIMEOUT_S)
    return first, p.returncode, err


def test_broken_pipe_prepare_still_writes_its_outputs_and_exits_1(tmp_path):
    corpus = tmp_path / "d" / "training.txt"
    first, rc, err = _read_one_line_then_leave(["data", "prepare", "--corpus", str(corpus), "--chars", "5000"], tmp_path)
    assert first.startswith("generating") and "Traceback" not in err, err
    assert rc == 1 and "broken pipe" in err, (rc, err)
    for name in ("training.txt", "train.txt", "val.txt", "split.json", "prepare.json"):
        assert (corpus.parent / name).is_file(), name


@pytest.mark.slow
def test_broken_pipe_train_finishes_the_run_and_exits_1(tmp_path):
    run = tmp_path / "run"
    first, rc, err = _read_one_line_then_leave(["train", "--profile", "smoke", "--run", str(run), "--no-progress",
                                                "train.max_steps=12", "eval.monitor_theorems=0",
                                                "data.generate_chars=8000", f"model.ctx={CTX}"], tmp_path)
    assert first.startswith("profile smoke") and "Traceback" not in err, err
    assert rc == 1 and "broken pipe" in err, (rc, err)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kind"] == "stop" and rows[-1]["step"] == 12  # not cut short where the reader left


# --------------------------------------------------------------------------- fuzz: never a crash

PIECES = [b"@T t : a = a\n", b"@C G : group\n", b"@C a b : G\n", b"@P mul_one : x * 1 = x\n", b"@G a * 1 = a\n",
          b"rw [mul_one]\n", b"rfl\n", b"qed\n", b"(", b")", b" * ", b"\xe2\x81\xbb\xc2\xb9", b"\xe2\x8a\x93", b"\xff",
          b"\xc3", b"\x00", b"\r\n", b"\n\n"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.lists(st.sampled_from(PIECES) | st.binary(max_size=8), max_size=20).map(b"".join))
def test_random_bytes_parser_and_checker_never_crash(raw):
    """Whatever bytes a user has, decoded as the tools would (errors="replace"): a ParseError or a term, and a verdict."""
    text = raw.decode("utf-8", errors="replace")
    for s in [text, *text.split("\n")]:
        try:
            parse_term(s)
        except ParseError as e:
            assert 1 <= e.col <= len(s) + 1
    for trust in (False, True):
        v = check_certificate(text, trust_premises=trust)
        assert isinstance(v.verified, bool) and isinstance(v.structural, bool)
        if not v.verified:
            assert isinstance(v.line, int) and 1 <= v.line <= text.count("\n") + 1 and v.reason
            assert v.kind != "internal", v.reason
