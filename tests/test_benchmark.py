"""The benchmark `make data` writes: held-out test sets, class-disjoint splits, withheld facts,
determinism, and what the blind search baseline can and cannot do on generated data.

Run: PYTHONPATH=$PWD .venv/bin/python -m pytest -q tests/test_benchmark.py
"""

import functools
import json
import shutil

import pytest

from proofgpt.algebra import CATALOG
from proofgpt.baseline import prove
from proofgpt.certificate import read_meta, read_texts, statement_class_of, statement_of, structure_of
from proofgpt.check import check_corpus
from proofgpt.certificate import read_corpus
from proofgpt.data import TEST_SETS, _current_test_sets, prepare
from proofgpt.generate import WITHHELD_FACTS, Knobs, generate_corpus, is_instance
from proofgpt.terms import parse_equation

SIDES = ("train", "val") + TEST_SETS
N_CHARS, N_TEST = 40_000, 30


@functools.lru_cache(maxsize=2)
def _prepared(out):
    return prepare(seed=0, n_chars=N_CHARS, corpus=out / "training.txt", progress=False, test_certs=N_TEST)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    _prepared(out)
    return out


def _texts(data, name):
    return read_texts(data / f"{name}.txt")


def _withheld():
    return [f for name in WITHHELD_FACTS for f in CATALOG[name]]


def test_test_sets_exist_verify_and_have_manifest(data):
    import json
    manifest = json.loads((data / "test.json").read_text())
    assert set(manifest["sets"]) == set(TEST_SETS) and manifest["withheld_facts"] == list(WITHHELD_FACTS)
    for name in TEST_SETS:
        report = check_corpus(read_corpus(data / f"{name}.txt"))
        assert report.counts["verified"] == report.counts["total"] == manifest["sets"][name]["n_certificates"] > 0
        meta = read_meta(data / f"{name}.txt")
        assert len(meta) == report.counts["total"]
        assert all(("shortest" in m) == (name != "test-long") for m in meta)
    assert all("shortest" in m for m in read_meta(data / "val.txt"))
    assert len({s["seed"] for s in manifest["sets"].values()} | {0}) == 4  # each its own seed


def test_no_statement_class_shared_across_sets(data):
    classes = {}
    for name in SIDES:
        keys = [statement_class_of(t) for t in _texts(data, name)]
        assert name in ("train", "val") or len(set(keys)) == len(keys), name  # no duplicates within a test set
        for k in keys:
            classes.setdefault(k, set()).add(name)
    assert all(len(v) == 1 for v in classes.values()), [v for v in classes.values() if len(v) > 1][:3]


def test_withheld_facts_absent_from_train_and_val(data):
    withheld = _withheld()
    for name in ("train", "val"):
        for t in _texts(data, name):
            names = {ln[3:].split(" : ")[0] for ln in t.split("\n") if ln.startswith(("@T ", "@P "))}
            assert not names & set(WITHHELD_FACTS), t
            eqs = [parse_equation(e) for e in statement_of(t).split("→")]
            assert not any(is_instance(f, structure_of(t), eqs[:-1], eqs[-1]) for f in withheld), t
    # ... and test-facts is made of them: each certificate proves one or cites one
    for t in _texts(data, "test-facts"):
        names = {ln[3:].split(" : ")[0] for ln in t.split("\n") if ln.startswith(("@T ", "@P "))}
        assert names & set(WITHHELD_FACTS), t


def test_is_instance_known_answers():
    inv_inv, cancel = CATALOG["inv_inv"][0], CATALOG["mul_right_cancel"][0]
    a_b = parse_equation("b * c = (b * c)⁻¹⁻¹")
    assert is_instance(inv_inv, "group", [], a_b) and is_instance(inv_inv, "comm_group", [], a_b)
    assert not is_instance(inv_inv, "monoid", [], parse_equation("a = a * 1"))
    hyp = [parse_equation("c * a⁻¹ = b * a⁻¹")]
    assert is_instance(cancel, "group", hyp, parse_equation("b = c"))  # sides swapped, hypothesis too
    assert not is_instance(cancel, "group", hyp, parse_equation("b = a"))


