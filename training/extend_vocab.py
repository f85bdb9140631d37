"""Carry a checkpoint over to a grammar whose action vocabulary gained constructors (new syntax).

    git show <rev>:grammars/python.grammar > /tmp/old.grammar
    python -m training.extend_vocab --old-grammar /tmp/old.grammar --checkpoint astgen/checkpoints/default

Every action the old vocabulary had keeps its trained embedding and output row (looked up by name:
constructor ids shift because they are sorted); a new constructor starts from the mean of the old
constructors' rows, so the model neither favours nor avoids it until it is trained.  The old
vocabulary must hash to what the checkpoint pinned, or nothing is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from astgen.compiled_default import default_compiled
from astgen.errors import CheckpointMismatchError
from astgen.grammar.actions import SPECIALS
from astgen.grammar.compiled import CompiledGrammar, compile_grammar
from astgen.grammar.dsl import parse_grammar
from astgen.grammar.pieces import load_pieces
from astgen.model import EXTRA_TOKENS, ModelConfig, build_model, read_checkpoint_info, save_checkpoint, vocab_hash

__all__ = ["extend", "main"]


def _old_ids(old: CompiledGrammar, new: CompiledGrammar) -> list[int | None]:
    """For each new model token id, the old one it was (None for a new constructor)."""
    if old.vocab.pieces != new.vocab.pieces:
        raise CheckpointMismatchError("the terminal pieces changed: the model must be retrained, not extended")
    old_ctor = {name: old.vocab.ctor_id(name) for name in old.vocab.constructors}
    ids: list[int | None] = list(range(len(SPECIALS)))
    ids += [old_ctor.get(name) for name in new.vocab.constructors]
    ids += [old.vocab.piece_base + i for i in range(len(new.vocab.pieces))]
    ids += [len(old.vocab) + i for i in range(len(EXTRA_TOKENS))]
    return ids


def extend(checkpoint: Path, old_grammar: Path) -> dict[str, Any]:
    info = read_checkpoint_info(checkpoint)
    old = compile_grammar(parse_grammar(old_grammar.read_text(encoding="utf-8"), "python"), load_pieces("python"))
    if vocab_hash(old.vocab) != info["vocab_hash"]:
        raise CheckpointMismatchError(
            f"{old_grammar}: its action vocabulary is not the one {checkpoint} was trained for"
        )
    new = default_compiled()
    ids = _old_ids(old, new)
    old_config = ModelConfig.from_dict(info["model_config"])
    from safetensors.torch import load_file

    state = load_file(str(checkpoint / "model.safetensors"), device="cpu")
    ctor_rows = slice(old.vocab.ctor_base, old.vocab.piece_base)
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        if key not in state:
            continue
        weight = state[key].float()
        mean = weight[ctor_rows].mean(0)
        state[key] = torch.stack([weight[i] if i is not None else mean for i in ids])
    config = ModelConfig.from_dict({**old_config.to_dict(), "n_actions": new.n_actions})
    model = build_model(config)
    model.load_state_dict(state, strict=not config.tie_embeddings)
    added = [name for name, i in zip(new.vocab.constructors, ids[len(SPECIALS) :]) if i is None]
    training = dict(info.get("training", {}))
    training["vocab_extended"] = {"from_actions": old.n_actions, "to_actions": new.n_actions, "new": added}
    save_checkpoint(model.to(torch.float16), config, checkpoint, new, extra=training)
    (checkpoint / "generation_config.json").unlink(missing_ok=True)
    return training["vocab_extended"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-grammar", type=Path, required=True, help="the grammar file the checkpoint was trained on")
    ap.add_argument("--checkpoint", type=Path, default=Path("astgen/checkpoints/default"))
    args = ap.parse_args(argv)
    done = extend(args.checkpoint, args.old_grammar)
    print(json.dumps(done, indent=2))


if __name__ == "__main__":
    main()
