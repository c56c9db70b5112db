"""The checker: the spec's example, every catalog script, each kind of rejection (with its line),
corruptions of generated certificates as hypothesis properties, fuzzing (never a crash, always
a verdict), lemmas across certificates, --trust-premises, the corpus check and the CLI.

Run: .venv/bin/python -m pytest -q tests/test_check.py
"""

import pytest
from _certs import small_blocks, standalone_texts
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from proofgpt.algebra import CATALOG_FACTS, STRUCTURES, canonical_statement
from proofgpt.check import check_certificate, check_corpus, main
from proofgpt.generate import catalog_certificate
from proofgpt.terms import match, parse_args, parse_equation, positions, replace, subterm, to_pattern

from _certs import LEFT_CANCEL as SPEC_EXAMPLE  # the format's own example


def test_spec_example_verifies():
    v = check_certificate(SPEC_EXAMPLE)
    assert (v.structural, v.verified, v.line, v.reason, v.name, v.steps) == (True, True, None, None, "left_cancel", 8)


@pytest.mark.parametrize("fact", CATALOG_FACTS, ids=lambda f: f"{f.structure}.{f.name}")
def test_every_catalog_script_verifies(fact):
    v = check_certificate(catalog_certificate(fact))
    assert v.verified, (v.line, v.reason)


def test_catalog_is_big_and_covers_the_issue_list():
    names = {f.name for f in CATALOG_FACTS}
    assert len(CATALOG_FACTS) >= 30
    for n in ("inv_inv", "mul_inv_rev", "mul_left_cancel", "mul_right_cancel", "inv_eq_of_mul_eq_one_right",
              "one_unique", "mul_zero", "zero_mul", "neg_mul", "mul_neg", "neg_neg", "inf_idem", "sup_idem",
              "compl_compl", "inf_sup_absorb"):
        assert n in names
    assert {f.structure for f in CATALOG_FACTS} >= {"monoid", "group", "comm_group", "ring", "lattice", "boolean_algebra"}


def _replace_line(text, lineno, new):
    lines = text.split("\n")
    lines[lineno - 1] = new
    return "\n".join(lines)


@pytest.mark.parametrize("edit, line, kind, words", [
    (lambda t: _replace_line(t, 13, "rw [one_mul]"), 13, "step", "no single rewrite"),
    (lambda t: _replace_line(t, 13, "rw [mul_comm]"), 13, "step", "no premise mul_comm"),
    (lambda t: _replace_line(t, 5, "@P one_mul : x * 1 = x"), 5, "premise", "differs from the axiom"),
    (lambda t: _replace_line(t, 5, "@P one_mul : x = 1 * x"), 9, "step", "no single rewrite"),  # used as written
    (lambda t: _replace_line(_replace_line(t, 7, "@P h1 : a * c = a * b"), 15, "rw [← h1]"), None, None, None),
    (lambda t: _replace_line(t, 7, "@P h2 : a * b = a * c"), 7, "premise", "1 hypothesis"),
    (lambda t: _replace_line(t, 7, "@P h1 : a * b = c * a"), 7, "premise", "hypothesis 1"),
    (lambda t: t.replace("@P h1", "@P mul_magic : x * y = y\n@P h1"), 7, "premise", "unknown premise mul_magic"),
    (lambda t: _replace_line(t, 8, "@G c = b"), 8, "conclusion", "not the conclusion"),
    (lambda t: _replace_line(t, 2, "@C G : grup"), 2, "structure", "unknown structure"),
    (lambda t: _replace_line(t, 3, "@C a b : G"), 1, "name", "'c' is not a declared constant"),
    (lambda t: _replace_line(t, 10, "@G 1 * b + 0 = c"), 10, "operator", "'+'"),
    (lambda t: _replace_line(t, 10, "@G 1 * b = c * d"), 10, "name", "'d'"),
    (lambda t: _replace_line(t, 9, "rw [← one_mul d]"), 9, "name", "'d'"),
    (lambda t: _replace_line(t, 9, "rw [← one_mul b c]"), 9, "step", "2 instances for 1"),
    (lambda t: _replace_line(t, 9, "rw [← one_mul c]"), 9, "step", "no single rewrite"),
    (lambda t: _replace_line(t, 9, "rw [one_mul, mul_one]"), 9, "syntax", "one rewrite per step"),
    (lambda t: _replace_line(t, 9, "simp"), 9, "syntax", "unknown tactic"),
    (lambda t: _replace_line(t, 23, "symm"), 24, "order", "got 'qed'"),
    (lambda t: _replace_line(t, 22, "@G c = 1 * c"), 21, "step", "both sides of the goal changed"),
    (lambda t: t[: -len("qed")].rstrip(), 23, "closing", "qed"),
    (lambda t: t + "\nrfl", 25, "order", "after qed"),
    (lambda t: _replace_line(t, 10, "@G 1 * b = (c"), 10, "syntax", "col"),
    (lambda t: _replace_line(t, 1, "@T left_cancel a * b = a * c → b = c"), 1, "syntax", "@T name : statement"),
    (lambda t: "\n".join(t.split("\n")[1:]), 1, "order", "starts with '@T"),
])
def test_known_rejections(edit, line, kind, words):
    v = check_certificate(edit(SPEC_EXAMPLE), first_line=1)
    if kind is None:
        assert v.verified, v.reason
        return
    assert not v.verified
    assert (v.line, v.kind) == (line, kind), v.reason
    assert words in v.reason
    assert v.structural == (kind not in ("syntax", "order", "closing"))


