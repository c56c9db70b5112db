"""Terms of the certificate language: AST, parser, printer, matching and one-position rewriting.

A term is a tree of three frozen (hashable) dataclasses:

    Atom("a")  Atom("1")                      constants: identifiers and the symbols 1 0 ⊤ ⊥
    Var("x")                                  a pattern variable (only in premises, see to_pattern)
    App("*", (Atom("a"), Atom("b")))          operators: postfix ⁻¹ ᶜ, prefix -, binary * + ⊓ ⊔

The parser does not know which identifiers are constants; `to_pattern(t, constants)` turns the
other identifiers of a premise into `Var`s, which `match` binds. Operators, tightest first:
postfix `⁻¹ ᶜ`; prefix `-`; `*`; `+`; `⊓`; `⊔`; binary operators associate to the left. The
printer writes the fewest parentheses that parse back to the same tree (`a⁻¹⁻¹`, `- -a`,
`-a * b` is `(-a) * b`, `a * (b * c)`), so `parse_term(print_term(t)) == t` for every term.

Trade-off: one compiled regex tokenizes a line (C speed), then a hand-written precedence-climbing
parser builds the tree (~20 µs for a typical 30-character goal line on this machine); a generic
parser generator would be ~5x slower, and the checker parses ~150k lines per 3.68M-char corpus.
To keep every recursive helper well inside Python's recursion limit, a term has at most
MAX_TOKENS tokens and MAX_PARENS nested parentheses (real certificates use < 60 and < 5).

    >>> print_term(parse_term("(a * b) * -(c⁻¹)"))
    'a * b * -c⁻¹'
"""

import re
from dataclasses import dataclass

MAX_TOKENS = 400  # per equation; deeper trees would need a raised recursion limit
MAX_PARENS = 40


class ParseError(ValueError):
    """A term or equation that does not parse; `col` is the 1-based column of the bad token."""

    def __init__(self, message: str, col: int):
        super().__init__(f"col {col}: {message}")
        self.message = message
        self.col = col


@dataclass(frozen=True, slots=True)
class Atom:
    name: str  # an identifier [a-z][a-z0-9_]* or one of the constant symbols 1 0 ⊤ ⊥


@dataclass(frozen=True, slots=True)
class Var:
    name: str  # a pattern variable of a premise; prints like the identifier it came from


@dataclass(frozen=True, slots=True)
class App:
    op: str  # "⁻¹" "ᶜ" "-" (one argument) or "*" "+" "⊓" "⊔" (two)
    args: tuple


Term = Atom | Var | App

BINARY = {"⊔": 1, "⊓": 2, "+": 3, "*": 4}  # operator -> precedence (higher binds tighter)
POSTFIX = frozenset(("⁻¹", "ᶜ"))
PREFIX = "-"
SYMBOLS = frozenset(("1", "0", "⊤", "⊥"))
OPERATORS = frozenset(BINARY) | POSTFIX | {PREFIX} | SYMBOLS  # everything a structure may allow
NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")

# identifiers, then the two-character postfix ⁻¹, then one-character tokens; \S catches anything
# else as a one-character token the parser rejects. Whitespace matches nothing and is skipped.
_TOKEN_RE = re.compile(r"[a-z][a-z0-9_]*|⁻¹|[ᶜ*+⊓⊔()=10⊤⊥-]|\S")


def is_name(tok: str) -> bool:
    """'a' -> True, '1' -> False: identifiers are constants or pattern variables, symbols are not."""
    return "a" <= tok[0] <= "z"


def tokenize(s: str) -> list[str]:
    """'a⁻¹ * (b+1)' -> ['a', '⁻¹', '*', '(', 'b', '+', '1', ')']"""
    return _TOKEN_RE.findall(s)


def _column(s: str, tok_index: int) -> int:
    """1-based column of token number tok_index in s (the end of s if past the last token)."""
    for k, m in enumerate(_TOKEN_RE.finditer(s)):
        if k == tok_index:
            return m.start() + 1
    return len(s) + 1


