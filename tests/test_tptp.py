"""TPTP export: one problem per verified theorem, parsable structure, the right axioms.

Run: .venv/bin/python -m pytest -q tests/test_tptp.py
"""

import re

from _certs import small_corpus

from proofgpt.certificate import split_blocks

from proofgpt.tptp import certificate_to_tptp, main, tptp_name

from _certs import LEFT_CANCEL as SPEC_EXAMPLE  # the format's own example

FOF = re.compile(r"fof\(([a-z][A-Za-z0-9_]*), (axiom|conjecture), (.*)\)\.\Z")


def structurally_ok(problem: str):
    """A tiny TPTP check: balanced parens, fof(name, role, formula). lines, exactly one conjecture,
    variables only under a ![...] binder. Returns [(name, role)]."""
    out = []
    for line in problem.splitlines():
        if line.startswith("%") or not line.strip():
            continue
        m = FOF.match(line)
        assert m, line
        depth = 0
        for ch in line:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            assert depth >= 0, line
        assert depth == 0, line
        formula = m.group(3)
        bound = re.match(r"!\[([A-Z0-9a-z_, ]+)\]: ", formula)
        free_vars = set(re.findall(r"\b[A-Z][A-Za-z0-9_]*\b", formula[bound.end():] if bound else formula))
        assert free_vars <= set(bound.group(1).split(", ") if bound else ()), line
        assert not re.search(r"[⁻¹ᶜ⊓⊔⊤⊥*+]", formula), line
        out.append((m.group(1), m.group(2)))
    assert sum(role == "conjecture" for _, role in out) == 1
    return out


def test_spec_example_known_answer():
    problem = certificate_to_tptp(SPEC_EXAMPLE, "f.txt:1")
    assert problem.splitlines() == [
        "% left_cancel (group) from f.txt:1",
        "fof(mul_assoc, axiom, ![X, Y, Z]: mul(mul(X, Y), Z) = mul(X, mul(Y, Z))).",
        "fof(one_mul, axiom, ![X]: mul(one, X) = X).",
        "fof(inv_mul, axiom, ![X]: mul(inv(X), X) = one).",
        "fof(h1, axiom, mul(a, b) = mul(a, c)).",
        "fof(left_cancel, conjecture, b = c).",
    ]
    assert structurally_ok(problem)[-1] == ("left_cancel", "conjecture")


def test_names_and_clashes():
    assert tptp_name("Foo.bar'") == "p_Foo_bar_" and tptp_name("inv_inv_3") == "inv_inv_3"
    clash = SPEC_EXAMPLE.replace("a b c : G", "mul b c : G").replace("a *", "mul *").replace("a⁻¹", "mul⁻¹").replace(
        "inv_mul a]", "inv_mul mul]")
    problem = certificate_to_tptp(clash)
    assert "mul(c_mul, b)" in problem
    structurally_ok(problem)


def test_export_every_verified_theorem(tmp_path, capsys):
    text, meta = small_corpus()
    corpus = tmp_path / "training.txt"
    broken = SPEC_EXAMPLE.replace("rw [mul_assoc]", "rw [one_mul]")
    corpus.write_text(text + "\n" + broken + "\n", encoding="utf-8")
    out = tmp_path / "tptp"
    assert main([str(corpus), "--out", str(out)]) == 0
    files = sorted(out.glob("*.p"))
    assert len(files) == len(meta)  # the broken certificate is not exported
    assert f"wrote {len(meta)} TPTP problems" in capsys.readouterr().out
    by_line = {b.line: b.text for b in split_blocks(corpus.read_text(encoding="utf-8"))}
    for f in files[:300]:
        problem = f.read_text(encoding="utf-8")
        roles = structurally_ok(problem)
        line = int(re.search(r" from \S+:(\d+)\n", problem).group(1))  # the header names the certificate's line
        cert = by_line[line]
        premises = [ln[3:].split(" : ")[0] for ln in cert.splitlines() if ln.startswith("@P ")]
        assert [n.rstrip("_") for n, r in roles if r == "axiom"] == [tptp_name(p) for p in premises]
        goal, role = roles[-1]
        assert role == "conjecture" and goal.startswith(tptp_name(cert[3:].split(" : ")[0]))
        assert f.stem.startswith(goal.removesuffix("_goal"))  # theorem names repeat: walk.p, walk_2.p, ...
