"""The generator: determinism, 100 % verified, no degenerate or repeated statement classes,
difficulty defaults, families/structures/operators covered, meta schema, entropy bound, lengths
for ctx-512 packing, and the write/refuse-to-overwrite behaviour.

Run: .venv/bin/python -m pytest -q tests/test_generate.py
"""

import json
import os
import statistics
import subprocess
import sys

import pytest
from _certs import small_blocks, small_corpus

from proofgpt import paths
from proofgpt.algebra import CATALOG, STRUCTURES, statement_class
from proofgpt.certificate import statement_class_of
from proofgpt.check import check_corpus
from proofgpt.errors import UserError
from proofgpt.generate import (GENERATOR_VERSION, MAX_BYTES, Chooser, Knobs, entropy_bound_bpb, generate_corpus, is_ours, main,
                               write_corpus)
from proofgpt.pack import pack_proofs
from proofgpt.terms import parse_equation

META_KEYS = {"name", "structure", "family", "steps", "rewrites", "premises", "distractors", "hyps", "n_bytes", "term_size", "concl_size",
             "log2p"}


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, meta_a = generate_corpus(seed=3, n_chars=20_000)
    b, meta_b = generate_corpus(seed=3, n_chars=20_000)
    c, _ = generate_corpus(seed=4, n_chars=20_000)
    assert a == b and meta_a == meta_b
    assert a != c


def test_bytes_do_not_depend_on_python_hash_seed():
    code = ("import hashlib; from proofgpt.generate import generate_corpus; "
            "print(hashlib.sha256(generate_corpus(5, 15_000)[0].encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                              capture_output=True, text=True, check=True).stdout for seed in (1, 2)}
    assert len(digests) == 1


def test_generated_corpus_verifies_100_percent():
    report = check_corpus(small_blocks())
    assert report.counts["verified"] == report.counts["total"] > 200


def test_text_format_and_size():
    text, meta = small_corpus()
    assert text.endswith("qed\n") and "\n\n\n" not in text
    assert 100_000 <= len(text) < 100_000 + 2_100
    assert len(text.split("\n\n")) == len(meta) == len(small_blocks())


def test_meta_schema_matches_each_certificate():
    text, meta = small_corpus()
    for m, block in zip(meta, text.split("\n\n")):
        block = block.rstrip("\n")
        assert set(m) == META_KEYS
        assert m["n_bytes"] == len(block.encode("utf-8"))
        assert block.startswith(f"@T {m['name']} : ")
        assert f"@C {STRUCTURES[m['structure']].type_name} : {m['structure']}" in block
        lines = block.split("\n")
        assert m["steps"] == sum(1 for ln in lines if ln.startswith(("rw [", "symm", "rfl")))
        assert m["rewrites"] == sum(1 for ln in lines if ln.startswith("rw [")) >= 1
        assert m["premises"] == [ln[3:].split(" : ")[0] for ln in lines if ln.startswith("@P ")]
        assert m["hyps"] == lines[0].count("→")
        assert m["family"] in ("catalog", "walk", "lemma", "hypothesis")
        assert isinstance(m["term_size"], int) and m["term_size"] >= max(m["concl_size"]) >= 1
        assert m["log2p"] and all(isinstance(p, float) and p < 0 for p in m["log2p"])
        # names carry no bits of their own: the family word, or the catalog fact proved
        assert m["name"] == {"walk": "walk", "lemma": "lemma", "hypothesis": "hyp"}.get(m["family"], m["name"])
        assert m["family"] != "catalog" or m["name"] in CATALOG


def test_coverage_of_families_structures_operators():
    text, meta = small_corpus()
    assert {m["family"] for m in meta} == {"catalog", "walk", "lemma", "hypothesis"}
    assert {m["structure"] for m in meta} == set(STRUCTURES)
    for sym in ("⁻¹", "ᶜ", "⊓", "⊔", "⊤", "⊥", "←", "→", "symm", " - -", "@P h2 : "):
        assert sym in text, sym
    # a lemma certificate cites a catalog fact or an earlier walk (`@P walk : ...`, checked by statement)
    lemma_texts = [b for b, m in zip(text.split("\n\n"), meta) if m["family"] == "lemma"]
    assert any("\n@P walk : " in t for t in lemma_texts)
    assert any(f"\n@P {name} : " in t for t in lemma_texts for name in CATALOG)


def test_no_degenerate_or_repeated_statements():
    text, meta = small_corpus()
    keys = [statement_class_of(b) for b in text.split("\n\n")]
    assert len(set(keys)) == len(keys)  # one certificate per statement class
    for block in text.split("\n\n"):
        eqs = [parse_equation(s) for s in block.split("\n", 1)[0].partition(" : ")[2].split("→")]
        concl = eqs[-1]
        assert concl[0] != concl[1], block  # no t = t
        assert all(statement_class(None, [], h) != statement_class(None, [], concl) for h in eqs[:-1]), block


def test_difficulty_defaults():
    """Defaults: median >= 4 rewrites, a tail past 12 (to ~20 on the full corpus), >= 97 % in 512 bytes."""
    _, meta = small_corpus(0, 300_000)
    rewrites = [m["rewrites"] for m in meta]
    assert statistics.median(rewrites) >= 4 and max(rewrites) >= 12
    assert sum(m["n_bytes"] <= MAX_BYTES for m in meta) / len(meta) >= 0.97
    assert {m["hyps"] for m in meta} == {0, 1, 2, 3}


def test_knobs_change_difficulty():
    _, easy = generate_corpus(1, 20_000, knobs=Knobs(steps=(1, 2), ops=(0, 1), growth=2))
    _, hard = generate_corpus(1, 20_000, knobs=Knobs(steps=(6, 24), steps_decay=0.9, ops=(1, 2)))
    assert max(m["rewrites"] for m in easy) <= 2 + 3 * 2  # a hyp theorem: up to 3 segments of 2, plus its hypothesis steps
    assert statistics.median(m["rewrites"] for m in hard) > statistics.median(m["rewrites"] for m in easy)


def test_too_few_distinct_theorems_is_a_user_error(monkeypatch):
    """Walks of at most 0 steps are no theorems; catalog instances would still come, so they are cut off."""
    from proofgpt import generate
    monkeypatch.setattr(generate, "MAX_FAILED_DRAWS", 300)
    monkeypatch.setattr(generate, "gen_catalog", lambda *a: None)
    with pytest.raises(UserError, match="cannot produce that many distinct theorems"):
        generate_corpus(0, 10_000, knobs=Knobs(steps=(0, 0)))


def test_lengths_suit_ctx_512_packing():
    _, meta = small_corpus()
    n_bytes = sorted(m["n_bytes"] for m in meta)
    assert 300 <= statistics.median(n_bytes) <= MAX_BYTES  # walks run until their budget stops them
    assert sum(n > MAX_BYTES for n in n_bytes) / len(n_bytes) < 0.03  # only the long tail needs more than a row
    assert max(n_bytes) > MAX_BYTES  # ... and it exists (12-24 step proofs)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="generator v3 trades the short fillers for >= 4-step proofs: "
                   "~87 % at ctx 512, ~91 % at 1024 (issue: corpus v2)")
