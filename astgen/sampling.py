"""Sampling programs from the grammar mask alone (uniform over allowed actions).

This exercises the matcher end to end without a model: every sampled sequence must decode to a
program that parses and compiles.  Uniform choice is made with the Gumbel-max trick so the loop
has no host synchronisation except a periodic check whether all sequences have finished."""

from __future__ import annotations

import torch

from astgen.grammar.actions import EOS
from astgen.grammar.compiled import CompiledGrammar
from astgen.matcher import Matcher, MatcherConfig

__all__ = ["sample_uniform"]


def sample_uniform(
    compiled: CompiledGrammar,
    batch_size: int,
    *,
    seed: int,
    max_actions: int = 400,
    max_terminal_pieces: int = 4,
    device: str | torch.device = "cpu",
    config: MatcherConfig | None = None,
) -> list[list[int]]:
    """Sample `batch_size` complete action sequences (each ends with `<eos>`)."""
    cfg = config or MatcherConfig(
        strict=True, max_actions=max_actions, max_terminal_pieces=max_terminal_pieces, stack_capacity=256
    )
    gen = torch.Generator(device=device).manual_seed(seed)
    m = Matcher(compiled, batch_size, device, cfg)
    n_actions = compiled.n_actions
    out = torch.zeros(batch_size, max_actions + 64, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    length = torch.zeros(batch_size, dtype=torch.long, device=device)
    for step in range(out.shape[1]):
        noise = torch.rand(batch_size, n_actions, generator=gen, device=device)
        logits = -torch.log(-torch.log(noise.clamp_min(1e-20)))
        m.fill_mask(logits)
        action = logits.argmax(1)
        action = torch.where(finished, torch.full_like(action, EOS), action)
        out[:, step] = action
        length = torch.where(finished, length, length + 1)
        finished = finished | (action == EOS)
        m.advance(action)
        if step % 32 == 31 and bool(finished.all()):
            break
    rows = out.cpu().tolist()
    lengths = length.cpu().tolist()
    return [row[:n] for row, n in zip(rows, lengths)]
