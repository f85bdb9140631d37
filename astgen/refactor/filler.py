"""What the refactoring tool needs from a model: a `HoleFiller`, and the `SamplingConfig` it is asked with.

The splice only ever calls `fill_holes` (one filling) or `fill_candidates` (several, with their
log-probabilities) on source whose holes are marker names; any object with those methods (the
library's `Generator`, or a test double) can drive it.  The sampling options travel from
the command line (or the codemod's arguments) to that call as one frozen config."""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from astgen.checks import CommandCheck, DoctestCheck, FileCheck
from astgen.errors import InvalidOptionError
from astgen.grammar.versions import RUNNING

__all__ = ["HoleFiller", "SamplingConfig", "sampling_config"]


@dataclass(frozen=True)
class SamplingConfig:
    """How holes are filled: `temperature` 0 is greedy; `max_actions` bounds each hole's length.  With
    `samples` > 1 or a `check`, that many fillings are sampled in one batch and the most likely one
    that passes the check is written (`astgen.checks`)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    max_actions: int = 256
    target_version: tuple[int, int] = RUNNING  # the Python whose syntax fills may use
    samples: int = 1
    check: FileCheck | None = None


def sampling_config(
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    max_actions: int = 256,
    target_version: tuple[int, int] = RUNNING,
    samples: int = 1,
    doctest: bool = False,
    check_cmd: str | None = None,
    check_timeout: float | None = None,
) -> SamplingConfig:
    """The SamplingConfig of the command-line options (the CLI's and the codemod's): sampling defaults
    follow `samples` (greedy for one, temperature 0.8 and top-p 0.95 for several); one check at most.
    Raises InvalidOptionError for options that do not go together."""
    if samples < 1:
        raise InvalidOptionError(f"--samples must be at least 1, got {samples}")
    if doctest and check_cmd is not None:
        raise InvalidOptionError("choose at most one of --doctest and --check-cmd")
    many = samples > 1
    check: DoctestCheck | CommandCheck | None = None
    if doctest:
        check = DoctestCheck() if check_timeout is None else DoctestCheck(timeout_s=check_timeout)
    elif check_cmd is not None:
        if not check_cmd.strip():
            raise InvalidOptionError("--check-cmd needs a command")
        check = CommandCheck(check_cmd) if check_timeout is None else CommandCheck(check_cmd, timeout_s=check_timeout)
    return SamplingConfig(
        temperature=(0.8 if many else 0.0) if temperature is None else temperature,
        top_p=(0.95 if many else 1.0) if top_p is None else top_p,
        seed=seed,
        max_actions=max_actions,
        target_version=target_version,
        samples=samples,
        check=check,
    )


class HoleFiller(Protocol):
    """Fills the marker holes (`__astgen_hole_<k>__`) of a module: {k: statements or one expression}."""

    def fill_holes(
        self,
        source: str,
        filename: str = ...,
        temperature: float = ...,
        top_p: float = ...,
        seed: int | None = ...,
        max_actions: int = ...,
        retries: int = ...,
        markers: bool = ...,
        generators: Collection[int] = ...,
        target_version: str | tuple[int, int] | None = ...,
    ) -> dict[int, list[ast.stmt] | ast.expr]: ...

    def fill_candidates(
        self,
        source: str,
        samples: int,
        filename: str = ...,
        temperature: float = ...,
        top_p: float = ...,
        seed: int | None = ...,
        max_actions: int = ...,
        retries: int = ...,
        markers: bool = ...,
        generators: Collection[int] = ...,
        target_version: str | tuple[int, int] | None = ...,
    ) -> list[tuple[dict[int, list[ast.stmt] | ast.expr], float]]: ...