class _Parser:
    """Precedence climbing over a token list; errors carry the token index, turned into a column."""

    __slots__ = ("toks", "i", "n", "parens")

    def __init__(self, toks):
        self.toks, self.i, self.n, self.parens = toks, 0, len(toks), 0

    def fail(self, message):
        raise _TokError(message, self.i)

    def expr(self, min_prec):
        left = self.unary()
        toks = self.toks
        while self.i < self.n:
            prec = BINARY.get(toks[self.i])
            if prec is None or prec < min_prec:
                break
            op = toks[self.i]
            self.i += 1
            left = App(op, (left, self.expr(prec + 1)))  # prec + 1: left associative
        return left

    def unary(self):
        if self.i < self.n and self.toks[self.i] == "-":
            self.i += 1
            return App("-", (self.unary(),))
        return self.postfix()

    def postfix(self):
        x = self.atom()
        toks = self.toks
        while self.i < self.n and toks[self.i] in POSTFIX:
            x = App(toks[self.i], (x,))
            self.i += 1
        return x

    def atom(self):
        if self.i >= self.n:
            self.fail("unexpected end of term")
        tok = self.toks[self.i]
        if tok == "(":
            self.parens += 1
            if self.parens > MAX_PARENS:
                self.fail(f"parentheses nested more than {MAX_PARENS} deep")
            self.i += 1
            x = self.expr(0)
            if self.i >= self.n or self.toks[self.i] != ")":
                self.fail("expected ')'")
            self.i += 1
            self.parens -= 1
            return x
        if is_name(tok) or tok in SYMBOLS:
            self.i += 1
            return Atom(tok)
        if tok in BINARY or tok in POSTFIX or tok in (")", "="):
            self.fail(f"expected a term before {tok!r}")
        self.fail(f"unexpected character {tok!r}")


class _TokError(Exception):
    def __init__(self, message, tok_index):
        self.message, self.tok_index = message, tok_index


def _run(s: str, toks: list[str], parse):
    if len(toks) > MAX_TOKENS:
        raise ParseError(f"term has {len(toks)} tokens, more than the limit {MAX_TOKENS}", 1)
    p = _Parser(toks)
    try:
        return parse(p)
    except _TokError as e:
        raise ParseError(e.message, _column(s, e.tok_index)) from None


def _parse_term(p):
    t = p.expr(0)
    if p.i < p.n:
        p.fail(f"unexpected {p.toks[p.i]!r} after a complete term")
    return t


def _parse_equation(p):
    lhs = p.expr(0)
    if p.i >= p.n or p.toks[p.i] != "=":
        p.fail("expected '='" if p.i >= p.n else f"expected '=' or an operator, got {p.toks[p.i]!r}")
    p.i += 1
    rhs = p.expr(0)
    if p.i < p.n:
        p.fail(f"unexpected {p.toks[p.i]!r} after the right side")
    return lhs, rhs


def _parse_args(p):
    """Explicit rw instances: atoms with postfix operators, or parenthesised terms."""
    args = []
    while p.i < p.n:
        if p.toks[p.i] == "-":
            p.fail("an instance that starts with '-' needs parentheses")
        args.append(p.postfix())
    return args


def parse_term(s: str) -> Term:
    """'a * b⁻¹' -> App('*', (Atom('a'), App('⁻¹', (Atom('b'),)))); ParseError with a column if bad."""
    return _run(s, tokenize(s), _parse_term)


def parse_equation(s: str) -> tuple[Term, Term]:
    """'1 * a = a' -> (App('*', (Atom('1'), Atom('a'))), Atom('a'))"""
    return _run(s, tokenize(s), _parse_equation)


def parse_equation_tokens(s: str, toks: list[str]) -> tuple[Term, Term]:
    """parse_equation for a line already tokenized (the checker also reads names off the tokens)."""
    return _run(s, toks, _parse_equation)


def parse_args(s: str) -> list[Term]:
    """'a (b * c) d⁻¹' -> [Atom('a'), App('*', ...), App('⁻¹', (Atom('d'),))]"""
    return _run(s, tokenize(s), _parse_args)


# ----------------------------------------------------------------------------- printing

