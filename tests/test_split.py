"""Split: boundaries, 90/10 accuracy, strata, statement groups, seeds, losslessness, bad input.

Run: .venv/bin/python -m pytest -q tests/test_split.py
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofgpt.errors import UserError
from proofgpt.certificate import split_blocks, statement_class_of, statement_of, structure_of
from proofgpt.split import split_corpus

ROOT = Path(__file__).resolve().parents[1]

from _certs import LEFT_CANCEL  # the format's own example

STRUCTURES = {"group": "G", "monoid": "M", "ring": "R", "lattice": "L"}
FAMILIES = ["catalog", "walk", "lemma", "hypothesis"]


def make_corpus(n: int, seed: int = 0, n_statements: int | None = None):
    """n certificate-shaped blocks (not proofs a checker accepts) with a matching meta sidecar.

    Lengths vary 150-1500 bytes; n_statements < n makes statement groups of several members.
    """
    rng = np.random.default_rng(seed)
    n_statements = n_statements or n
    texts, meta = [], []
    for i in range(n):
        structure = list(STRUCTURES)[rng.integers(len(STRUCTURES))]
        family = FAMILIES[rng.integers(len(FAMILIES))]
        k = int(rng.integers(n_statements))
        steps = int(rng.integers(1, 25))
        lhs = " * ".join(["a⁻¹" if (k >> j) & 1 else "a" for j in range(11)] + [f"c{k}"])  # k's bits: one class per k
        lines = [f"@T t{i} : {lhs} = c{k}", f"@C S : {structure}", f"@C a c{k} : S", "@P one_mul : 1 * x = x", f"@G {lhs} = c{k}"]
        for _ in range(steps - 1):
            lines += ["rw [one_mul]", f"@G {lhs} = c{k}"]
        lines += ["rfl", "qed"]
        text = "\n".join(lines)
        texts.append(text)
        meta.append(dict(name=f"t{i}", structure=structure, family=family, steps=steps, n_bytes=len(text.encode()), term_size=3, log2p=[-1.0]))
    return texts, meta


def write_corpus(dir_: Path, texts, meta=None, name="training.txt") -> Path:
    path = dir_ / name
    path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    if meta is not None:
        (dir_ / name.replace(".txt", ".meta.jsonl")).write_text("".join(json.dumps(m) + "\n" for m in meta), encoding="utf-8")
    return path


def read_side(out: Path, side: str) -> list[str]:
    return [b.text for b in split_blocks((out / f"{side}.txt").read_text(encoding="utf-8"))]


def run_cli(*args, cwd=None):
    env = dict(os.environ)
    env.pop("PROOFGPT_TRACEBACK", None)  # we want the one-line error, not a traceback
    return subprocess.run([sys.executable, "-m", "proofgpt", *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env)


# --- helpers ---------------------------------------------------------------------------------


def test_statement_and_structure_of():
    assert statement_of(LEFT_CANCEL) == "a * b = a * c → b = c"
    assert structure_of(LEFT_CANCEL) == "group"
    assert structure_of("@T x : a = a\n@C a : L\n@C L : lattice\n@G a = a\nrfl\nqed") == "lattice"
    assert structure_of("@T x : a = a\nrfl\nqed") == "?"


# --- the split itself ------------------------------------------------------------------------


def test_split_with_meta(tmp_path):
    texts, meta = make_corpus(1500, seed=1, n_statements=1200)
    path = write_corpus(tmp_path, texts, meta)
    out = tmp_path / "out"
    m = split_corpus(path, out, seed=0)
    train, val = read_side(out, "train"), read_side(out, "val")
    # lossless, whole certificates, each side in input order
    assert Counter(train + val) == Counter(texts)
    assert train == [t for t in texts if t in set(train)]
    # 90/10 by characters within ±0.5 % of the target
    n_train, n_val = len((out / "train.txt").read_text()), len((out / "val.txt").read_text())
    assert abs(n_val / (n_train + n_val) / 0.1 - 1) < 0.005
    assert abs(m["val_frac_actual"] / 0.1 - 1) < 0.005
    # one statement class on one side (the same text in two structures is two classes)
    side = {}
    for t in train:
        side.setdefault(statement_class_of(t), set()).add("train")
    for t in val:
        side.setdefault(statement_class_of(t), set()).add("val")
    assert all(len(s) == 1 for s in side.values())
    # manifest
    assert m["stratified_by"] == "structure×family" and m["meta"] is True
    assert m["n_certificates"] == {"train": len(train), "val": len(val)}
    assert m["n_bytes"] == {"train": (out / "train.txt").stat().st_size, "val": (out / "val.txt").stat().st_size}
    assert json.loads((out / "split.json").read_text()) == m
    assert len(m["strata"]) == len(STRUCTURES) * len(FAMILIES)
    for s, c in m["strata"].items():  # every stratum gets a fair share in val (~10 %)
        assert 0.03 < c["val"] / (c["train"] + c["val"]) < 0.2, (s, c)
    # meta sidecars follow their certificates
    for sidename, side_texts in (("train", train), ("val", val)):
        rows = [json.loads(line) for line in (out / f"{sidename}.meta.jsonl").read_text().splitlines()]
        assert [r["name"] for r in rows] == [t.split(" : ")[0][3:] for t in side_texts]


def test_split_without_meta_uses_length_strata(tmp_path):
    texts, _ = make_corpus(600, seed=2)
    path = write_corpus(tmp_path, texts)
    m = split_corpus(path, tmp_path / "out", seed=3, val_frac=0.2)
    assert m["stratified_by"] == "length" and m["meta"] is False
    assert all(s.startswith("len ") for s in m["strata"])
    assert abs(m["val_frac_actual"] / 0.2 - 1) < 0.005
    assert not (tmp_path / "out" / "train.meta.jsonl").exists()


def test_mismatched_meta_is_ignored_with_warning(tmp_path):
    texts, meta = make_corpus(50, seed=4)
    path = write_corpus(tmp_path, texts, meta[:-1])
    with pytest.warns(UserWarning, match="does not match"):
        m = split_corpus(path, tmp_path / "out")
    assert m["stratified_by"] == "length"


def test_seeded(tmp_path):
    texts, meta = make_corpus(300, seed=5)
    path = write_corpus(tmp_path, texts, meta)
    split_corpus(path, tmp_path / "a", seed=7)
    split_corpus(path, tmp_path / "b", seed=7)
    split_corpus(path, tmp_path / "c", seed=8)
    assert (tmp_path / "a" / "val.txt").read_bytes() == (tmp_path / "b" / "val.txt").read_bytes()
    assert (tmp_path / "a" / "val.txt").read_bytes() != (tmp_path / "c" / "val.txt").read_bytes()


def test_user_corpus_handwritten(tmp_path):
    """A user's small file without meta: the spec's example, renamed variants of it (one statement
    class: they stay together) and 12 other statements."""
    variants = [LEFT_CANCEL.replace("left_cancel", f"lc{i}").replace(" c", f" c{i}").replace("(a * c)", f"(a * c{i})") for i in range(3)]
    others = [LEFT_CANCEL.replace("left_cancel", f"o{i}").replace("@T o" + str(i) + " : a * b = a * c → b = c",
                                                                  f"@T o{i} : a * b = a * c → b = c" + " * 1" * (i + 1)) for i in range(12)]
    path = write_corpus(tmp_path, variants + [LEFT_CANCEL, LEFT_CANCEL] + others)
    m = split_corpus(path, tmp_path, seed=0)
    train, val = read_side(tmp_path, "train"), read_side(tmp_path, "val")
    assert Counter(train + val) == Counter(variants + [LEFT_CANCEL, LEFT_CANCEL] + others)
    assert len(val) >= 1 and len(train) >= 1
    group = set(variants + [LEFT_CANCEL])
    assert group <= set(train) or group <= set(val)  # renamed copies of one statement stay together
    assert m["n_groups"] == 13  # the statement and its renamings + 12 others


@given(
    st.lists(st.tuples(st.integers(0, 8), st.integers(0, 30)), min_size=2, max_size=40),
    st.integers(0, 3),
    st.sampled_from([0.1, 0.25, 0.5]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_lossless_property(tmp_path, spec, seed, val_frac):
    """For any corpus: train + val is the input's multiset; both sides non-empty; groups intact."""
    texts = [f"@T t{i} : {' * '.join(['s'] * (k + 1))} = b\n@C S : group\n@C s b : S\n" + "rw [x]\n@G s = s\n" * n + "rfl\nqed"
             for i, (k, n) in enumerate(spec)]  # one statement class per k
    if len({statement_of(t) for t in texts}) < 2:
        texts.append("@T other : o = o\n@G o = o\nrfl\nqed")
    out = tmp_path / f"out{seed}"
    path = write_corpus(tmp_path, texts)
    m = split_corpus(path, out, seed=seed, val_frac=val_frac)
    train, val = read_side(out, "train"), read_side(out, "val")
    assert Counter(train + val) == Counter(texts)
    assert train and val
    assert not {statement_of(t) for t in train} & {statement_of(t) for t in val}
    assert m["n_certificates"]["train"] + m["n_certificates"]["val"] == len(texts)


