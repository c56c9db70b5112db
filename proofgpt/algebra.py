"""The algebraic structures (axiom tables, operator sets) and the catalog of textbook facts.

Every certificate lives in one structure (`@C G : group`). A structure fixes the operators a term
may use and the axioms a premise may cite by name; axioms are named as in Mathlib. Premises
are compared up to renaming pattern variables and swapping sides, so `@P one_mul : x = 1 * x`
cites `one_mul`. Structures, with what each adds to the one(s) above it:

    semigroup        *            mul_assoc : x * y * z = x * (y * z)
    monoid           * 1          + one_mul : 1 * x = x, mul_one : x * 1 = x
    comm_monoid      * 1          monoid + mul_comm : x * y = y * x
    group            * 1 ⁻¹       monoid + inv_mul : x⁻¹ * x = 1, mul_inv : x * x⁻¹ = 1
    comm_group       * 1 ⁻¹       group + mul_comm
    ring             + * - 0 1    add_assoc, zero_add : 0 + x = x, add_zero, neg_add : -x + x = 0,
                                  add_neg : x + -x = 0, add_comm, mul_assoc, one_mul, mul_one,
                                  left_distrib : x * (y + z) = x * y + x * z,
                                  right_distrib : (x + y) * z = x * z + y * z
    comm_ring        + * - 0 1    ring + mul_comm
    comm_semiring    + * 0 1      add_assoc, zero_add, add_zero, add_comm, mul_assoc, one_mul,
                                  mul_one, mul_comm, left_distrib, right_distrib,
                                  zero_mul : 0 * x = 0, mul_zero : x * 0 = 0
    lattice          ⊓ ⊔          inf_comm, sup_comm, inf_assoc, sup_assoc,
                                  inf_sup_self : x ⊓ (x ⊔ y) = x, sup_inf_self : x ⊔ x ⊓ y = x
    distrib_lattice  ⊓ ⊔          lattice + sup_inf_left : x ⊔ y ⊓ z = (x ⊔ y) ⊓ (x ⊔ z),
                                  inf_sup_left : x ⊓ (y ⊔ z) = x ⊓ y ⊔ x ⊓ z
    boolean_algebra  ⊓ ⊔ ᶜ ⊤ ⊥    distrib_lattice + inf_compl : x ⊓ xᶜ = ⊥, sup_compl : x ⊔ xᶜ = ⊤,
                                  inf_top : x ⊓ ⊤ = x, sup_bot : x ⊔ ⊥ = x

Choices a Mathlib user might not guess: group keeps both `inv_mul` and `mul_inv` (and ring
both `neg_add` and `add_neg`) as axioms, so short proofs need no detour through a lemma; there
is no binary minus (write `a + -b`). The `parents` of a structure are the ones whose axioms are
all among its own: a lemma proved in a parent may be cited in a child (monoid -> ring, since
a ring's multiplication is a monoid).

The catalog holds 63 textbook facts, each with a proof script. A script step is a tactic; for
`rw` the generator rewrites the first occurrence (pre-order, left side of the goal first) of
the instance, unless the step spells out the goal it wants as `(tactic, goal)`. Facts may cite
earlier facts of the catalog (`neg_mul` uses `zero_mul`). tests/test_check.py checks every
script with the checker; the generator instantiates the constants with random terms.

Trade-off: 11 structures × ~8 axioms is small enough to write by hand and document here, and
big enough that every operator of the format (⁻¹ ᶜ - * + ⊓ ⊔ 1 0 ⊤ ⊥) occurs in the corpus.
"""

import itertools
from dataclasses import dataclass, field

from proofgpt.terms import Term, Var, canonical, names, parse_equation, print_equation, substitute, to_pattern


@dataclass(frozen=True)
class Structure:
    name: str
    type_name: str  # the name in `@C G : group`, `@C a b : G`
    operators: frozenset  # operators and constant symbols its terms may use
    axioms: dict  # axiom name -> (lhs, rhs), pattern terms (identifiers are Vars)
    parents: tuple  # structures whose axioms are all among these (transitively closed)
    axiom_text: dict = field(default_factory=dict)  # axiom name -> "x * 1 = x" as written here