def test_absolute_line_numbers():
    v = check_certificate(_replace_line(SPEC_EXAMPLE, 13, "rw [one_mul]"), first_line=101)
    assert v.line == 113


def test_trust_premises():
    unknown_axiom = SPEC_EXAMPLE.replace("@P one_mul : 1 * x = x", "@P my_left_id : 1 * x = x").replace(
        "one_mul", "my_left_id")
    assert not check_certificate(unknown_axiom).verified
    v = check_certificate(unknown_axiom, trust_premises=True)
    assert v.verified and not v.premises_ok
    assert check_certificate(SPEC_EXAMPLE, trust_premises=True).premises_ok
    # hypotheses are still compared with @T, by number
    v = check_certificate(_replace_line(SPEC_EXAMPLE, 7, "@P h2 : a * b = a * c"), trust_premises=True)
    assert not v.verified and v.line == 7
    # an unknown structure is allowed when trusting premises; steps are still checked
    other = _replace_line(SPEC_EXAMPLE, 2, "@C G : my_group")
    assert check_certificate(other, trust_premises=True).verified
    assert not check_certificate(_replace_line(other, 13, "rw [one_mul]"), trust_premises=True).verified


LEMMA_USER = """\
@T use_lemma : (a * b) * 1 = a * b
@C G : {structure}
@C a b : G
@P my_thm : x * 1 = x
@G a * b * 1 = a * b
rw [my_thm]
@G a * b = a * b
rfl
qed"""

MY_THM = """\
@T my_thm : a * 1 = a
@C M : monoid
@C a : M
@P mul_one : x * 1 = x
@G a * 1 = a
rw [mul_one]
@G a = a
rfl
qed"""


def test_lemmas_from_earlier_certificates():
    group_user = LEMMA_USER.format(structure="group")
    report = check_corpus([MY_THM, group_user])
    assert report.counts["verified"] == 2  # monoid's axioms are among group's
    assert not check_corpus([group_user]).verdicts[0].verified  # no such lemma without the earlier one
    group_thm = MY_THM.replace("@C M : monoid", "@C G : group").replace(": M", ": G")
    monoid_user = LEMMA_USER.format(structure="monoid").replace("@C G", "@C M").replace(": G", ": M")
    assert check_corpus([MY_THM, monoid_user]).counts["verified"] == 2
    v = check_corpus([group_thm, monoid_user]).verdicts[1]  # group's axioms are not all monoid's
    assert not v.verified and "axioms are not among" in v.reason
    broken = MY_THM.replace("rw [mul_one]", "rw [mul_one]\n@G a = a * 1\nrw [← mul_one]")
    assert check_corpus([broken, group_user]).counts["verified"] == 0  # an unverified lemma does not count
    # a catalog lemma is cited with its constants as pattern variables, any names, either side first
    cat = LEMMA_USER.format(structure="group").replace("@P my_thm : x * 1 = x", "@P inv_inv : z = z⁻¹⁻¹").replace(
        "(a * b) * 1 = a * b", "(a * b)⁻¹⁻¹ = a * b").replace("@G a * b * 1 = a * b", "@G (a * b)⁻¹⁻¹ = a * b").replace(
        "rw [my_thm]", "rw [← inv_inv]")
    assert check_certificate(cat).verified, check_certificate(cat).reason


