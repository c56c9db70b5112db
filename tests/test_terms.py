"""Terms: parser, printer (fewest parentheses, round trip), matching and rewriting.

Run: .venv/bin/python -m pytest -q tests/test_terms.py
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofgpt.terms import (App, Atom, ParseError, Var, canonical, match, parse_args, parse_equation, parse_term,
                            positions, print_arg, print_term, replace, rewrite_at, rewrites_to, size, substitute,
                            subterm, to_pattern, tokenize)

a, b, c = Atom("a"), Atom("b"), Atom("c")
x, y = Var("x"), Var("y")


def mul(p, q):
    return App("*", (p, q))


def neg(p):
    return App("-", (p,))


def inv(p):
    return App("⁻¹", (p,))


@pytest.mark.parametrize("text, printed", [
    ("a * b * c", "a * b * c"),
    ("(a * b) * c", "a * b * c"),
    ("a * (b * c)", "a * (b * c)"),
    ("a⁻¹⁻¹", "a⁻¹⁻¹"),
    ("-(-a)", "- -a"),
    ("- - -a", "- - -a"),
    ("(-a) * b", "-a * b"),
    ("-(a * b)", "-(a * b)"),
    ("-(a⁻¹)", "-a⁻¹"),
    ("(-a)⁻¹", "(-a)⁻¹"),
    ("(a * b)⁻¹ᶜ", "(a * b)⁻¹ᶜ"),
    ("a + b * c", "a + b * c"),
    ("(a + b) * c", "(a + b) * c"),
    ("a ⊔ (b ⊓ c)", "a ⊔ b ⊓ c"),
    ("(a ⊔ b) ⊓ c", "(a ⊔ b) ⊓ c"),
    ("a + (b + c)", "a + (b + c)"),
    ("x_1 ⊔ ⊤ ⊓ ⊥ᶜ", "x_1 ⊔ ⊤ ⊓ ⊥ᶜ"),
    ("((1))", "1"),
    ("0+-0", "0 + -0"),
])
def test_known_prints(text, printed):
    assert print_term(parse_term(text)) == printed


def test_precedence_trees():
    assert parse_term("-a * b") == mul(neg(a), b)
    assert parse_term("-a⁻¹") == neg(inv(a))
    assert parse_term("a * b * c") == mul(mul(a, b), c)
    assert parse_term("a ⊔ b ⊓ c") == App("⊔", (a, App("⊓", (b, c))))
    assert parse_equation("1 * a = a") == (mul(Atom("1"), a), a)


@pytest.mark.parametrize("text, col", [
    ("a *", 4), ("a b", 3), ("(a", 3), ("2", 1), ("a ⁻ b", 3), ("* a", 1), ("a = b", 3), ("", 1), ("a)", 2),
])
def test_parse_errors_have_columns(text, col):
    with pytest.raises(ParseError) as e:
        parse_term(text)
    assert e.value.col == col
    assert str(e.value).startswith(f"col {col}: ")


@pytest.mark.parametrize("text", ["a", "a = b = c", "= a", "a =", "a * = b"])
def test_bad_equations(text):
    with pytest.raises(ParseError):
        parse_equation(text)


def test_nesting_limits_are_errors_not_crashes():
    with pytest.raises(ParseError):
        parse_term("(" * 100 + "a" + ")" * 100)
    with pytest.raises(ParseError):
        parse_term(" * ".join(["a"] * 300))
    assert size(parse_term("- " * 150 + "a")) == 151


# --- property: parse(print(t)) == t, including deep prefix/postfix stacks and right nesting

leaves = st.sampled_from([Atom(n) for n in ("a", "b", "c", "x1", "long_name", "1", "0", "⊤", "⊥")])


def _extend(children):
    unary = st.builds(lambda op, t: App(op, (t,)), st.sampled_from(["⁻¹", "ᶜ", "-"]), children)
    binary = st.builds(lambda op, l, r: App(op, (l, r)), st.sampled_from(["*", "+", "⊓", "⊔"]), children, children)
    return unary | binary


terms = st.recursive(leaves, _extend, max_leaves=12)
stacks = st.builds(lambda t, ops: _stack(t, ops), terms, st.lists(st.sampled_from(["⁻¹", "ᶜ", "-"]), max_size=8))


def _stack(t, ops):
    for op in ops:
        t = App(op, (t,))
    return t


@settings(max_examples=300, deadline=None)
@given(st.one_of(terms, stacks))
def test_parse_print_round_trip(t):
    s = print_term(t)
    assert parse_term(s) == t
    assert "--" not in s and "( " not in s
    assert print_term(parse_term(s)) == s


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["*", "+", "⊓", "⊔"]), min_size=1, max_size=6))
def test_right_nested_binaries_need_parentheses(ops):
    t = a
    for op in ops:  # a op (a op (a ...)): every inner right operand of equal or looser op needs parens
        t = App(op, (a, t))
    assert parse_term(print_term(t)) == t


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1 0()*+-⁻¹ᶜ⊓⊔⊤⊥=x_", max_size=30) | st.text(max_size=20))
def test_parser_never_crashes(s):
    try:
        parse_term(s)
    except ParseError as e:
        assert 1 <= e.col <= len(s) + 1


def test_tokenize_and_args():
    assert tokenize("a⁻¹ * (b+1)") == ["a", "⁻¹", "*", "(", "b", "+", "1", ")"]
    assert parse_args("a (b * c) d⁻¹") == [a, mul(b, c), inv(Atom("d"))]
    with pytest.raises(ParseError):
        parse_args("-a")
    assert print_arg(inv(a)) == "a⁻¹" and print_arg(mul(a, b)) == "(a * b)" and print_arg(neg(a)) == "(-a)"


# --- matching, substitution, positions, rewriting

def test_match_and_substitute():
    pat = to_pattern(parse_term("x * x⁻¹"), ())
    assert match(pat, parse_term("(a * b) * (a * b)⁻¹"), {}) == {"x": mul(a, b)}
    assert match(pat, parse_term("a * b⁻¹"), {}) is None
    assert match(pat, parse_term("a * a⁻¹"), {"x": b}) is None
    assert to_pattern(parse_term("x * a"), {"a"}) == mul(x, a)
    assert substitute(mul(x, y), {"x": a, "y": inv(b)}) == parse_term("a * b⁻¹")
    assert substitute(parse_term("a * b"), {"a": parse_term("c * c")}) == parse_term("c * c * b")


def test_positions_subterm_replace():
    t = parse_term("a * b⁻¹")
    assert [p for p, _ in positions(t)] == [(), (0,), (1,), (1, 0)]
    assert subterm(t, (1, 0)) == b
    assert replace(t, (1, 0), c) == parse_term("a * c⁻¹")
    assert size(t) == 4


def test_rewrite_at_and_rewrites_to():
    one_mul = (to_pattern(parse_term("1 * x"), ()), x)
    t = parse_term("a * (1 * b)")
    assert rewrite_at(t, (1,), *one_mul) == parse_term("a * b")
    assert rewrite_at(t, (), *one_mul) is None
    assert rewrites_to(t, parse_term("a * b"), *one_mul, {})
    assert not rewrites_to(parse_term("1 * a * (1 * b)"), parse_term("a * b"), *one_mul, {})  # two rewrites
    # a rewrite above the deepest difference: x * b -> x * c at the root of 'a * b'
    pat = (mul(x, b), mul(x, c))
    assert rewrites_to(parse_term("d * (a * b)"), parse_term("d * (a * c)"), *pat, {})
    # backwards with the new side's variable decided by the new goal
    inv_mul = (to_pattern(parse_term("x⁻¹ * x"), ()), Atom("1"))
    assert rewrites_to(parse_term("1 * b"), parse_term("a⁻¹ * a * b"), inv_mul[1], inv_mul[0], {})
    assert not rewrites_to(parse_term("1 * b"), parse_term("a⁻¹ * a * b"), inv_mul[1], inv_mul[0], {"x": b})
    # an unchanged goal is fine when the instance rewrites to itself (x * y -> y * x at a * a)
    comm = (mul(x, y), mul(y, x))
    assert rewrites_to(parse_term("a * a"), parse_term("a * a"), *comm, {})
    assert not rewrites_to(parse_term("a * b"), parse_term("a * b"), *comm, {})


def test_canonical_renaming():
    l1, r1 = to_pattern(parse_term("y * z"), ()), to_pattern(parse_term("z * y"), ())
    l2, r2 = to_pattern(parse_term("x * y"), ()), to_pattern(parse_term("y * x"), ())
    assert canonical(l1, r1) == canonical(l2, r2)
    assert canonical(*map(lambda s: to_pattern(parse_term(s), ()), ("1 * x", "x"))) != canonical(
        *map(lambda s: to_pattern(parse_term(s), ()), ("x * 1", "x")))