def _statement(text: str) -> tuple[Term, Term]:
    lhs, rhs = parse_equation(text)
    return to_pattern(lhs, ()), to_pattern(rhs, ())


_AXIOMS = {
    "mul_assoc": "x * y * z = x * (y * z)",
    "one_mul": "1 * x = x",
    "mul_one": "x * 1 = x",
    "mul_comm": "x * y = y * x",
    "inv_mul": "x⁻¹ * x = 1",
    "mul_inv": "x * x⁻¹ = 1",
    "add_assoc": "x + y + z = x + (y + z)",
    "zero_add": "0 + x = x",
    "add_zero": "x + 0 = x",
    "neg_add": "-x + x = 0",
    "add_neg": "x + -x = 0",
    "add_comm": "x + y = y + x",
    "left_distrib": "x * (y + z) = x * y + x * z",
    "right_distrib": "(x + y) * z = x * z + y * z",
    "zero_mul": "0 * x = 0",
    "mul_zero": "x * 0 = 0",
    "inf_comm": "x ⊓ y = y ⊓ x",
    "sup_comm": "x ⊔ y = y ⊔ x",
    "inf_assoc": "x ⊓ y ⊓ z = x ⊓ (y ⊓ z)",
    "sup_assoc": "x ⊔ y ⊔ z = x ⊔ (y ⊔ z)",
    "inf_sup_self": "x ⊓ (x ⊔ y) = x",
    "sup_inf_self": "x ⊔ x ⊓ y = x",
    "sup_inf_left": "x ⊔ y ⊓ z = (x ⊔ y) ⊓ (x ⊔ z)",
    "inf_sup_left": "x ⊓ (y ⊔ z) = x ⊓ y ⊔ x ⊓ z",
    "inf_compl": "x ⊓ xᶜ = ⊥",
    "sup_compl": "x ⊔ xᶜ = ⊤",
    "inf_top": "x ⊓ ⊤ = x",
    "sup_bot": "x ⊔ ⊥ = x",
}

_MONOID = ["mul_assoc", "one_mul", "mul_one"]
_GROUP = _MONOID + ["inv_mul", "mul_inv"]
_RING = ["add_assoc", "zero_add", "add_zero", "neg_add", "add_neg", "add_comm"] + _MONOID + ["left_distrib", "right_distrib"]
_LATTICE = ["inf_comm", "sup_comm", "inf_assoc", "sup_assoc", "inf_sup_self", "sup_inf_self"]
_DLATTICE = _LATTICE + ["sup_inf_left", "inf_sup_left"]

# name -> (type name, operators, axiom names), in the order of the spec's list
_TABLE = {
    "semigroup": ("S", "*", ["mul_assoc"]),
    "monoid": ("M", "* 1", _MONOID),
    "comm_monoid": ("M", "* 1", _MONOID + ["mul_comm"]),
    "group": ("G", "* 1 ⁻¹", _GROUP),
    "comm_group": ("G", "* 1 ⁻¹", _GROUP + ["mul_comm"]),
    "ring": ("R", "+ * - 0 1", _RING),
    "comm_ring": ("R", "+ * - 0 1", _RING + ["mul_comm"]),
    "comm_semiring": ("R", "+ * 0 1", ["add_assoc", "zero_add", "add_zero", "add_comm"] + _MONOID
                      + ["mul_comm", "left_distrib", "right_distrib", "zero_mul", "mul_zero"]),
    "lattice": ("L", "⊓ ⊔", _LATTICE),
    "distrib_lattice": ("L", "⊓ ⊔", _DLATTICE),
    "boolean_algebra": ("B", "⊓ ⊔ ᶜ ⊤ ⊥", _DLATTICE + ["inf_compl", "sup_compl", "inf_top", "sup_bot"]),
}


def _build_structures() -> dict:
    out = {}
    for name, (type_name, ops, axiom_names) in _TABLE.items():
        axioms = {a: _statement(_AXIOMS[a]) for a in axiom_names}
        out[name] = Structure(name, type_name, frozenset(ops.split()), axioms, (),
                              {a: _AXIOMS[a] for a in axiom_names})
    for name, s in out.items():  # parents: every other structure whose axioms are a subset
        parents = tuple(p for p in out if p != name and axioms_subset(out[p], s))
        object.__setattr__(s, "parents", parents)
    return out