def test_packing_efficiency_at_ctx_512_on_generated_data():
    """A property of our length distribution (issue 3 asks >= 97 % at ctx 512): short fillers exist
    for the gaps that longer certificates leave. Measured on 3.68M chars: see pack.py / README."""
    text, meta = small_corpus(0, 300_000)
    texts = [t.rstrip("\n") for t in text.split("\n\n")]
    assert len(texts) == len(meta)
    stats = pack_proofs(texts, ctx=512).stats
    assert stats["efficiency"] >= 0.97, stats
    assert stats["n_split"] == sum(m["n_bytes"] > MAX_BYTES for m in meta)  # certificate + "\n\n" <= 513 otherwise
    assert pack_proofs(texts, ctx=1024).stats["efficiency"] >= 0.97


def test_entropy_bound_known_answer():
    # two certificates of 4 bytes each; choices of probability 1/2, 1/8 and 1/4: 1 + 3 + 2 = 6 bits / 8 bytes
    assert entropy_bound_bpb([{"log2p": [-1.0, -3.0]}, {"log2p": [-2.0]}], 8) == 0.75
    text, meta = small_corpus()
    bound = entropy_bound_bpb(meta, len(text.encode("utf-8")))
    assert 0.01 < bound < 1.0


def test_chooser_logs_every_kept_choice():
    ch = Chooser(0)
    ch.choice("abcd")
    ch.weighted("ab", (3, 1))
    ch.choice("a")  # a choice among one is certain: nothing logged
    assert ch.log2p[0] == -2.0 and ch.log2p[1] in (pytest.approx(-0.415, abs=1e-3), -2.0)
    assert len(ch.log2p) == 2
    assert ch.pick_until([1, 2, 3, 4], lambda v: v == 3) == 3 and ch.log2p[-1] >= -2.0
    assert ch.pick_until([1, 2], lambda v: False) is None