def test_corpus_counts_and_100_percent_of_generated():
    blocks = small_blocks()
    report = check_corpus(blocks)
    assert report.counts["total"] == len(blocks) > 200
    assert report.counts["verified"] == len(blocks), [v.reason for v in report.verdicts if not v.verified][:3]
    assert report.verified_frac == 1.0 and report.structural_frac == 1.0
    mixed = check_corpus([SPEC_EXAMPLE, SPEC_EXAMPLE.replace("qed", ""), _replace_line(SPEC_EXAMPLE, 13, "rw [one_mul]")])
    assert mixed.counts["total"] == 3 and mixed.counts["verified"] == 1 and mixed.counts["structural"] == 2
    assert mixed.counts["by_reason"] == {"closing": 1, "step": 1}


# ----------------------------------------------------------------------------- corruptions

def _premises(lines):
    """{name: (lhs, rhs, var order)} of a certificate's @P lines, and its constants."""
    consts = set()
    for ln in lines:
        if ln.startswith("@C ") and ln.count(":") == 1 and len(ln[3:].split(":")[0].split()) >= 1:
            left, right = ln[3:].split(":")
            if not right.strip().islower() or right.strip() not in STRUCTURES:
                consts |= set(left.split())
    table = {}
    for ln in lines:
        if ln.startswith("@P "):
            name, stmt = ln[3:].split(" : ", 1)
            lhs, rhs = (to_pattern(s, consts) for s in parse_equation(stmt))
            from proofgpt.terms import variables
            table[name] = (lhs, rhs, variables(rhs, variables(lhs)))
    return table


def naive_step_ok(prev, nxt, tactic, table) -> bool:
    """Reference for one rw step by brute force over every position of both sides (slow, obviously right)."""
    inner = tactic[4:-1]
    backward = inner.startswith("← ")
    name, _, rest = (inner[2:] if backward else inner).partition(" ")
    if name not in table:
        return False
    lhs, rhs, order = table[name]
    binding = dict(zip(order, parse_args(rest) if rest else []))
    src, dst = (rhs, lhs) if backward else (lhs, rhs)
    for side in (0, 1):
        if prev[1 - side] != nxt[1 - side]:
            continue
        for pos, sub in positions(prev[side]):
            b = match(src, sub, dict(binding))
            if b is None:
                continue
            try:
                target = subterm(nxt[side], pos)
            except (AttributeError, IndexError):
                continue
            if match(dst, target, b) is not None and replace(prev[side], pos, target) == nxt[side]:
                return True
    return False


def _kinds(lines):
    return ["@C" if ln.startswith("@C") else ln[:2] if ln.startswith("@") else "tac" for ln in lines]


certs = st.integers(min_value=0, max_value=10_000).map(lambda i: standalone_texts()[i % len(standalone_texts())])
fast = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rw_indices(lines):
    return [i for i, ln in enumerate(lines) if ln.startswith("rw [")]


@fast
@given(certs, st.data())
def test_wrong_rule_name_is_rejected(text, data):
    lines = text.split("\n")
    rws = _rw_indices(lines)
    assume(rws)
    i = data.draw(st.sampled_from(rws))
    table = _premises(lines)
    old = lines[i]
    name = old[4:-1].removeprefix("← ").split(" ")[0]
    other = data.draw(st.sampled_from(sorted(set(table) - {name}) + ["no_such_rule"]))
    lines[i] = old.replace(name, other, 1)
    prev, nxt = parse_equation(lines[i - 1][3:]), parse_equation(lines[i + 1][3:])
    assume(not naive_step_ok(prev, nxt, lines[i], table))  # the other rule really cannot do this step
    v = check_certificate("\n".join(lines))
    assert not v.verified and v.line == i + 1 and v.kind in ("step", "name"), v.reason


@fast
@given(certs, st.data())
def test_unreachable_goal_is_rejected(text, data):
    lines = text.split("\n")
    rws = _rw_indices(lines)
    assume(rws)
    i = data.draw(st.sampled_from(rws))
    prev = parse_equation(lines[i - 1][3:])
    lhs, rhs = parse_equation(lines[i + 1][3:])
    side = data.draw(st.sampled_from([0, 1]))
    pos, sub = data.draw(st.sampled_from(positions((lhs, rhs)[side])))
    new_side = replace((lhs, rhs)[side], pos, parse_equation("b⁻¹ = b")[0] if "*" in text else sub)
    assume(new_side != (lhs, rhs)[side])
    nxt = (new_side, rhs) if side == 0 else (lhs, new_side)
    from proofgpt.terms import print_equation
    lines[i + 1] = "@G " + print_equation(*nxt)
    table = _premises(lines)
    assume(not naive_step_ok(prev, nxt, lines[i], table))
    v = check_certificate("\n".join(lines))
    assert not v.verified and v.line in (i + 1, i + 2) and v.kind in ("step", "operator", "name"), v.reason