def axioms_subset(a: Structure, b: Structure) -> bool:
    """True iff every axiom of a (same name, same statement) is an axiom of b: monoid ⊆ ring."""
    return all(b.axiom_text.get(k) == v for k, v in a.axiom_text.items())


STRUCTURES = _build_structures()


# ----------------------------------------------------------------------------- the catalog

@dataclass(frozen=True)
class Fact:
    """A textbook fact: `statement` is `H1 → … → lhs = rhs` over constants a b c d; `script` its proof."""

    name: str
    structure: str
    statement: str
    script: tuple  # steps: "rw [p]" | "symm" | ("rw [p]", "goal it produces")

    @property
    def hypotheses(self) -> list[str]:
        return [s.strip() for s in self.statement.split("→")[:-1]]

    @property
    def conclusion(self) -> str:
        return self.statement.split("→")[-1].strip()


def _f(name, structure, statement, *script):
    return Fact(name, structure, statement, tuple(script))


CATALOG_FACTS = [
    # --- semigroup / monoid / comm_monoid
    _f("mul_assoc4", "semigroup", "a * b * (c * d) = a * (b * c) * d",
       "rw [mul_assoc]", "rw [← mul_assoc b]", "rw [← mul_assoc]"),
    _f("one_unique", "monoid", "a * b = a → a * b = b → a = b",
       "rw [← h1]", "rw [h2]"),
    _f("left_inv_eq_right_inv", "monoid", "b * a = 1 → a * c = 1 → b = c",
       "rw [← mul_one b]", "rw [← h2]", "rw [← mul_assoc]", "rw [h1]", "rw [one_mul]"),
    _f("mul_left_comm", "comm_monoid", "a * (b * c) = b * (a * c)",
       "rw [← mul_assoc]", "rw [mul_comm a b]", "rw [mul_assoc]"),
    _f("mul_right_comm", "comm_monoid", "a * b * c = a * c * b",
       "rw [mul_assoc]", "rw [mul_comm b c]", "rw [← mul_assoc]"),
    _f("mul_mul_mul_comm", "comm_monoid", "a * b * (c * d) = a * c * (b * d)",
       "rw [mul_assoc]", "rw [← mul_assoc b]", "rw [mul_comm b c]", "rw [mul_assoc c]", "rw [← mul_assoc]"),
    # --- group
    _f("inv_inv", "group", "a⁻¹⁻¹ = a",
       "rw [← mul_one a⁻¹⁻¹]", "rw [← inv_mul a]", "rw [← mul_assoc]", "rw [inv_mul]", "rw [one_mul]"),
    _f("mul_inv_rev", "group", "(a * b)⁻¹ = b⁻¹ * a⁻¹",
       "rw [← mul_one (a * b)⁻¹]", "rw [← mul_inv a]",
       ("rw [← mul_one a]", "(a * b)⁻¹ * (a * 1 * a⁻¹) = b⁻¹ * a⁻¹"),
       "rw [← mul_inv b]", "rw [← mul_assoc a b]", "rw [mul_assoc (a * b)]", "rw [← mul_assoc]",
       "rw [inv_mul]", "rw [one_mul]"),
    _f("mul_left_cancel", "group", "a * b = a * c → b = c",
       "rw [← one_mul b]", "rw [← inv_mul a]", "rw [mul_assoc]", "rw [h1]", "rw [← mul_assoc]",
       "rw [inv_mul]", "rw [one_mul]"),
    _f("mul_right_cancel", "group", "b * a = c * a → b = c",
       "rw [← mul_one b]", "rw [← mul_inv a]", "rw [← mul_assoc]", "rw [h1]", "rw [mul_assoc]",
       "rw [mul_inv]", "rw [mul_one]"),
    _f("inv_eq_of_mul_eq_one_right", "group", "a * b = 1 → a⁻¹ = b",
       "rw [← mul_one a⁻¹]", "rw [← h1]", "rw [← mul_assoc]", "rw [inv_mul]", "rw [one_mul]"),
    _f("eq_inv_of_mul_eq_one_left", "group", "a * b = 1 → a = b⁻¹",
       "rw [← mul_one a]", "rw [← mul_inv b]", "rw [← mul_assoc]", "rw [h1]", "rw [one_mul]"),
    _f("mul_left_eq_self", "group", "a * b = b → a = 1",
       "rw [← mul_one a]", "rw [← mul_inv b]", "rw [← mul_assoc]", "rw [h1]", "rw [mul_inv]"),
    _f("mul_right_eq_self", "group", "a * b = a → b = 1",
       "rw [← one_mul b]", "rw [← inv_mul a]", "rw [mul_assoc]", "rw [h1]", "rw [inv_mul]"),
    _f("mul_inv_cancel_left", "group", "a * (a⁻¹ * b) = b",
       "rw [← mul_assoc]", "rw [mul_inv]", "rw [one_mul]"),
    _f("inv_mul_cancel_left", "group", "a⁻¹ * (a * b) = b",
       "rw [← mul_assoc]", "rw [inv_mul]", "rw [one_mul]"),
    _f("mul_inv_cancel_right", "group", "a * b * b⁻¹ = a",
       "rw [mul_assoc]", "rw [mul_inv]", "rw [mul_one]"),
    _f("inv_mul_cancel_right", "group", "a * b⁻¹ * b = a",
       "rw [mul_assoc]", "rw [inv_mul]", "rw [mul_one]"),
    _f("inv_one", "group", "1⁻¹ = 1",
       "rw [← mul_one 1⁻¹]", "rw [inv_mul]"),
    _f("mul_inv_distrib", "comm_group", "(a * b)⁻¹ = a⁻¹ * b⁻¹",
       "rw [mul_inv_rev]", "rw [mul_comm]"),
    _f("mul_inv_comm", "comm_group", "a * b⁻¹ = b⁻¹ * a",
       "rw [mul_comm]"),
    # --- ring
    _f("mul_zero", "ring", "a * 0 = 0",
       "rw [← add_zero (a * 0)]", ("rw [← add_neg (a * 0)]", "a * 0 + (a * 0 + -(a * 0)) = 0"),
       "rw [← add_assoc]", "rw [← left_distrib]", "rw [zero_add]", "rw [add_neg]"),
    _f("zero_mul", "ring", "0 * a = 0",
       "rw [← add_zero (0 * a)]", ("rw [← add_neg (0 * a)]", "0 * a + (0 * a + -(0 * a)) = 0"),
       "rw [← add_assoc]", "rw [← right_distrib]", "rw [zero_add]", "rw [add_neg]"),
    _f("neg_neg", "ring", "- -a = a",
       "rw [← add_zero (- -a)]", "rw [← neg_add a]", "rw [← add_assoc]", "rw [neg_add]", "rw [zero_add]"),
    _f("neg_zero", "ring", "-0 = 0",
       "rw [← zero_add (-0)]", "rw [add_neg]"),
    _f("neg_mul", "ring", "-a * b = -(a * b)",
       "rw [← add_zero (-a * b)]", "rw [← add_neg (a * b)]", "rw [← add_assoc]", "rw [← right_distrib]",
       "rw [neg_add]", "rw [zero_mul]", "rw [zero_add]"),
    _f("mul_neg", "ring", "a * -b = -(a * b)",
       "rw [← add_zero (a * -b)]", "rw [← add_neg (a * b)]", "rw [← add_assoc]", "rw [← left_distrib]",
       "rw [neg_add]", "rw [mul_zero]", "rw [zero_add]"),
    _f("neg_mul_neg", "ring", "-a * -b = a * b",
       "rw [neg_mul]", "rw [mul_neg]", "rw [neg_neg]"),
    _f("neg_mul_comm", "ring", "-a * b = a * -b",
       "rw [neg_mul]", "rw [mul_neg]"),
    _f("add_left_cancel", "ring", "a + b = a + c → b = c",
       "rw [← zero_add b]", "rw [← neg_add a]", "rw [add_assoc]", "rw [h1]", "rw [← add_assoc]",
       "rw [neg_add]", "rw [zero_add]"),
    _f("neg_add_cancel_left", "ring", "-a + (a + b) = b",
       "rw [← add_assoc]", "rw [neg_add]", "rw [zero_add]"),
    _f("add_neg_cancel_right", "ring", "a + b + -b = a",
       "rw [add_assoc]", "rw [add_neg]", "rw [add_zero]"),
    _f("neg_eq_of_add_eq_zero_right", "ring", "a + b = 0 → -a = b",
       "rw [← add_zero (-a)]", "rw [← h1]", "rw [← add_assoc]", "rw [neg_add]", "rw [zero_add]"),
    _f("mul_add_one", "ring", "a * (b + 1) = a * b + a",
       "rw [left_distrib]", "rw [mul_one]"),
    _f("add_one_mul", "ring", "(a + 1) * b = a * b + b",
       "rw [right_distrib]", "rw [one_mul]"),
    _f("add_mul_self", "comm_ring", "(a + b) * c = c * a + c * b",
       "rw [right_distrib]", "rw [mul_comm a c]", "rw [mul_comm b c]"),
    _f("add_add_add_comm", "comm_semiring", "a + b + (c + d) = a + c + (b + d)",
       "rw [add_assoc]", "rw [← add_assoc b]", "rw [add_comm b c]", "rw [add_assoc c]", "rw [← add_assoc]"),
    # --- lattice
    _f("inf_idem", "lattice", "a ⊓ a = a",
       ("rw [← sup_inf_self a a]", "a ⊓ (a ⊔ a ⊓ a) = a"), "rw [inf_sup_self]"),
    _f("sup_idem", "lattice", "a ⊔ a = a",
       ("rw [← inf_sup_self a a]", "a ⊔ a ⊓ (a ⊔ a) = a"), "rw [sup_inf_self]"),
    _f("inf_sup_absorb", "lattice", "(a ⊔ b) ⊓ a = a",
       "rw [inf_comm]", "rw [inf_sup_self]"),
    _f("sup_inf_absorb", "lattice", "a ⊓ b ⊔ a = a",
       "rw [sup_comm]", "rw [sup_inf_self]"),
    _f("inf_left_comm", "lattice", "a ⊓ (b ⊓ c) = b ⊓ (a ⊓ c)",
       "rw [← inf_assoc]", "rw [inf_comm a b]", "rw [inf_assoc]"),
    _f("sup_left_comm", "lattice", "a ⊔ (b ⊔ c) = b ⊔ (a ⊔ c)",
       "rw [← sup_assoc]", "rw [sup_comm a b]", "rw [sup_assoc]"),
    _f("inf_right_comm", "lattice", "a ⊓ b ⊓ c = a ⊓ c ⊓ b",
       "rw [inf_assoc]", "rw [inf_comm b c]", "rw [← inf_assoc]"),
    _f("sup_right_comm", "lattice", "a ⊔ b ⊔ c = a ⊔ c ⊔ b",
       "rw [sup_assoc]", "rw [sup_comm b c]", "rw [← sup_assoc]"),
    _f("inf_inf_distrib_left", "lattice", "a ⊓ (b ⊓ c) = a ⊓ b ⊓ (a ⊓ c)",
       "rw [← inf_idem a]", "rw [inf_assoc]", "rw [inf_left_comm a b]", "rw [← inf_assoc]"),
    _f("sup_sup_distrib_left", "lattice", "a ⊔ (b ⊔ c) = a ⊔ b ⊔ (a ⊔ c)",
       "rw [← sup_idem a]", "rw [sup_assoc]", "rw [sup_left_comm a b]", "rw [← sup_assoc]"),
    # --- distributive lattice
    _f("sup_inf_right", "distrib_lattice", "a ⊓ b ⊔ c = (a ⊔ c) ⊓ (b ⊔ c)",
       "rw [sup_comm]", "rw [sup_inf_left]", "rw [sup_comm c a]", "rw [sup_comm c b]"),
    _f("inf_sup_right", "distrib_lattice", "(a ⊔ b) ⊓ c = a ⊓ c ⊔ b ⊓ c",
       "rw [inf_comm]", "rw [inf_sup_left]", "rw [inf_comm c a]", "rw [inf_comm c b]"),
    # --- boolean algebra
    _f("compl_inf_self", "boolean_algebra", "aᶜ ⊓ a = ⊥",
       "rw [inf_comm]", "rw [inf_compl]"),
    _f("compl_sup_self", "boolean_algebra", "aᶜ ⊔ a = ⊤",
       "rw [sup_comm]", "rw [sup_compl]"),
    _f("top_inf", "boolean_algebra", "⊤ ⊓ a = a",
       "rw [inf_comm]", "rw [inf_top]"),
    _f("bot_sup", "boolean_algebra", "⊥ ⊔ a = a",
       "rw [sup_comm]", "rw [sup_bot]"),
    _f("inf_bot", "boolean_algebra", "a ⊓ ⊥ = ⊥",
       "rw [← inf_compl a]", "rw [← inf_assoc]", "rw [inf_idem]", "rw [inf_compl]"),
    _f("sup_top", "boolean_algebra", "a ⊔ ⊤ = ⊤",
       "rw [← sup_compl a]", "rw [← sup_assoc]", "rw [sup_idem]", "rw [sup_compl]"),
    _f("compl_bot", "boolean_algebra", "⊥ᶜ = ⊤",
       "rw [← bot_sup ⊥ᶜ]", "rw [sup_compl]"),
    _f("compl_top", "boolean_algebra", "⊤ᶜ = ⊥",
       "rw [← top_inf ⊤ᶜ]", "rw [inf_compl]"),
    _f("compl_compl", "boolean_algebra", "aᶜᶜ = a",
       "rw [← inf_top aᶜᶜ]", "rw [← sup_compl a]", "rw [inf_sup_left]", "rw [inf_comm aᶜᶜ aᶜ]",
       "rw [inf_compl]", "rw [sup_bot]", ("rw [← inf_top a]", "aᶜᶜ ⊓ a = a ⊓ ⊤"),
       "rw [← sup_compl aᶜ]", "rw [inf_sup_left]", "rw [inf_compl]", "rw [sup_comm]", "rw [sup_bot]",
       "rw [inf_comm]"),
    _f("compl_unique", "boolean_algebra", "a ⊓ b = ⊥ → a ⊔ b = ⊤ → aᶜ = b",
       "symm", "rw [← inf_top b]", "rw [← sup_compl a]", "rw [inf_sup_left]", "rw [inf_comm b a]",
       "rw [h1]", ("rw [← compl_inf_self a]", "aᶜ ⊓ a ⊔ b ⊓ aᶜ = aᶜ"), "rw [inf_comm b aᶜ]",
       "rw [← inf_sup_left]", "rw [h2]", "rw [inf_top]"),
    # De Morgan: a ⊓ b and aᶜ ⊔ bᶜ are complements (two lemmas), so the complement is unique (inline)
    _f("inf_sup_compls", "boolean_algebra", "a ⊓ b ⊔ (aᶜ ⊔ bᶜ) = ⊤",
       "rw [sup_inf_right]", "rw [← sup_assoc]", "rw [sup_compl]", "rw [sup_comm ⊤]", "rw [sup_top]",
       "rw [top_inf]", "rw [sup_left_comm]", "rw [sup_compl]", "rw [sup_top]"),
    _f("inf_inf_compls", "boolean_algebra", "a ⊓ b ⊓ (aᶜ ⊔ bᶜ) = ⊥",
       "rw [inf_sup_left]", "rw [inf_right_comm a b]", "rw [inf_compl]", "rw [inf_comm ⊥]", "rw [inf_bot]",
       "rw [inf_assoc]", "rw [inf_compl]", "rw [inf_bot]", "rw [sup_bot]"),
    _f("compl_inf", "boolean_algebra", "(a ⊓ b)ᶜ = aᶜ ⊔ bᶜ",
       "rw [← inf_top (a ⊓ b)ᶜ]", "rw [← inf_sup_compls a b]", "rw [inf_sup_left]", "rw [compl_inf_self]",
       "rw [bot_sup]", ("rw [← inf_top (aᶜ ⊔ bᶜ)]", "(a ⊓ b)ᶜ ⊓ (aᶜ ⊔ bᶜ) = (aᶜ ⊔ bᶜ) ⊓ ⊤"),
       "rw [← sup_compl (a ⊓ b)]", "rw [inf_sup_left (aᶜ ⊔ bᶜ)]", "rw [inf_comm (aᶜ ⊔ bᶜ) (a ⊓ b)]",
       "rw [inf_inf_compls]", "rw [bot_sup]", "rw [inf_comm (aᶜ ⊔ bᶜ)]"),
    _f("compl_sup", "boolean_algebra", "(a ⊔ b)ᶜ = aᶜ ⊓ bᶜ",
       "rw [← compl_compl (aᶜ ⊓ bᶜ)]", "rw [compl_inf]", "rw [compl_compl]", "rw [compl_compl]"),
]