# --- bad input through the CLI: one line on stderr, exit 2, nothing written -----------------


BAD_INPUTS = {
    "missing": None,
    "empty": b"",
    "whitespace": b"  \n\n\t\n",
    "no_theorem": b"hello world\n\nnot a certificate\n",
    "invalid_utf8": b"@T a : x = x\n@G x = x\nrfl\nqed\n\n@T b : \xff\xfe = y\n",
    "nul_bytes": b"@T a : x = x\x00\nrfl\nqed\n",
    "directory": "dir",
    "one_statement": b"@T a : x = x\n@G x = x\nrfl\nqed\n\n@T b : x = x\n@G x = x\nrfl\nqed\n",
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_cli(tmp_path, case):
    path = tmp_path / "in.txt"
    content = BAD_INPUTS[case]
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    r = run_cli("data", "split", "--input", str(path), "--out-dir", str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proofgpt: error: "), r.stderr
    assert "Traceback" not in r.stderr and str(path) in lines[0]
    assert not out.exists()
    if case == "invalid_utf8":
        assert "byte offset %d" % content.index(b"\xff") in lines[0]


def test_unwritable_out_dir_cli(tmp_path):
    texts, _ = make_corpus(20)
    path = write_corpus(tmp_path, texts)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = run_cli("data", "split", "--input", str(path), "--out-dir", str(blocker / "sub"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_failed_write_leaves_old_split_intact(tmp_path, monkeypatch):
    texts, _ = make_corpus(40)
    path = write_corpus(tmp_path, texts)
    out = tmp_path / "out"
    split_corpus(path, out, seed=0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def failing_replace(src, dst, _real=os.replace):
        calls.append(dst)
        if len(calls) == 1:  # the first rename of a new split fails: nothing may change
            raise OSError(28, "No space left on device")
        return _real(src, dst)

    monkeypatch.setattr("proofgpt.split.os.replace", failing_replace)
    with pytest.raises(UserError, match="cannot write"):
        split_corpus(path, out, seed=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temp files, no mix


def test_input_equal_to_output_refused(tmp_path):
    texts, _ = make_corpus(20)
    path = write_corpus(tmp_path, texts, name="train.txt")
    with pytest.raises(UserError, match="overwritten"):
        split_corpus(path, tmp_path)


def test_crlf_and_bom_normalised_with_warning(tmp_path):
    texts, _ = make_corpus(30)
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n\n".join(texts) + "\n").replace("\n", "\r\n").encode())
    r = run_cli("data", "split", "--input", str(path), "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "byte-order mark" in r.stderr and "CRLF" in r.stderr
    train, val = read_side(tmp_path / "out", "train"), read_side(tmp_path / "out", "val")
    assert Counter(train + val) == Counter(texts)
    assert b"\r" not in (tmp_path / "out" / "train.txt").read_bytes()
    assert "val share" in r.stdout


# --- lemma citations and the real generator --------------------------------------------------


def test_lemma_citation_keeps_cited_certificate_on_the_same_side(tmp_path):
    """d cites b (`@P b : ...`, b proved earlier in the file): they share a side, b first."""
    texts, _ = make_corpus(200, seed=9)
    cited = texts[10]
    name = cited.split(" : ")[0][3:]
    citing = f"@T cites : q = q\n@C S : group\n@C q : S\n@P {name} : {statement_of(cited)}\n@G q = q\nrfl\nqed"
    texts.append(citing)
    path = write_corpus(tmp_path, texts)
    for seed in range(4):
        m = split_corpus(path, tmp_path / "out", seed=seed, val_frac=0.5)
        train, val = read_side(tmp_path / "out", "train"), read_side(tmp_path / "out", "val")
        side = train if citing in train else val
        assert cited in side and side.index(cited) < side.index(citing)
        assert m["n_lemma_links"] == 1


@pytest.mark.slow
def test_generated_corpus_each_side_verifies_on_its_own(tmp_path):
    from proofgpt import check, generate
    path = tmp_path / "training.txt"
    generate.write_corpus(path, seed=0, n_chars=60_000, progress=False)
    m = split_corpus(path, tmp_path / "out", seed=0)
    assert m["stratified_by"] == "structure×family"
    assert abs(m["val_frac_actual"] / 0.1 - 1) < 0.005
    whole = check.check_corpus(split_blocks(path.read_text(encoding="utf-8"))).counts["verified"]
    train = check.check_corpus(split_blocks((tmp_path / "out" / "train.txt").read_text(encoding="utf-8"))).counts["verified"]
    val = check.check_corpus(split_blocks((tmp_path / "out" / "val.txt").read_text(encoding="utf-8"))).counts["verified"]
    assert train + val == whole  # no certificate lost a lemma it cites to the other side