@fast
@given(certs, st.data())
def test_two_rewrites_in_one_step_are_rejected(text, data):
    lines = text.split("\n")
    pairs = [i for i in _rw_indices(lines) if i + 2 < len(lines) and lines[i + 2].startswith("rw [")]
    assume(pairs)
    i = data.draw(st.sampled_from(pairs))  # drop the goal after rw i and the next rw: two rewrites, one step
    prev, nxt = parse_equation(lines[i - 1][3:]), parse_equation(lines[i + 3][3:])
    table = _premises(lines)
    assume(not naive_step_ok(prev, nxt, lines[i], table))
    del lines[i + 1: i + 3]
    v = check_certificate("\n".join(lines))
    assert not v.verified and v.line == i + 1 and v.kind == "step", v.reason


@fast
@given(certs, st.sampled_from(["x * y = y", "x = x ⊔ x", "x + 0 = 0", "-x = x"]), st.data())
def test_invented_premise_is_rejected(text, stmt, data):
    lines = text.split("\n")
    first_g = next(i for i, ln in enumerate(lines) if ln.startswith("@G"))
    name = data.draw(st.sampled_from(["magic", "mul_assoc_2", "inv_inv_7", "h9"]))
    lines.insert(first_g, f"@P {name} : {stmt}")
    v = check_certificate("\n".join(lines))
    assert not v.verified and v.line == first_g + 1 and v.kind in ("premise", "operator"), v.reason


@fast
@given(certs, st.data())
def test_premise_with_a_changed_statement_is_rejected(text, data):
    lines = text.split("\n")
    ps = [i for i, ln in enumerate(lines) if ln.startswith("@P ")]
    assume(ps)
    i = data.draw(st.sampled_from(ps))
    name, stmt = lines[i][3:].split(" : ", 1)
    lhs, rhs = parse_equation(stmt)
    side = data.draw(st.sampled_from([0, 1]))
    pos, sub = data.draw(st.sampled_from(positions((lhs, rhs)[side])))
    new = replace((lhs, rhs)[side], pos, parse_equation("z = z")[0])
    new_stmt = (new, rhs) if side == 0 else (lhs, new)
    consts = set(_premises(lines).keys()) and {c for ln in lines if ln.startswith("@C ") and
                                               ln.split(":")[1].strip() not in STRUCTURES for c in ln[3:].split(":")[0].split()}
    pat = [to_pattern(t, consts) for t in (lhs, rhs)]
    newpat = [to_pattern(t, consts) for t in new_stmt]
    assume(canonical_statement(*pat)[0] not in canonical_statement(*newpat))  # really a different statement
    from proofgpt.terms import print_equation
    lines[i] = f"@P {name} : {print_equation(*new_stmt)}"
    v = check_certificate("\n".join(lines))
    assert not v.verified, lines[i]
    if not name.startswith("h"):  # a lemma of an earlier certificate is unknown here anyway
        assert v.line == i + 1 and v.kind in ("premise", "operator"), v.reason


@fast
@given(certs, st.data())
def test_missing_qed_and_truncation_are_rejected(text, data):
    assert not check_certificate(text.rsplit("\n", 1)[0]).verified
    k = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    v = check_certificate(text[:k])
    assert not v.verified and not v.structural


@fast
@given(certs, st.data())
def test_reordered_lines_are_rejected(text, data):
    lines = text.split("\n")
    kinds = _kinds(lines)
    swaps = [i for i in range(len(lines) - 1) if kinds[i] != kinds[i + 1]]
    i = data.draw(st.sampled_from(swaps))
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    v = check_certificate("\n".join(lines))
    assert not v.verified and not v.structural and v.line in (i + 1, i + 2), (v.reason, i)