CATALOG = {}  # name -> [Fact, ...] (a name may be proved in several structures)
for _fact in CATALOG_FACTS:
    CATALOG.setdefault(_fact.name, []).append(_fact)


def fact_statement(fact: Fact) -> tuple[Term, Term]:
    """The fact's conclusion as a pattern (its constants read as pattern variables), as cited by @P."""
    return _statement(fact.conclusion)


def catalog_lemmas(structure: str) -> list[Fact]:
    """Facts without hypotheses that a certificate in `structure` may cite: mul_zero for comm_ring."""
    s = STRUCTURES[structure]
    return [f for f in CATALOG_FACTS if not f.hypotheses and axioms_subset(STRUCTURES[f.structure], s)]


def canonical_statement(lhs: Term, rhs: Term) -> tuple[tuple, tuple]:
    """Both orientations, renamed canonically: a premise matches if its canonical form is either."""
    return canonical(lhs, rhs), canonical(rhs, lhs)


def _renamed(eqs) -> tuple:
    """Equations printed with their identifiers renamed v0, v1, ... by first appearance:
    [(b * a, a)] -> ('v0 * v1 = v1',)."""
    found = []
    for lhs, rhs in eqs:
        names(rhs, names(lhs, found))
    ren = {n: Var(f"v{i}") for i, n in enumerate(found)}
    return tuple(print_equation(substitute(lhs, ren), substitute(rhs, ren)) for lhs, rhs in eqs)