def print_term(t: Term) -> str:
    """Fewest parentheses: App('-', (App('-', (Atom('a'),)),)) -> '- -a'; (a*b)⁻¹ -> '(a * b)⁻¹'."""
    if type(t) is not App:
        return t.name
    op, args = t.op, t.args
    prec = BINARY.get(op)
    if prec is not None:
        left, right = args
        ls, rs = print_term(left), print_term(right)
        if type(left) is App and BINARY.get(left.op, 9) < prec:
            ls = f"({ls})"
        if type(right) is App and BINARY.get(right.op, 9) <= prec:  # right nesting needs parens
            rs = f"({rs})"
        return f"{ls} {op} {rs}"
    x = args[0]
    s = print_term(x)
    if op == "-":
        if type(x) is App:
            if x.op in BINARY:
                return f"-({s})"
            if x.op == "-":
                return f"- {s}"  # stacked prefix minus with one space, never '--'
        return "-" + s
    if type(x) is App and (x.op in BINARY or x.op == "-"):
        return f"({s}){op}"
    return s + op


def print_equation(lhs: Term, rhs: Term) -> str:
    return f"{print_term(lhs)} = {print_term(rhs)}"


def print_arg(t: Term) -> str:
    """An explicit rw instance: 'a', 'a⁻¹ᶜ' bare (atom with postfix operators), else '(b * c)'."""
    x = t
    while type(x) is App and x.op in POSTFIX:
        x = x.args[0]
    s = print_term(t)
    return s if type(x) is not App else f"({s})"


# ----------------------------------------------------------------------------- tree helpers

def size(t: Term) -> int:
    """Number of nodes: 'a * b⁻¹' -> 4."""
    if type(t) is not App:
        return 1
    return 1 + sum(size(a) for a in t.args)


def depth(t: Term) -> int:
    """'a' -> 1, 'a * b⁻¹' -> 3."""
    if type(t) is not App:
        return 1
    return 1 + max(depth(a) for a in t.args)


def names(t: Term, out=None) -> list[str]:
    """Identifiers (Atom names and Var names) in order of first appearance: 'b * a * b' -> ['b', 'a']."""
    if out is None:
        out = []
    if type(t) is App:
        for a in t.args:
            names(a, out)
    elif type(t) is Var or is_name(t.name):
        if t.name not in out:
            out.append(t.name)
    return out


def variables(t: Term, out=None) -> list[str]:
    """Pattern variables in order of first appearance: Var x * Var y * Var x -> ['x', 'y']."""
    if out is None:
        out = []
    if type(t) is App:
        for a in t.args:
            variables(a, out)
    elif type(t) is Var and t.name not in out:
        out.append(t.name)
    return out


def operators(t: Term, out=None) -> set[str]:
    """Operators and constant symbols used: 'a * 1' -> {'*', '1'}."""
    if out is None:
        out = set()
    if type(t) is App:
        out.add(t.op)
        for a in t.args:
            operators(a, out)
    elif type(t) is Atom and not is_name(t.name):
        out.add(t.name)
    return out


def to_pattern(t: Term, constants) -> Term:
    """Identifiers not in `constants` become pattern variables: ('x * a', {'a'}) -> Var x * Atom a."""
    if type(t) is App:
        return App(t.op, tuple(to_pattern(a, constants) for a in t.args))
    if type(t) is Atom and is_name(t.name) and t.name not in constants:
        return Var(t.name)
    return t


def substitute(t: Term, binding: dict) -> Term:
    """Replace Vars (and Atom identifiers) named in `binding`: (x * 1, {x: a⁻¹}) -> a⁻¹ * 1.

    Used both to instantiate a premise (Var -> term) and to instantiate a theorem's constants
    with random terms (Atom -> term); names not in `binding` are left alone.
    """
    if type(t) is App:
        return App(t.op, tuple(substitute(a, binding) for a in t.args))
    return binding.get(t.name, t) if (type(t) is Var or is_name(t.name)) else t


