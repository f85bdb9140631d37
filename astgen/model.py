"""The model: a small Llama-style causal LM over grammar actions, and its checkpoints.

Vocabulary layout.  Model token ids 0..A-1 are exactly the grammar's action ids (A = the number of
actions of the compiled grammar; id 0 is the grammar's `<eos>`), so a sampled token *is* an action and
the matcher's mask applies to the first A logits unchanged.  Four model-only tokens follow:

    A     <pad>    padding of batched inputs (never a target)
    A+1   <bos>    start of a training window / of a prompt
    A+2   <hole>   an open node left for infilling (tree-level fill-in-the-middle)
    A+3   <sep>    separates the tree with holes from the hole subtrees

Checkpoints are `save_pretrained` folders (config.json + model.safetensors, never pickle) plus
`astgen.json`, which pins the grammar they were trained for:

    {"format": 1, "grammar_hash": ..., "compiled_hash": ..., "n_actions": ..., "vocab_hash": ...,
     "model_config": {...}}

`load_checkpoint` refuses a checkpoint whose grammar hash or action vocabulary differs from the
grammar it is loaded for (`CheckpointMismatchError`), and reports a missing or damaged folder as a
`CheckpointError`.  torch and transformers are imported here; `astgen.grammar`/`astgen.codec` stay
torch-free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astgen.errors import CheckpointError, CheckpointMismatchError

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM

    from astgen.grammar.actions import ActionVocabulary
    from astgen.grammar.compiled import CompiledGrammar

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "ModelConfig",
    "attach_state_embedding",
    "build_model",
    "load_checkpoint",
    "load_lean_checkpoint",
    "load_weights",
    "model_from_state",
    "read_checkpoint_info",
    "repin_checkpoint",
    "save_checkpoint",
    "state_embedding",
    "vocab_hash",
]

CHECKPOINT_FORMAT = 1
ASTGEN_JSON = "astgen.json"
EXTRA_TOKENS = ("<pad>", "<bos>", "<hole>", "<sep>")


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and vocabulary layout of an astgen model (a Llama-style decoder)."""

    n_actions: int  # grammar actions, model ids 0..n_actions-1
    hidden_size: int = 256
    n_layers: int = 4
    n_heads: int = 4
    intermediate_size: int = 1024
    max_positions: int = 1024
    rope_theta: float = 10000.0
    tie_embeddings: bool = False
    initializer_range: float = 0.02
    name_refs: int = 0  # reference tokens after the model-only ones (astgen.codec.refs; 0: names are spelled)

    def __post_init__(self) -> None:
        positive = ("n_actions", "hidden_size", "n_layers", "n_heads", "intermediate_size", "max_positions")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.n_heads:
            raise ValueError(
                f"ModelConfig.hidden_size ({self.hidden_size}) must be divisible by n_heads ({self.n_heads})"
            )
        if (self.hidden_size // self.n_heads) % 2:
            raise ValueError("ModelConfig: the head size (hidden_size / n_heads) must be even for rotary embeddings")
        if not isinstance(self.name_refs, int) or isinstance(self.name_refs, bool) or self.name_refs < 0:
            raise ValueError(f"ModelConfig.name_refs must be a non-negative integer, got {self.name_refs!r}")
        if self.vocab_size > 65536:
            raise ValueError(f"ModelConfig: vocabulary of {self.vocab_size} tokens does not fit uint16 corpus files")

    # vocabulary layout
    @property
    def eos_id(self) -> int:
        return 0  # the grammar's own <eos> action

    @property
    def pad_id(self) -> int:
        return self.n_actions

    @property
    def bos_id(self) -> int:
        return self.n_actions + 1

    @property
    def hole_id(self) -> int:
        return self.n_actions + 2

    @property
    def sep_id(self) -> int:
        return self.n_actions + 3

    @property
    def ref_base(self) -> int:
        """The first reference token (`name_refs` of them follow)."""
        return self.n_actions + len(EXTRA_TOKENS)

    @property
    def vocab_size(self) -> int:
        return self.n_actions + len(EXTRA_TOKENS) + self.name_refs

    def token_name(self, token: int, vocab: ActionVocabulary | None = None) -> str:
        """A readable name for a model token (grammar actions are named through `vocab` if given)."""
        if 0 <= token < self.n_actions:
            return vocab.name(token) if vocab is not None else f"<action {token}>"
        if self.n_actions <= token < self.ref_base:
            return EXTRA_TOKENS[token - self.n_actions]
        if self.ref_base <= token < self.vocab_size:
            return f"<ref {token - self.ref_base}>"
        raise ValueError(f"token {token} is outside the vocabulary of {self.vocab_size}")

    # JSON
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s): {', '.join(unknown)}")
        if "n_actions" not in data:
            raise ValueError("model config lacks n_actions")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def for_grammar(cls, compiled: CompiledGrammar | None = None, **overrides: Any) -> ModelConfig:
        """A config whose action vocabulary is that of `compiled` (default: the shipped grammar)."""
        if compiled is None:
            from astgen.compiled_default import default_compiled

            compiled = default_compiled()
        return cls(n_actions=compiled.n_actions, **overrides)