def _orientations(eq):
    """(smallest renamed spelling of eq alone, the orientations of eq that spell it)."""
    both = (eq, (eq[1], eq[0]))
    spelt = [_renamed([e])[0] for e in both]
    least = min(spelt)
    return least, [e for e, sp in zip(both, spelt) if sp == least]


def statement_class(structure: str | None, hyps, concl) -> tuple:
    """A key equal for two statements iff they are the same up to renaming identifiers (constants
    and pattern variables alike), swapping the sides of the conclusion or of any hypothesis, and
    reordering the hypotheses. hyps: [(lhs, rhs)], concl: (lhs, rhs), Terms; structure None leaves
    the structure out of the key.

        ('group', [], (1, b * a⁻¹)) and ('group', [], (x * y⁻¹, 1)) -> ('group', 'v0 * v1⁻¹ = 1')

    The key is the smallest joint spelling (renamed v0, v1, ... by first appearance, conclusion
    first) over the orientations and hypothesis orders that the equations' own spellings allow:
    each equation turned to its smaller spelling alone, hypotheses sorted by it; only ties are
    tried both ways (a * b = b * a) or in every order.
    """
    _, concl_opts = _orientations(concl)
    hyp_opts = sorted((_orientations(h) for h in hyps), key=lambda o: o[0])
    groups = itertools.groupby(hyp_opts, key=lambda o: o[0])
    orders = [list(itertools.permutations([opts for _, opts in g])) for _, g in groups]
    best = None
    for c in concl_opts:
        for parts in itertools.product(*orders):
            seq = [opts for part in parts for opts in part]
            for hs in itertools.product(*seq):
                key = _renamed([c, *hs])
                if best is None or key < best:
                    best = key
    return (structure,) + best
