"""astgen as a LibCST codemod command, for `python -m libcst.tool codemod`:

    python -m libcst.tool codemod --no-format -x astgen.refactor.codemod.AstgenCommand src/      # fill the `...` holes
    python -m libcst.tool codemod --no-format -x astgen.refactor.codemod.AstgenCommand --function K.run src/k.py
    python -m libcst.tool codemod --no-format -x astgen.refactor.codemod.AstgenCommand --span 12:5-12:30 src/k.py
    python -m libcst.tool codemod --no-format -x astgen.refactor.codemod.AstgenCommand --samples 16 --doctest src/

`--no-format` matters: without it the tool runs a formatter (black) over each whole file, which
would change the bytes astgen keeps (and fails if no formatter is installed).  Files without a hole
are skipped; files astgen cannot handle fail with astgen's one-line message (a file none of whose
--samples passes --doctest or --check-cmd fails too, and stays as it is); LibCST's other options
(-j, --show-successes, ...) apply as usual."""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodCommand, CodemodContext, SkipFile

from astgen.errors import NoHoleError
from astgen.refactor.files import Operation, apply_operation, parse_span
from astgen.refactor.filler import HoleFiller, sampling_config

__all__ = ["AstgenCommand"]


@lru_cache(maxsize=2)
def _generator(checkpoint: str | None) -> HoleFiller:
    from astgen.generator import load

    return load(Path(checkpoint) if checkpoint else None)


class AstgenCommand(CodemodCommand):
    """Fill `...` holes, or rewrite a function body or the node covering a span, byte-exactly."""

    DESCRIPTION: str = (
        "Fill the `...` holes (default; idiomatic `...` stay unless --all-holes), or regenerate a function body "
        "(--function) or the smallest node covering a span (--span), with astgen's grammar-constrained model; "
        "every other byte is kept."
    )

    def __init__(
        self,
        context: CodemodContext,
        function: str | None = None,
        span: str | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_actions: int = 256,
        checkpoint: str | None = None,
        generator: HoleFiller | None = None,
        all_holes: bool = False,
        samples: int = 1,
        doctest: bool = False,
        check_cmd: str | None = None,
        check_timeout: float | None = None,
        top_p: float | None = None,
    ) -> None:
        super().__init__(context)
        if function and span:
            raise ValueError("give at most one of --function and --span")
        if function:
            self.operation = Operation("function", function=function)
        elif span:
            self.operation = Operation("span", span=parse_span(span))
        else:
            self.operation = Operation("infill", all_holes=all_holes)
        # (unset temperature / top-p: greedy for one sample, 0.8 / 0.95 for several, as on the command line)
        self.sampling = sampling_config(
            temperature, top_p, seed, max_actions,
            samples=samples, doctest=doctest, check_cmd=check_cmd, check_timeout=check_timeout,
        )  # fmt: skip
        self.checkpoint = checkpoint
        self.generator = generator

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--function", default=None, help="regenerate this function's body (f or Class.f)")
        arg_parser.add_argument("--span", default=None, help="regenerate the node covering L:C-L:C (1-based)")
        arg_parser.add_argument(
            "--temperature", type=float, default=None, help="0 = greedy (default; 0.8 with --samples)"
        )
        arg_parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling (0.95 with --samples > 1)")
        arg_parser.add_argument("--samples", type=int, default=1, help="fillings sampled, the best passing one kept")
        arg_parser.add_argument("--doctest", action="store_true", help="keep a filling whose doctests pass")
        arg_parser.add_argument("--check-cmd", default=None, help="keep a filling for which CMD exits 0 (project copy)")
        arg_parser.add_argument("--check-timeout", type=float, default=None, help="seconds per check run")
        arg_parser.add_argument("--seed", type=int, default=None, help="sampling seed")
        arg_parser.add_argument("--max-actions", type=int, default=256, help="longest hole, in actions")
        arg_parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped one)")
        arg_parser.add_argument(
            "--all-holes", action="store_true", help="fill every `...`, also idiomatic ones (annotations, stubs, ...)"
        )

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        gen = self.generator if self.generator is not None else _generator(self.checkpoint)
        filename = self.context.filename or "<module>"
        try:
            new = apply_operation(gen, tree.bytes, self.operation, filename, self.sampling)
        except NoHoleError as e:
            raise SkipFile(str(e)) from None
        return cst.parse_module(new)