def test_test_long_is_longer_than_every_train_proof(data):
    train = max(m["steps"] for m in read_meta(data / "train.txt"))
    long_ = read_meta(data / "test-long.txt")
    assert min(m["rewrites"] for m in long_) > train


def test_prepare_is_deterministic(data, tmp_path):
    """Same seed -> the same bytes in every file (prepare.json aside: it holds timings)."""
    prepare(seed=0, n_chars=N_CHARS, corpus=tmp_path / "training.txt", progress=False, test_certs=N_TEST)
    files = sorted(p.name for p in data.iterdir() if p.name != "prepare.json")
    assert files == sorted(p.name for p in tmp_path.iterdir() if p.name != "prepare.json")
    assert len(files) >= 15
    for name in files:
        if name == "split.json":  # names its input path
            continue
        assert (data / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_prepare_reuses_current_test_sets_and_detects_stale_ones(data, tmp_path, capsys):
    """A second `make data` keeps the held-out sets it would write again (same bytes, val's
    `shortest` restored after the split rewrote val's sidecar); sets made for another size, or a
    set or sidecar edited on disk, are not current (so `make data` would make them afresh)."""
    shutil.copytree(data, tmp_path, dirs_exist_ok=True)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir() if p.name.startswith("test")}
    r = prepare(seed=0, n_chars=N_CHARS, corpus=tmp_path / "training.txt", progress=False, test_certs=N_TEST)
    assert r["test_sets_reused"] and "reused" in capsys.readouterr().out
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir() if p.name.startswith("test")} == before
    assert (tmp_path / "val.meta.jsonl").read_bytes() == (data / "val.meta.jsonl").read_bytes()  # shortest restored
    assert all("shortest" in m for m in read_meta(tmp_path / "val.txt"))

    made_from = json.loads((tmp_path / "test.json").read_text())["made_from"]
    assert _current_test_sets(tmp_path, made_from) is not None
    assert _current_test_sets(tmp_path, {**made_from, "n_certs": N_TEST + 1}) is None  # another size
    meta = tmp_path / "test-long.meta.jsonl"
    saved = meta.read_bytes()
    meta.write_bytes(saved.replace(b'"steps": ', b'"steps": 1', 1))  # a sidecar edited on disk
    assert _current_test_sets(tmp_path, made_from) is None
    meta.write_bytes(saved)
    assert _current_test_sets(tmp_path, made_from) is not None
    (tmp_path / "test-facts.txt").write_text((tmp_path / "test-facts.txt").read_text()[:-200])  # a set edited on disk
    assert _current_test_sets(tmp_path, made_from) is None


def test_users_corpus_has_no_test_sets(tmp_path, capsys):
    corpus = tmp_path / "training.txt"
    corpus.write_text(generate_corpus(seed=3, n_chars=20_000)[0], encoding="utf-8")  # no manifest: the user's
    r = prepare(seed=0, corpus=corpus, progress=False)
    assert "test_sets" not in r and not any((tmp_path / f"{n}.txt").exists() for n in TEST_SETS)
    assert "held-out sets      none" in capsys.readouterr().out


def test_baseline_solves_every_short_theorem():
    """Theorems of one or two rewrites: the blind search must find every proof at the default budget."""
    text, meta = generate_corpus(seed=1, n_chars=15_000, knobs=Knobs(steps=(1, 2), steps_decay=0.0, hyps=(1, 1), long_frac=0))
    short = [t for t, m in zip(text.split("\n\n"), meta) if m["rewrites"] <= 2]
    assert len(short) >= 20
    assert all(prove(t, budget_s=60).found for t in short)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="generator v4 within 512 bytes: the blind search still proves ~all of test "
                   "(README, 'The data'); the issue asks <= ~70 %")
def test_baseline_cannot_saturate_test(data):
    texts = _texts(data, "test")
    found = sum(prove(t, budget_s=5).found for t in texts)
    assert found <= 0.7 * len(texts)