def test_write_corpus_and_manifest(tmp_path):
    out = tmp_path / "training.txt"
    manifest = write_corpus(out, seed=1, n_chars=8_000, progress=False)
    text = out.read_text(encoding="utf-8")
    meta = [json.loads(ln) for ln in paths.meta_path(out).read_text(encoding="utf-8").splitlines()]
    on_disk = json.loads(paths.manifest_path(out).read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(manifest))  # the knobs' tuples read back as lists
    assert set(manifest) == {"generator", "version", "seed", "chars", "sha256", "n_certificates", "entropy_bound_bpb", "knobs"}
    assert manifest["n_certificates"] == len(meta) == len(text.split("\n\n"))
    assert manifest["seed"] == 1 and manifest["chars"] == 8_000 and manifest["version"] == GENERATOR_VERSION
    assert manifest["entropy_bound_bpb"] == pytest.approx(entropy_bound_bpb(meta, len(text.encode())))
    assert is_ours(out)


def test_main_refuses_to_overwrite_a_users_file(tmp_path, capsys):
    out = tmp_path / "training.txt"
    out.write_text("@T mine : a = a\n@C G : group\n@C a : G\n@G a = a\nrfl\nqed\n", encoding="utf-8")
    with pytest.raises(UserError, match="not written by this generator"):
        main(["--chars", "3000", "--out", str(out)])
    assert out.read_text(encoding="utf-8").startswith("@T mine")
    assert main(["--chars", "3000", "--out", str(out), "--force"]) == 0
    assert "entropy bound:" in capsys.readouterr().out
    first = out.read_bytes()
    assert main(["--chars", "3000", "--out", str(out), "--seed", "0"]) == 0  # ours now: regenerated freely
    assert out.read_bytes() == first
    out.write_text(out.read_text(encoding="utf-8") + "\n@T edited : a = a\n", encoding="utf-8")  # user edit
    assert not is_ours(out)
    with pytest.raises(UserError):
        main(["--chars", "3000", "--out", str(out)])
    with pytest.raises(UserError):
        main(["--chars", "0", "--out", str(out)])


def _cert(statement, structure="group"):
    return f"@T t : {statement}\n@C G : {structure}\n@G x = x\nrfl\nqed"


@pytest.mark.parametrize("a, b", [
    ("a * 1 = a", "b = b * 1"),  # renamed constant, sides swapped
    ("a * b⁻¹ = 1", "1 = x * y⁻¹"),  # pattern variables count as identifiers too
    ("a * b = c → c = d → a = d", "s = r → r = p * q → s = p"),  # hypotheses reordered and swapped
    ("a * b = c → b * a = c → a = d", "b * a = c → a * b = c → a = d"),  # tied hypotheses
])
def test_statement_class_identifies_renamed_and_swapped(a, b):
    assert statement_class_of(_cert(a)) == statement_class_of(_cert(b))


@pytest.mark.parametrize("a, b", [
    ("a * 1 = a", "1 * a = a"),
    ("a * b = b * a", "a * b = a * b"),
    ("a * b = c → c = d → a = d", "a * b = c → c = d → b = d"),  # the conclusion's link to the hypotheses
    ("a * b = a → a = b", "a * b = a → b = a * a"),
])
def test_statement_class_separates_different_statements(a, b):
    assert statement_class_of(_cert(a)) != statement_class_of(_cert(b))
    assert statement_class_of(_cert(a)) != statement_class_of(_cert(a, "monoid"))  # same structure only


@pytest.mark.parametrize("crash_at", ["corpus", "manifest"])
def test_a_crash_while_rewriting_a_generated_corpus_never_makes_it_look_like_the_users(tmp_path, monkeypatch, crash_at):
    """write_corpus names the file it replaces in the manifest first: killed before or after the
    corpus lands, the file on disk is still ours (and due to be regenerated), never the user's."""
    from proofgpt import generate
    from proofgpt.certificate import corpus_owner
    from proofgpt.data import _why_regenerate

    corpus = tmp_path / "training.txt"
    generate.write_corpus(corpus, seed=0, n_chars=2000, progress=False)
    real = generate.atomic_write_text if crash_at == "corpus" else generate.atomic_write_json
    calls = []

    def killed(path, *a):
        calls.append(path)
        if (crash_at == "corpus" and path == corpus) or (crash_at == "manifest" and len(calls) == 2):
            raise KeyboardInterrupt  # the process dies here
        return real(path, *a)

    monkeypatch.setattr(generate, "atomic_write_text" if crash_at == "corpus" else "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        generate.write_corpus(corpus, seed=1, n_chars=2000, progress=False)
    assert corpus_owner(corpus) == "ours"
    assert _why_regenerate(corpus, 1, 2000) == "ours, but its last write was interrupted"
