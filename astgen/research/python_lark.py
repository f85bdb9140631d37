"""A Lark grammar (llguidance dialect) of canonical Python, for constraining the token baseline.

It describes the layout `ast.unparse` writes — the layout both models are trained on: one statement
per line, 4-space indentation, single spaces around binary operators and after commas, no comments,
no backslash continuations, blank lines only before definitions.  A context-free grammar cannot count indentation, so
statements are generated per nesting depth up to `max_depth` (deeper code is rejected).

What it cannot express (programs it accepts that Python rejects, or the reverse):
* names: whether a name is bound (`nonlocal x` needs an enclosing binding), duplicate parameters,
  `return`/`yield` outside a function, `break` outside a loop, `await` outside `async def`;
* f-string replacement fields are not parsed (any text between the quotes);
* keywords are excluded from names, soft keywords (`match`, `case`, `type`) and `match` statements
  are not covered; non-ASCII identifiers are not accepted;
* nesting deeper than `max_depth`."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["python_grammar"]

KEYWORDS = (
    "False None True and as assert async await break class continue def del elif else except finally "
    "for from global if import in is lambda nonlocal not or pass raise return try while with yield"
).split()

_EXPRESSIONS = r"""
expr: lambdef | disj | disj " if " disj " else " expr
expr_nc: lambdef_nc | disj
lambdef: "lambda" lparams? ": " expr
lambdef_nc: "lambda" lparams? ": " expr_nc
lparams: " " lparam ("," " " lparam)*
lparam: NAME | NAME "=" expr | "*" NAME? | "**" NAME | "/"
disj: conj (" or " conj)*
conj: inv (" and " inv)*
inv: "not " inv | comparison
comparison: bor (comp_op bor)*
comp_op: " == " | " != " | " < " | " > " | " <= " | " >= " | " in " | " not in " | " is " | " is " "not "
bor: bxor (" | " bxor)*
bxor: band (" ^ " band)*
band: shift (" & " shift)*
shift: arith (shift_op arith)*
shift_op: " << " | " >> "
arith: term (arith_op term)*
arith_op: " + " | " - "
term: factor (term_op factor)*
term_op: " * " | " / " | " // " | " % " | " @ "
factor: unary_op factor | power
unary_op: "-" | "+" | "~"
power: await_primary (" ** " factor)?
await_primary: "await " primary | primary
primary: atom | primary "." NAME | primary "(" args? ")" | primary "[" subscripts "]"
atom: NAME | NUMBER | strings | "..." | "None" | "True" | "False" | "(" ")" | "(" paren_body ")" | "[" list_body? "]"
    | "{" "}" | "{" dict_body "}" | "{" set_body "}"
strings: STRING (" " STRING)*
paren_body: expr | star_item "," | star_item ("," " " star_item)+ ","? | NAME " := " expr
    | "yield" (" " yield_arg)? | expr comp_for
list_body: star_item ("," " " star_item)* ","? | expr comp_for
set_body: star_item ("," " " star_item)* | expr comp_for
dict_body: dict_item ("," " " dict_item)* | expr ": " expr comp_for
dict_item: expr ": " expr | "**" bor
star_item: expr | "*" bor | NAME " := " expr
comp_for: (" async"? " for " targets " in " disj (" if " expr_nc)*)+
args: arg ("," " " arg)* | expr comp_for
arg: expr | "*" expr | "**" expr | NAME "=" expr | NAME " := " expr
subscripts: subscript | subscript "," | subscript ("," " " subscript)+ ","?
subscript: expr | expr? ":" expr? (":" expr?)? | "*" bor
exprlist: star_item | star_item "," | star_item ("," " " star_item)+ ","?
yield_arg: "from " expr | exprlist
target: NAME | primary "." NAME | primary "[" subscripts "]" | "(" targets ")" | "[" targets "]" | "*" target
targets: target | target "," | target ("," " " target)+ ","?
"""

_Q3 = '"' * 3
_S3 = "'" * 3
_STRING_RE = (
    r"([rRbBuUfF]|[rR][bBfF]|[bBfF][rR])?("
    r"'([^'\\\n]|\\.)*'"
    r'|"([^"\\\n]|\\.)*"'
    + "|"
    + _S3
    + r"([^'\\]|\\(.|\n)|'[^'\\]|''[^'\\])*"
    + _S3
    + "|"
    + _Q3
    + r'([^"\\]|\\(.|\n)|"[^"\\]|""[^"\\])*'
    + _Q3
    + ")"
)
_TERMINALS = r"""
NAME: /[A-Za-z_][A-Za-z_0-9]*/ & ~(KEYWORDS)
NUMBER: /(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)([eE][-+]?[0-9]+)?[jJ]?)/
STRING: /STRING_RE/
"""

_SIMPLE = r"""
simple_stmt: exprlist | assign | augassign | annassign | "pass" | "break" | "continue"
    | "return" (" " exprlist)? | "raise" (" " expr (" from " expr)?)? | "global " NAME ("," " " NAME)*
    | "nonlocal " NAME ("," " " NAME)* | "del " targets | "assert " expr ("," " " expr)? | import_stmt
    | "yield" (" " yield_arg)?
