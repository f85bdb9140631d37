"""The matcher runs unchanged on any device: identical results on CPU and CUDA (when present), and a
whole batch step issues no device->host synchronisation (checked on the `meta` device, where any
attempt to read a value fails, and with CUDA's sync debug mode where available)."""

from __future__ import annotations

import pytest
import torch

from astgen.codec import Codec
from astgen.grammar.actions import EOS
from astgen.grammar.compiled import CompiledGrammar
from astgen.matcher import Matcher, MatcherConfig
from astgen.sampling import sample_uniform

CFG = MatcherConfig(strict=True, max_actions=200, max_terminal_pieces=3, stack_capacity=128)


def run_steps(
    compiled: CompiledGrammar, device: str, seed: int, steps: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Sample with noise drawn on the CPU (same on every device); return masks and actions per step."""
    gen = torch.Generator().manual_seed(seed)
    m = Matcher(compiled, 8, device, CFG)
    masks, actions = [], []
    for _ in range(steps):
        noise = torch.rand(8, compiled.n_actions, generator=gen).to(device)
        logits = m.fill_mask(noise.clone())
        a = logits.argmax(1)
        masks.append(m.mask().cpu())
        actions.append(a.cpu())
        m.advance(a)
    return masks, actions


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cpu_and_cuda_give_identical_results(compiled: CompiledGrammar) -> None:
    cpu = run_steps(compiled, "cpu", 0, 150)
    gpu = run_steps(compiled, "cuda", 0, 150)
    for a, b in zip(cpu[0], gpu[0]):
        assert torch.equal(a, b)
    for a, b in zip(cpu[1], gpu[1]):
        assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_step_does_not_synchronise(compiled: CompiledGrammar) -> None:
    m = Matcher(compiled, 16, "cuda", CFG)
    logits = torch.zeros(16, compiled.n_actions, device="cuda")
    m.fill_mask(logits)
    m.advance(logits.argmax(1))  # warm-up (table upload)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            logits = torch.rand(16, compiled.n_actions, device="cuda")
            m.fill_mask(logits)
            m.advance(logits.argmax(1))
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_batch_step_runs_on_meta_device(compiled: CompiledGrammar) -> None:
    """On `meta` tensors have no data: any host read (.item(), bool(), .tolist(), nonzero) raises."""
    m = Matcher(compiled, 32, "meta", CFG)
    for _ in range(3):
        logits = torch.empty(32, compiled.n_actions, device="meta")
        m.fill_mask(logits)
        m.forced()
        m.advance(logits.argmax(1))
        m.fork(torch.arange(32, device="meta"))
    assert m.stack.device.type == "meta"


def test_sampling_is_seeded_and_reproducible(compiled: CompiledGrammar, codec: Codec) -> None:
    a = sample_uniform(compiled, 4, seed=7, max_actions=120)
    b = sample_uniform(compiled, 4, seed=7, max_actions=120)
    c = sample_uniform(compiled, 4, seed=8, max_actions=120)
    assert a == b and a != c
    assert all(s[-1] == EOS for s in a)