@fast
@given(certs)
def test_first_goal_not_the_conclusion_is_rejected(text):
    lines = text.split("\n")
    g = next(i for i, ln in enumerate(lines) if ln.startswith("@G"))
    lhs, rhs = parse_equation(lines[g][3:])
    from proofgpt.terms import print_equation
    swapped = "@G " + print_equation(rhs, lhs)
    later = [ln for ln in lines[g + 1:] if ln.startswith("@G") and ln != lines[g]]
    replacement = swapped if lhs != rhs else (later[0] if later else None)
    assume(replacement)
    lines[g] = replacement
    v = check_certificate("\n".join(lines))
    assert not v.verified and v.line == g + 1 and v.kind == "conclusion", v.reason


@fast
@given(certs)
def test_fast_rewrite_location_agrees_with_brute_force(text):
    lines = text.split("\n")
    table = _premises(lines)
    for i in _rw_indices(lines):
        prev, nxt = parse_equation(lines[i - 1][3:]), parse_equation(lines[i + 1][3:])
        assert naive_step_ok(prev, nxt, lines[i], table)


# ----------------------------------------------------------------------------- never a crash

def _assert_verdict(v):
    assert isinstance(v.verified, bool) and isinstance(v.structural, bool)
    if not v.verified:
        assert isinstance(v.line, int) and v.line >= 1 and v.reason and v.kind
        assert v.kind != "internal", v.reason


LINE_PIECES = ["@T t : a = a", "@T t : a * b = b → a = 1", "@C G : group", "@C a b : G", "@C R : ring",
               "@P mul_one : x * 1 = x", "@P h1 : a * b = b", "@G a = a", "@G a * 1 = a", "rw [mul_one]",
               "rw [← mul_one a]", "rw [h1 (a", "symm", "rfl", "qed", "@G", "@P", "@T", "", "rw []", "@C : ",
               "@G ((((a", "@T : → → =", "rw [← ← x]", "@C a a a : G", "@P x : = ="]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200)
       | st.lists(st.sampled_from(LINE_PIECES) | st.text(max_size=12), max_size=14).map("\n".join))
def test_never_a_crash_always_a_verdict(text):
    _assert_verdict(check_certificate(text))
    _assert_verdict(check_certificate(text, trust_premises=True))


@settings(max_examples=150, deadline=None)
@given(certs, st.data())
def test_mutated_certificates_never_crash(text, data):
    k = data.draw(st.integers(min_value=0, max_value=len(text)))
    junk = data.draw(st.text(alphabet="ab()*+-⁻¹ᶜ⊓⊔⊤⊥=→←[]@ \n:01xqed", max_size=6))
    _assert_verdict(check_certificate(text[:k] + junk + text[k:]))


def test_deep_nesting_is_a_verdict():
    deep = SPEC_EXAMPLE.replace("@G 1 * b = c", "@G " + "(" * 60 + "1 * b" + ")" * 60 + " = c")
    v = check_certificate(deep)
    assert not v.verified and v.line == 10 and "nested" in v.reason
    long_chain = SPEC_EXAMPLE.replace("@G 1 * b = c", "@G " + " * ".join(["b⁻¹⁻¹"] * 150) + " = c")
    _assert_verdict(check_certificate(long_chain))


# ----------------------------------------------------------------------------- CLI

def test_cli(tmp_path, capsys):
    good = tmp_path / "good.txt"
    good.write_text(SPEC_EXAMPLE + "\n\n" + MY_THM + "\n", encoding="utf-8")
    assert main([str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 certificates" in out and "2 verified (100.00%)" in out and "chars/s" in out
    bad = tmp_path / "bad.txt"
    bad.write_text(SPEC_EXAMPLE + "\n\n" + _replace_line(SPEC_EXAMPLE, 13, "rw [one_mul]") + "\n", encoding="utf-8")
    assert main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:38: rw [one_mul]: no single rewrite gives the next goal" in out  # starts at 26, +12
    assert "1 rejected" in out and "rejected (step): 1" in out
    assert main([str(bad), "--quiet"]) == 1
    assert f"{bad}:38" not in capsys.readouterr().out
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(SPEC_EXAMPLE.replace("one_mul", "left_id") + "\n", encoding="utf-8")
    assert main([str(trusted)]) == 1
    assert main([str(trusted), "--trust-premises"]) == 0
    assert "steps verified" in capsys.readouterr().out


def test_cli_bad_input_is_a_user_error(tmp_path):
    from proofgpt.cli import main as cli_main
    assert cli_main(["check", str(tmp_path / "missing.txt")]) == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli_main(["check", str(empty)]) == 2