def match(pattern: Term, t: Term, binding: dict) -> dict | None:
    """Extend `binding` (mutated) so that pattern instantiates to t, or None: (x * 1, a * 1) -> {x: a}."""
    tp = type(pattern)
    if tp is Var:
        bound = binding.get(pattern.name)
        if bound is None:
            binding[pattern.name] = t
            return binding
        return binding if bound == t else None
    if tp is Atom:
        return binding if (type(t) is Atom and t.name == pattern.name) else None
    if type(t) is not App or t.op != pattern.op:
        return None
    for p, a in zip(pattern.args, t.args):
        if match(p, a, binding) is None:
            return None
    return binding


def positions(t: Term, pos: tuple = (), out=None) -> list[tuple[tuple, Term]]:
    """All (position, subterm) pairs in pre-order: 'a * b' -> [((), a * b), ((0,), a), ((1,), b)]."""
    if out is None:
        out = []
    out.append((pos, t))
    if type(t) is App:
        for i, a in enumerate(t.args):
            positions(a, pos + (i,), out)
    return out


def subterm(t: Term, pos: tuple) -> Term:
    for i in pos:
        t = t.args[i]
    return t


def replace(t: Term, pos: tuple, new: Term) -> Term:
    """t with the subterm at pos replaced: ('a * b', (1,), c) -> a * c."""
    if not pos:
        return new
    i = pos[0]
    args = list(t.args)
    args[i] = replace(args[i], pos[1:], new)
    return App(t.op, tuple(args))


def rewrite_at(t: Term, pos: tuple, lhs: Term, rhs: Term, binding: dict | None = None) -> Term | None:
    """Rewrite the instance of lhs at pos into the same instance of rhs, or None if lhs does not match
    there or rhs has a variable left unbound: (a * 1, (), x * 1, x) -> a."""
    b = match(lhs, subterm(t, pos), dict(binding or {}))
    if b is None:
        return None
    new = substitute(rhs, b)
    if any(True for _ in _vars_in(new)):
        return None
    return replace(t, pos, new)


def _vars_in(t):
    if type(t) is Var:
        yield t
    elif type(t) is App:
        for a in t.args:
            yield from _vars_in(a)


def rewrites_to(old: Term, new: Term, lhs: Term, rhs: Term, binding: dict) -> bool:
    """True iff `new` is `old` with ONE occurrence of an instance of lhs replaced by the same instance
    of rhs (instance consistent with `binding`, unbound variables of rhs decided by `new`).

    Fast path: the rewrite position must lie on the chain of nodes where exactly one child
    differs between old and new (outside the rewritten subterm the trees are identical), so only
    that chain is tried, deepest first: ~depth matches instead of one per subterm.

        >>> x, y = Var("x"), Var("y")
        >>> rewrites_to(parse_term("a * 1 * b"), parse_term("a * b"), App("*", (x, Atom("1"))), x, {})
        True
    """
    if old == new:  # an unchanged goal is allowed if some instance rewrites to itself
        for _, s in positions(old):
            b = match(lhs, s, dict(binding))
            if b is not None and match(rhs, s, b) is not None:
                return True
        return False
    chain = []
    s, n = old, new
    while True:
        chain.append((s, n))
        if type(s) is App and type(n) is App and s.op == n.op:
            differ = [i for i in range(len(s.args)) if s.args[i] != n.args[i]]
            if len(differ) == 1:
                s, n = s.args[differ[0]], n.args[differ[0]]
                continue
        break
    for s, n in reversed(chain):
        b = match(lhs, s, dict(binding))
        if b is not None and match(rhs, n, b) is not None:
            return True
    return False


def canonical(lhs: Term, rhs: Term) -> tuple[Term, Term]:
    """Rename pattern variables by order of first appearance (left side first) to _0, _1, ...:
    equal results mean equal statements up to renaming. (y * x = x * y) -> (_0 * _1 = _1 * _0)."""
    order = variables(rhs, variables(lhs))
    ren = {v: Var(f"_{i}") for i, v in enumerate(order)}
    return _rename_vars(lhs, ren), _rename_vars(rhs, ren)


def _rename_vars(t, ren):
    if type(t) is App:
        return App(t.op, tuple(_rename_vars(a, ren) for a in t.args))
    return ren[t.name] if type(t) is Var else t