# ----------------------------------------------------------------------------- model


def build_model(config: ModelConfig) -> LlamaForCausalLM:
    """A freshly initialised `LlamaForCausalLM` for `config` (seed torch first for reproducibility)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    # transformers 4 takes `rope_theta`; 5 folds it into `rope_parameters` and still accepts it
    rope: dict[str, Any] = {"rope_theta": config.rope_theta}
    hf = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_positions,
        **rope,
        tie_word_embeddings=config.tie_embeddings,
        initializer_range=config.initializer_range,
        attention_dropout=0.0,
        pad_token_id=config.pad_id,
        bos_token_id=config.bos_id,
        eos_token_id=config.eos_id,
    )
    return LlamaForCausalLM(hf)


# ----------------------------------------------------------------------------- checkpoints


def vocab_hash(vocab: ActionVocabulary) -> str:
    """Stable hash of an action vocabulary (constructor names and piece bytes, in id order)."""
    h = hashlib.sha256()
    h.update(json.dumps([list(vocab.constructors), [p.hex() for p in vocab.pieces]]).encode())
    return h.hexdigest()[:16]


def _grammar_info(compiled: CompiledGrammar) -> dict[str, Any]:
    return {
        "grammar_hash": compiled.grammar_hash,
        "compiled_hash": compiled.content_hash,
        "n_actions": compiled.n_actions,
        "vocab_hash": vocab_hash(compiled.vocab),
    }


def save_checkpoint(
    model: LlamaForCausalLM,
    config: ModelConfig,
    path: str | Path,
    compiled: CompiledGrammar | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `model` to the folder `path`: config.json + model.safetensors + astgen.json.

    `extra` (e.g. how the model was trained) is stored in astgen.json under "training".

    `compiled` is the grammar the model was trained for (default: the shipped grammar); its hashes
    and action vocabulary size are recorded so that loading can refuse a mismatched grammar."""
    if compiled is None:
        from astgen.compiled_default import default_compiled

        compiled = default_compiled()
    if compiled.n_actions != config.n_actions:
        raise ValueError(f"the model config has {config.n_actions} actions but the grammar has {compiled.n_actions}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)  # safetensors; transformers 5 always is
    if not (out / "model.safetensors").is_file():
        raise CheckpointError(f"{out}: save_pretrained wrote no single model.safetensors (model too large to shard?)")
    states = state_embedding(model)
    if states is not None:  # a tree-state model (astgen.features): its embedding goes along
        from safetensors.torch import save_file

        from astgen.features import STATE_FILE

        save_file({"weight": states.weight.detach().cpu().contiguous()}, str(out / STATE_FILE))
    info = {"format": CHECKPOINT_FORMAT, **_grammar_info(compiled), "model_config": config.to_dict()}
    if extra:
        info["training"] = extra
    (out / ASTGEN_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def read_checkpoint_info(path: str | Path) -> dict[str, Any]:
    """The parsed astgen.json of a checkpoint folder (checked for shape, not for grammar match)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    meta = folder / ASTGEN_JSON
    if not meta.is_file():
        raise CheckpointError(f"{folder}: not an astgen checkpoint ({ASTGEN_JSON} is missing)")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta}: unreadable ({e})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{meta}: expected a JSON object")
    missing = [k for k in ("format", "grammar_hash", "n_actions", "vocab_hash", "model_config") if k not in info]
    if missing:
        raise CheckpointError(f"{meta}: missing field(s) {', '.join(missing)}")
    if info["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{meta}: checkpoint format {info['format']!r}, this astgen reads {CHECKPOINT_FORMAT}")
    return info


def repin_checkpoint(path: str | Path, compiled: CompiledGrammar | None = None) -> bool:
    """Re-pin a checkpoint to `compiled` (default: the shipped grammar) when only the grammar's states
    changed and its action vocabulary did not (the model reads and writes actions, nothing else);
    returns whether astgen.json changed.  Raises CheckpointMismatchError if the vocabulary differs.
    Whoever changes the grammar is responsible for the action sequences staying the same (the codec's
    round trip and tests/test_generator_pinned.py check it)."""
    folder = Path(path)
    info = read_checkpoint_info(folder)
    if compiled is None:
        from astgen.compiled_default import default_compiled

        compiled = default_compiled()
    want = _grammar_info(compiled)
    if info["n_actions"] != want["n_actions"] or info["vocab_hash"] != want["vocab_hash"]:
        raise CheckpointMismatchError(f"{folder}: the action vocabulary changed; the checkpoint must be retrained")
    if all(info.get(k) == want[k] for k in ("grammar_hash", "compiled_hash")):
        return False
    info.update(want)
    (folder / ASTGEN_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return True


def load_checkpoint(
    path: str | Path,
    compiled: CompiledGrammar | None = None,
    device: str = "cpu",
) -> tuple[LlamaForCausalLM, ModelConfig]:
    """Load a checkpoint folder written by `save_checkpoint`, in eval mode on `device`.

    Raises `CheckpointMismatchError` if it was trained for another grammar or action vocabulary than
    `compiled` (default: the shipped grammar), `CheckpointError` if the folder is missing or damaged."""
    folder = Path(path)
    config, compiled = _checked_config(folder, compiled)
    model = load_weights(folder, config, device)
    _attach_states(model, folder, compiled)
    return model, config


def load_lean_checkpoint(
    path: str | Path, compiled: CompiledGrammar | None = None, device: str = "cpu"
) -> tuple[Any, ModelConfig]:
    """`load_checkpoint` for decoding only: an `astgen.lean.LeanLlama` (same checks, same weights and
    logits) without importing transformers, which costs more start-up time than the whole load."""
    from astgen.lean import LeanLlama, LeanSpec

    folder = Path(path)
    config, compiled = _checked_config(folder, compiled)
    state = _read_weights(folder)
    spec = LeanSpec(
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        n_kv_heads=config.n_heads,
        head_dim=config.hidden_size // config.n_heads,
        vocab_size=config.vocab_size,
        rope_theta=config.rope_theta,
    )
    want = spec.weight_names(tied=config.tie_embeddings)
    missing = want - set(state)
    unexpected = set(state) - want - {"lm_head.weight"}  # (a tied checkpoint may still store its head)
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / 'model.safetensors'}: weights do not fit the model config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    for name, shape in _weight_shapes(config).items():
        if tuple(state[name].shape) != shape:
            raise CheckpointError(f"{folder / 'model.safetensors'}: {name} is {tuple(state[name].shape)}, not {shape}")
    state = {k: v.to(device) for k, v in state.items()}
    states = _read_states(folder, compiled)
    return LeanLlama(spec, state, states.to(device) if states is not None else None, source=state), config


def _weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of the weights that say the architecture (embedding, first layer, head)."""
    h, v, i = config.hidden_size, config.vocab_size, config.intermediate_size
    return {
        "model.embed_tokens.weight": (v, h),
        "model.layers.0.self_attn.q_proj.weight": (h, h),
        "model.layers.0.mlp.gate_proj.weight": (i, h),
        "model.norm.weight": (h,),
    }


def _checked_config(folder: Path, compiled: CompiledGrammar | None) -> tuple[ModelConfig, CompiledGrammar]:
    """The model config of a checkpoint folder, after checking it was trained for `compiled`."""
    info = read_checkpoint_info(folder)
    if compiled is None:
        from astgen.compiled_default import default_compiled

        compiled = default_compiled()
    want = _grammar_info(compiled)
    if info["grammar_hash"] != want["grammar_hash"]:
        raise CheckpointMismatchError(
            f"{folder}: checkpoint was trained for grammar {info['grammar_hash']}, "
            f"but this astgen's grammar is {want['grammar_hash']}; retrain it or use a matching astgen version"
        )
    if info["n_actions"] != want["n_actions"] or info["vocab_hash"] != want["vocab_hash"]:
        raise CheckpointMismatchError(
            f"{folder}: checkpoint has an action vocabulary of {info['n_actions']} actions "
            f"(hash {info['vocab_hash']}), this astgen has {want['n_actions']} (hash {want['vocab_hash']}); "
            "the terminal pieces changed, retrain it"
        )
    try:
        config = ModelConfig.from_dict(info["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / ASTGEN_JSON}: bad model_config: {e}") from None
    if config.n_actions != info["n_actions"]:
        raise CheckpointError(f"{folder / ASTGEN_JSON}: model_config.n_actions disagrees with n_actions")
    return config, compiled


# the state embedding's attribute on a loaded model (training/tree_features.py trains it)
STATE_ATTR = "astgen_state_embedding"


def _attach_states(model: LlamaForCausalLM, folder: Path, compiled: CompiledGrammar) -> None:
    """Attach the checkpoint's tree-state embedding (`astgen.features`), if it has one."""
    weight = _read_states(folder, compiled)
    if weight is not None:
        attach_state_embedding(model, weight)


def attach_state_embedding(model: Any, weight: Any) -> None:
    """Give a transformers model the tree-state embedding `weight` [state ids, hidden]."""
    from torch import nn

    emb = nn.Embedding(weight.shape[0], weight.shape[1])
    emb.weight.data.copy_(weight)
    device = next(model.parameters()).device
    # kept outside the module tree: save_pretrained and users' own model.generate() see the plain LM
    object.__setattr__(model, STATE_ATTR, emb.to(device).eval())


def _read_states(folder: Path, compiled: CompiledGrammar) -> Any:
    """The checkpoint's tree-state embedding weight (CPU), or None if it reads actions only."""
    from astgen.features import STATE_FILE, n_state_ids

    path = folder / STATE_FILE
    if not path.is_file():
        return None
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weight = load_file(str(path), device="cpu")["weight"]
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: unreadable ({e})") from None
    want = n_state_ids(compiled)
    if weight.shape[0] != want:
        raise CheckpointMismatchError(f"{path}: {weight.shape[0]} state ids, this astgen's grammar has {want}")
    return weight


def _read_weights(folder: Path) -> dict[str, Any]:
    """folder/model.safetensors as CPU float32 tensors (CheckpointError if missing or unreadable)."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder}: model.safetensors is missing")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {k: v.float() for k, v in load_file(str(weights), device="cpu").items()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights}: unreadable ({e})") from None


def state_embedding(model: Any) -> Any:
    """The model's tree-state embedding (`torch.nn.Embedding`), or None if it reads actions only."""
    return getattr(model, STATE_ATTR, None)


def load_weights(folder: str | Path, config: ModelConfig, device: str = "cpu") -> LlamaForCausalLM:
    """The model of `config` with the weights of folder/model.safetensors, in eval mode on `device`."""
    folder = Path(folder)
    weights = folder / "model.safetensors"
    return model_from_state(_read_weights(folder), config, device, str(weights))


def model_from_state(state: dict[str, Any], config: ModelConfig, device: str = "cpu", where: str = "weights") -> Any:
    """The transformers model of `config` holding `state` (a state dict), in eval mode on `device`."""
    weights = where
    model = build_model(config)
    tied = {"lm_head.weight"} if config.tie_embeddings else set()
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"{weights}: weights do not fit the model config ({e})") from None
    if set(missing) - tied or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not fit the model config "
            f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    if config.tie_embeddings:
        model.tie_weights()
    model.to(device)  # type: ignore[arg-type]  # transformers 5 types the decorated .to oddly
    model.eval()
    return model