assign: (targets " = ")+ (exprlist | "yield" (" " yield_arg)?)
augassign: target aug_op (exprlist | "yield" (" " yield_arg)?)
aug_op: " += " | " -= " | " *= " | " /= " | " //= " | " %= " | " @= "
    | " &= " | " |= " | " ^= " | " >>= " | " <<= " | " **= "
annassign: target ": " expr (" = " (exprlist | "yield" (" " yield_arg)?))?
import_stmt: "import " dotted_as ("," " " dotted_as)*
    | "from " rel_module " import " ("*" | import_as ("," " " import_as)*)
dotted_as: dotted (" as " NAME)?
import_as: NAME (" as " NAME)?
dotted: NAME ("." NAME)*
rel_module: "."* dotted | "."+
params: param ("," " " param)*
param: NAME (": " expr)? ("=" expr)? | "*" (NAME (": " expr)?)? | "**" NAME (": " expr)? | "/"
with_item: expr (" as " target)?
"""

_COMPOUND = r"""
stmt_D: simple_stmt | compound_D
stmts_D: stmt_D (NL_D stmt_D)*
block_D: ":" NL_E stmts_E
compound_D: if_D | while_D | for_D | try_D | with_D | funcdef_D | classdef_D | decorated_D
if_D: "if " expr block_D (NL_D "elif " expr block_D)* (NL_D "else" block_D)?
while_D: "while " expr block_D (NL_D "else" block_D)?
for_D: "async "? "for " targets " in " exprlist block_D (NL_D "else" block_D)?
try_D: "try" block_D (except_D+ (NL_D "else" block_D)? (NL_D "finally" block_D)? | NL_D "finally" block_D)
except_D: NL_D "except" "*"? (" " expr (" as " NAME)?)? block_D
with_D: "async "? "with " with_item ("," " " with_item)* block_D
funcdef_D: "async "? "def " NAME "(" params? ")" (" -> " expr)? block_D
classdef_D: "class " NAME ("(" args? ")")? block_D
decorated_D: ("@" expr NL_D)+ (funcdef_D | classdef_D)
NL_D: /\n\n?INDENT/
"""


_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _split_spaces(rules: str) -> str:
    """Spaces around a literal become their own lexemes: `" in "` -> `" " "in" " "`.

    llguidance lexes greedily without backtracking, so a lexeme like `" in "` would swallow the
    space of `, item` and then fail; with single-space lexemes the choice is made on the word."""

    def split(m: re.Match[str]) -> str:
        body = m.group(1)
        core = body.strip(" ")
        if not core or core == body:
            return m.group(0)
        lead, trail = len(body) - len(body.lstrip(" ")), len(body) - len(body.rstrip(" "))
        return "(" + " ".join(['" "'] * lead + [f'"{core}"'] + ['" "'] * trail) + ")"

    return _LITERAL.sub(split, rules)


@lru_cache(maxsize=16)
def python_grammar(start: str, max_depth: int = 8) -> str:
    """The grammar text with `start: <start>`; `start` names a rule, e.g. "expr", "args",
    "stmts_2" (statements at depth 2, the first without its indentation), "module"."""
    parts = [f"start: {start}\n", 'module: stmts_0 "\\n"?\n', _split_spaces(_EXPRESSIONS), _split_spaces(_SIMPLE)]
    for d in range(max_depth + 1):
        text = _COMPOUND.replace("INDENT", "    " * d).replace("_D", f"_{d}").replace("_E", f"_{d + 1}")
        if d == max_depth:  # the deepest level has simple statements only
            text = text.replace(f"stmt_{d}: simple_stmt | compound_{d}", f"stmt_{d}: simple_stmt")
            text = "\n".join(line for line in text.splitlines() if f"block_{d}:" not in line)
            text = "\n".join(
                line
                for line in text.splitlines()
                if not line.startswith(
                    (
                        "if_",
                        "while_",
                        "for_",
                        "try_",
                        "except_",
                        "with_",
                        "funcdef_",
                        "classdef_",
                        "decorated_",
                        "compound_",
                    )
                )
            )
        parts.append(_split_spaces(text))
    keywords = " | ".join(f'"{k}"' for k in KEYWORDS)
    parts.append(_TERMINALS.replace("KEYWORDS", keywords).replace("STRING_RE", _STRING_RE))
    return "\n".join(parts)
