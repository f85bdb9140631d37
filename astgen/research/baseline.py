"""Checkpoints of the token-level baseline (the research comparison's BPE language model).

The baseline is the same `LlamaForCausalLM` as the AST model (`astgen.model.ModelConfig`, same
vocabulary size, hence the same parameter count) over BPE tokens instead of grammar actions.  Its
folder holds config.json + model.safetensors (never pickle), tokenizer.json and `baseline.json`:

    {"format": 1, "kind": "tokens", "model_config": {...}, "training": {...}}

Token ids: 0 `<eot>`, BPE tokens, then `<pad> <bos> <hole> <sep>` at the ids `ModelConfig` gives
`pad_id`..`sep_id`; fill-in-the-middle prompts are `<bos> prefix <hole> suffix <sep>`, the model
writes the middle and ends it with `<sep>`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astgen.errors import CheckpointError
from astgen.model import ModelConfig, load_weights

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM

__all__ = ["BASELINE_JSON", "load_token_checkpoint", "save_token_checkpoint"]

BASELINE_JSON = "baseline.json"


def save_token_checkpoint(
    model: LlamaForCausalLM,
    config: ModelConfig,
    tokenizer_file: str | Path,
    path: str | Path,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the baseline to the folder `path` (weights, config, tokenizer.json, baseline.json)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    if Path(tokenizer_file).resolve() != (out / "tokenizer.json").resolve():
        shutil.copyfile(tokenizer_file, out / "tokenizer.json")
    info: dict[str, Any] = {"format": 1, "kind": "tokens", "model_config": config.to_dict()}
    if extra:
        info["training"] = extra
    (out / BASELINE_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def load_token_checkpoint(path: str | Path, device: str = "cpu") -> tuple[LlamaForCausalLM, ModelConfig, Tokenizer]:
    """(model in eval mode, config, tokenizer) of a baseline folder; `CheckpointError` if damaged."""
    from tokenizers import Tokenizer

    folder = Path(path)
    meta = folder / BASELINE_JSON
    if not meta.is_file():
        raise CheckpointError(f"{folder}: not a token-baseline checkpoint ({BASELINE_JSON} is missing)")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        config = ModelConfig.from_dict(info["model_config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta}: unreadable ({e})") from None
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # tokenizers raises a plain Exception for missing or bad files
        raise CheckpointError(f"{folder / 'tokenizer.json'}: unreadable ({e})") from None
    if tokenizer.get_vocab_size() != config.vocab_size:
        raise CheckpointError(
            f"{folder}: tokenizer has {tokenizer.get_vocab_size()} ids, the model {config.vocab_size}"
        )
    return load_weights(folder, config, device), config, tokenizer
