"""Reading corpora, corpus statistics, and `data prepare` (generate or reuse, check, split, pack).

Run: .venv/bin/python -m pytest -q tests/test_data.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proofgpt.certificate import corpus_owner, read_corpus, read_text, split_blocks
from proofgpt.data import prepare
from proofgpt.stats import corpus_stats, histogram, tactic_kind, term_size
from proofgpt.errors import UserError

from _certs import COMPL, LEFT_CANCEL  # the format's own example, a one-step proof

ROOT = Path(__file__).resolve().parents[1]


SYMM = """@T one_eq : a = 1 * a
@C M : monoid
@C a : M
@P one_mul : 1 * x = x
@G a = 1 * a
symm
@G 1 * a = a
rw [one_mul]
@G a = a
rfl
qed"""


def run_cli(*args):
    env = dict(os.environ)
    env.pop("PROOFGPT_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "proofgpt", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def write(path: Path, texts) -> Path:
    path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    return path


# --- reading (read_text, split_blocks, read_corpus on real files) ---------------------------------


def test_split_blocks_lines_and_extra_blank_lines():
    blocks = split_blocks("\n" + LEFT_CANCEL + "\n\n\n\n" + COMPL + "\n")
    assert [b.line for b in blocks] == [2, 2 + 24 + 3]
    assert [b.text for b in blocks] == [LEFT_CANCEL, COMPL]


def test_read_text_normalises_bom_and_crlf(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbf" + (LEFT_CANCEL + "\n").replace("\n", "\r\n").encode())
    with pytest.warns(UserWarning) as record:
        text = read_text(path)
    assert text == LEFT_CANCEL + "\n"
    assert {"byte-order mark" in str(w.message) or "CRLF" in str(w.message) for w in record} == {True}
    assert len(record) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\n \n\t\n", "only whitespace"),
        (b"just prose\n\nmore prose\n", "no '@T'"),
        (b"@T a : x = x\n\xc3\x28\n", "invalid UTF-8 at byte offset 13"),
        (b"@T a : x = x\nrfl\x00\n", "NUL byte"),
    ],
)
def test_read_corpus_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as e:
        read_corpus(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_read_corpus_missing_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_corpus(tmp_path / "nope.txt")
    with pytest.raises(UserError, match="directory"):
        read_corpus(tmp_path)


# --- statistics ------------------------------------------------------------------------------


def test_term_size_and_tactic_kind():
    assert term_size("a⁻¹ * (b * c)") == 6
    assert term_size("- -a ⊔ ⊤") == 5  # -, -, a, ⊔, ⊤
    assert term_size("x12 + 0") == 3
    assert [tactic_kind(t) for t in ["rw [← one_mul b]", "rw [h1]", "symm", "rfl", "simp"]] == ["rw ←", "rw", "symm", "rfl", "other"]


def test_corpus_stats_known_answer_without_meta():
    """left_cancel: 1 @T, 2 @C, 4 @P, 8 @G, 8 tactics (4 rw, 3 rw ←, 1 rfl); largest goal side
    'a⁻¹ * (a * b)' has 6 nodes. compl_compl: 1 rw + rfl, 'aᶜᶜ' has 3 nodes. one_eq: symm."""
    s = corpus_stats(split_blocks("\n\n".join([LEFT_CANCEL, COMPL, SYMM]) + "\n"))
    assert s["n_certificates"] == 3
    assert s["markers"] == {"@T": 3, "@C": 6, "@P": 6, "@G": 13, "tactic": 13, "qed": 3}
    assert s["tactics"] == {"rw": 6, "rw ←": 3, "rfl": 3, "symm": 1}
    assert s["cert_steps"] == [8, 2, 3]
    assert s["cert_term_size"] == [6, 3, 3]
    assert s["by_structure"] == {"group": 1, "boolean_algebra": 1, "monoid": 1}
    assert s["by_family"] == {"unknown": 3} and s["labels_from"] == "text"
    assert s["cert_n_bytes"] == [len(t.encode()) for t in (LEFT_CANCEL, COMPL, SYMM)]
    assert s["length"]["max"] == len(LEFT_CANCEL.encode())
    assert sum(c for _, _, c in s["steps_hist"]) == 3
    assert s["byte_top"][0]["char"] == "' '"  # spaces are the commonest byte
    assert s["n_file_bytes"] == len(("\n\n".join([LEFT_CANCEL, COMPL, SYMM]) + "\n").encode())
    assert "entropy_bound_bpb" not in s


def test_corpus_stats_with_meta():
    texts = [LEFT_CANCEL, COMPL]
    meta = [
        dict(name="left_cancel", structure="group", family="hypothesis", steps=8, n_bytes=0, term_size=7, log2p=[-3.0, -5.0]),
        dict(name="compl_compl", structure="boolean_algebra", family="catalog", steps=2, n_bytes=0, term_size=3, log2p=[-2.0]),
    ]
    s = corpus_stats(texts, meta)
    assert s["labels_from"] == "meta"
    assert s["by_structure_family"] == {"group×hypothesis": 1, "boolean_algebra×catalog": 1}
    assert s["cert_term_size"] == [7, 3]  # from meta
    n_file = len(("\n\n".join(texts) + "\n").encode())
    assert s["entropy_bound_bpb"] == pytest.approx(10.0 / n_file)


def test_stats_cli(tmp_path):
    path = write(tmp_path / "c.txt", [LEFT_CANCEL, COMPL, SYMM])
    r = run_cli("data", "stats", str(path))
    assert r.returncode == 0, r.stderr
    for needle in ("3 certificates", "structure", "boolean_algebra", "length (bytes)", "steps", "#", "@G 13", "top bytes"):
        assert needle in r.stdout
    r = run_cli("data", "stats", str(path), "--json")
    assert json.loads(r.stdout)["markers"]["@P"] == 6
    r = run_cli("data", "stats", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


# --- prepare (needs the generator and checker) ------------------------------------------------


@pytest.mark.slow
def test_prepare_generates_then_reuses_then_regenerates(tmp_path, capsys):
    from proofgpt.io import sha256_file

    corpus = tmp_path / "training.txt"
    r = prepare(seed=0, n_chars=60_000, corpus=corpus, progress=False, test_certs=20)
    out = capsys.readouterr().out
    assert r["generated"] and r["owner"] == "ours"
    assert r["verified_frac"] == 1.0
    assert 0 < r["entropy_bound_bpb"] < 8
    assert set(r["packing"]) == {512, 1024}
    for p in r["packing"].values():  # close to what these lengths allow (a loose bound at 1024: see test_pack)
        assert p["efficiency_bound"] - 0.10 <= p["efficiency"] <= p["efficiency_bound"]
    assert abs(r["split"]["val_frac_actual"] / 0.1 - 1) < 0.05  # small corpus: a few dozen groups
    for f in ("training.txt", "training.meta.jsonl", "training.manifest.json", "train.txt", "val.txt", "split.json", "prepare.json"):
        assert (tmp_path / f).exists(), f
    assert "bits/byte" in out and "chars/s" in out and "packing ctx 512" in out and "verified" in out

    sha = sha256_file(corpus)
    mtime = corpus.stat().st_mtime_ns
    r = prepare(seed=0, n_chars=60_000, corpus=corpus, progress=False, test_certs=20)
    assert not r["generated"] and corpus.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert "reusing" in capsys.readouterr().out

    r = prepare(seed=1, n_chars=60_000, corpus=corpus, progress=False, test_certs=20)  # ours, other seed: regenerate
    assert r["generated"] and sha256_file(corpus) != sha


@pytest.mark.slow
def test_prepare_never_touches_user_data(tmp_path, capsys):

    corpus = write(tmp_path / "training.txt", [LEFT_CANCEL, COMPL, SYMM, LEFT_CANCEL.replace("left_cancel", "lc2").replace(" c", " d")])
    before = corpus.read_bytes()
    r = prepare(seed=0, n_chars=60_000, corpus=corpus, progress=False, test_certs=20)
    out = capsys.readouterr().out
    assert f"using your {corpus} (not generated by proofgpt)" in out
    assert corpus.read_bytes() == before and r["owner"] == "user"
    assert not (tmp_path / "training.manifest.json").exists()
    assert "steps_verified_frac" in r and "steps verified" in out
    assert "entropy bound      n/a" in out
    assert (tmp_path / "train.txt").exists() and (tmp_path / "val.txt").exists()


@pytest.mark.slow
def test_prepare_edited_generated_file_is_the_users(tmp_path, capsys):
    """A generated file the user edited no longer matches its manifest: it is theirs now."""
    from proofgpt.generate import write_corpus

    corpus = tmp_path / "training.txt"
    write_corpus(corpus, seed=0, n_chars=20_000, progress=False)
    assert corpus_owner(corpus) == "ours"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "\n" + SYMM + "\n", encoding="utf-8")
    assert corpus_owner(corpus) == "user"
    assert corpus_owner(tmp_path / "absent.txt") == "absent"


def test_histogram_integer_bins_and_tail():

    assert histogram([1, 2, 2, 9], n_bins=2) == [(1, 5, 3), (6, 10, 1)]
    assert histogram([5, 5]) == [(5, 5, 2)]
    assert histogram([]) == []
    values = list(range(100)) * 3 + [10_000]  # one outlier gets its own last bin
    rows = histogram(values, n_bins=10)
    assert rows[-1] == (rows[-2][1] + 1, 10_000, 1) or rows[-1][1] == 10_000
    assert sum(c for _, _, c in rows) == len(values)


@pytest.mark.slow
def test_prepare_regenerates_ours_from_an_older_generator_version(tmp_path, capsys):
    """A stale generated file (manifest version != GENERATOR_VERSION) is regenerated; a user's never."""
    from proofgpt import paths
    from proofgpt.generate import GENERATOR_VERSION, generate_corpus, write_corpus
    from proofgpt.io import sha256_file

    corpus = tmp_path / "training.txt"
    manifest = write_corpus(corpus, seed=0, n_chars=30_000, progress=False)
    assert manifest["version"] == GENERATOR_VERSION
    stale = "\n\n".join([LEFT_CANCEL, COMPL, SYMM]) + "\n"  # what an old generator wrote, with its manifest
    corpus.write_text(stale, encoding="utf-8")
    paths.manifest_path(corpus).write_text(json.dumps({**manifest, "version": GENERATOR_VERSION - 1,
                                                       "sha256": sha256_file(corpus)}), encoding="utf-8")
    r = prepare(seed=0, n_chars=30_000, corpus=corpus, progress=False, test_certs=20)
    out = capsys.readouterr().out
    assert f"written by generator version {GENERATOR_VERSION - 1}, now {GENERATOR_VERSION}" in out
    assert r["generated"] and r["owner"] == "ours"
    assert corpus.read_text(encoding="utf-8") == generate_corpus(0, 30_000)[0]
    assert json.loads(paths.manifest_path(corpus).read_text(encoding="utf-8"))["version"] == GENERATOR_VERSION

    # the same stale manifest next to a file whose bytes differ from it: the user's file, untouched
    user = tmp_path / "user" / "training.txt"
    user.parent.mkdir()
    user.write_text(stale, encoding="utf-8")
    paths.manifest_path(user).write_text(json.dumps({**manifest, "version": GENERATOR_VERSION - 1}), encoding="utf-8")
    r = prepare(seed=0, n_chars=30_000, corpus=user, progress=False)
    assert r["owner"] == "user" and user.read_text(encoding="utf-8") == stale
    assert "using your" in capsys.readouterr().out
