"""Train an astgen model on the encoded corpus (`python -m training.data` first).

    python -m training.train --name default [--steps 20000] [--batch-size 16] [--seq-len 512] ...
    python -m training.train --name default --resume           # continue exactly where it stopped
                                                                # (with the options it was started with)
    accelerate launch -m training.train --name gpu ...          # the same script on one or many GPUs

Every step draws `--batch-size` random windows of `--seq-len` actions from data/train.bin (documents
back to back, each ending with <eos>), prefixes each with <bos> and trains next-action prediction;
a share --fim-rate of the examples are tree-level fill-in-the-middle instead (`training.fim`)
(AdamW, linear warmup then cosine decay, gradient clipping).  The window starts are a function of
(seed, step, process), so a resumed run sees exactly the batches an uninterrupted one would have.

Outputs in runs/<name>/:
    metrics.jsonl   {"kind": "train", step, train_loss, lr, tokens, elapsed, tokens_per_s} every --log-every
                    steps and {"kind": "eval", step, val_loss, val_bits_per_action, val_bpc, ...} every
                    --eval-every steps
    checkpoint/     the model (astgen.model.save_checkpoint: config.json, model.safetensors, astgen.json),
                    optimizer.safetensors + optimizer.json and trainer_state.json, every --save-every
                    steps, at the end and on SIGINT/SIGTERM; written to checkpoint.tmp/ then swapped in
                    (nothing is pickled)

Validation: a fixed, seeded subset of validation documents (about --eval-tokens actions) is scored
whole: each document is read as <eos> + its actions (the same context a document start has in the
training stream) in windows of --seq-len actions after <bos>, overlapping by half so that every action
after the first window has at least seq_len/2 actions of context.  val_loss is the mean negative
log-likelihood per action (nats), val_bpc the summed negative log2-likelihood over the documents'
canonical character counts (bits per character of canonical source).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from astgen.codec.refs import NameRefs
from astgen.compiled_default import default_compiled
from astgen.model import ModelConfig, build_model, load_checkpoint, save_checkpoint, vocab_hash
from astgen.research.baseline import load_token_checkpoint, save_token_checkpoint
from training.data import load_spans, load_split
from training.fim import FimConfig, MixedBatcher

__all__ = ["TrainArgs", "evaluate", "lr_at", "main", "parse_args"]

# ----------------------------------------------------------------------------- options


def _opt(default: Any, help: str, fixed: bool = False, choices: tuple[str, ...] = ()) -> Any:
    """A training option: its default, its --help text, whether a resumed run may change it."""
    return field(default=default, metadata={"help": help, "fixed": fixed, "choices": choices})


@dataclass(frozen=True)
class TrainArgs:
    """Every option of a training run, in one place: the command line, the resume rules and the saved
    run state are all derived from these fields.  Options marked fixed define the run and cannot
    change on resume; the others continue as saved unless given again (e.g. --steps to extend a run)."""

    name: str = _opt("default", "run name: outputs go to <runs-dir>/<name>")
    runs_dir: str = _opt("runs", "folder of runs")
    data: str = _opt("data", "folder written by `python -m training.data`", fixed=True)
    seq_len: int = _opt(512, "actions per training window (after <bos>)", fixed=True)
    batch_size: int = _opt(16, "windows per step and process", fixed=True)
    steps: int = _opt(20000, "total optimizer steps (the cosine schedule ends here)")
    lr: float = _opt(1e-3, "peak learning rate", fixed=True)
    min_lr_ratio: float = _opt(0.1, "final learning rate as a fraction of --lr", fixed=True)
    warmup: int = _opt(200, "linear warmup steps", fixed=True)
    weight_decay: float = _opt(0.1, "AdamW weight decay of matrices", fixed=True)
    beta1: float = _opt(0.9, "AdamW beta1", fixed=True)
    beta2: float = _opt(0.95, "AdamW beta2", fixed=True)
    grad_clip: float = _opt(1.0, "gradient norm clip (0: off)", fixed=True)
    seed: int = _opt(0, "seed of the initialisation and of the window sampling", fixed=True)
    hidden: int = _opt(256, "model hidden size", fixed=True)
    layers: int = _opt(4, "transformer layers", fixed=True)
    heads: int = _opt(4, "attention heads", fixed=True)
    intermediate: int = _opt(1024, "MLP intermediate size", fixed=True)
    log_every: int = _opt(10, "steps between train metrics")
    eval_every: int = _opt(500, "steps between validation runs (0: only at the end)")
    eval_tokens: int = _opt(32768, "validation actions scored per evaluation (0: no evaluation)", fixed=True)
    eval_batch_size: int = _opt(16, "windows per validation forward pass")
    save_every: int = _opt(250, "steps between checkpoints (0: only at the end)")
    fim_rate: float = _opt(0.5, "share of training examples that are tree-level fill-in-the-middle", fixed=True)
    fim_max_hole: int = _opt(256, "longest hole (actions) cut out for fill-in-the-middle", fixed=True)
    tree_features: bool = _opt(
        False, "add the grammar state of the next action as an input embedding (training.tree_features)", fixed=True
    )
    name_refs: int = _opt(
        0, "reference slots: a name already in the context is one token (astgen.codec.refs; 0: spelled)", fixed=True
    )
    threads: int = _opt(1, "torch CPU threads of this process")
    mixed_precision: str = _opt("no", "bf16 autocast (GPUs, and CPUs with bf16 support)", choices=("no", "bf16"))
    cpu: bool = _opt(False, "train on the CPU even if a GPU is present")
    resume: bool = _opt(False, "continue from <run>/checkpoint")
    baseline: str = _opt(
        "ast",
        "ast: the astgen model over grammar actions; tokens: the BPE baseline of the research comparison, "
        "--data is then a folder written by `python -m training.token_data`",
        fixed=True,
        choices=("ast", "tokens"),
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFAULTS}


DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(TrainArgs)}
FIXED = tuple(f.name for f in fields(TrainArgs) if f.metadata["fixed"])


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(TrainArgs):
        flag, help = "--" + f.name.replace("_", "-"), f"{f.metadata['help']} (default: {f.default})"
        if isinstance(f.default, bool):
            ap.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        elif f.metadata["choices"]:
            ap.add_argument(flag, choices=list(f.metadata["choices"]), default=None, help=help)
        else:
            ap.add_argument(flag, type=type(f.default), default=None, help=help)
    return ap


def parse_args(argv: list[str] | None = None) -> tuple[TrainArgs, set[str]]:
    """The options, and the names of those given explicitly on the command line."""
    ns = vars(_parser().parse_args(argv))
    explicit = {k for k, v in ns.items() if v is not None}
    values = {k: (ns[k] if ns.get(k) is not None else v) for k, v in DEFAULTS.items()}
    return TrainArgs(**values), explicit


# ----------------------------------------------------------------------------- schedule and data


def lr_at(step: int, args: TrainArgs) -> float:
    """Linear warmup to --lr over --warmup steps, then cosine decay to lr * min_lr_ratio at --steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    floor = args.lr * args.min_lr_ratio
    return floor + 0.5 * (args.lr - floor) * (1.0 + math.cos(math.pi * progress))


def labelled_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss where labels[:, p + 1] is the target of position p (-100: not scored)."""
    pred = logits[:, :-1].float()
    return F.cross_entropy(pred.reshape(-1, pred.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100)


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class EvalWindow:
    tokens: np.ndarray  # <bos> + a slice of <eos> + document
    lo: int  # first logit position scored
    hi: int  # last logit position scored (inclusive)


def eval_documents(
    info: dict[str, Any], max_tokens: int, seed: int = 1234, length_key: str = "length"
) -> list[dict[str, Any]]:
    """A fixed, seeded subset of validation documents of about `max_tokens` actions in all.

    The token baseline passes length_key="ast_length" (its documents' action counts) and so scores
    exactly the documents the AST model scores."""
    docs = info["documents"]
    chosen: list[dict[str, Any]] = []
    total = 0
    for i in np.random.default_rng(seed).permutation(len(docs)):
        doc = docs[int(i)]
        if total >= max_tokens:
            break
        if doc[length_key] > max_tokens:  # one huge generated file would dominate the estimate
            continue
        chosen.append(doc)
        total += doc[length_key]
    return chosen


# the POSITION_KINDS entry (training.evaluate) of reference tokens
REFERENCE_KIND = "name references"


def _scored_rows(
    windows: list[EvalWindow], feature_windows: list[EvalWindow] | None, refs: NameRefs | None
) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """(tokens, states, scored logit positions) per window; with `refs` the window compressed, a
    token scored where the last action it stands for is (names cut off by the window's end are not:
    the next window scores them whole)."""
    out = []
    for k, w in enumerate(windows):
        fw = feature_windows[k].tokens if feature_windows is not None else None
        if refs is None or fw is None:
            mask = np.zeros(max(0, len(w.tokens) - 1), dtype=bool)
            mask[w.lo : w.hi + 1] = True
            out.append((w.tokens, fw, mask))
            continue
        c = refs.compress(w.tokens.tolist(), fw.tolist())
        last = np.asarray(c.last[1:], dtype=np.int64)  # token q is predicted at logit position q - 1
        out.append((np.asarray(c.tokens, dtype=np.int64), np.asarray(c.states, dtype=np.int64),
                    (last >= w.lo + 1) & (last <= w.hi + 1)))  # fmt: skip
    return out


def document_windows(ids: np.ndarray, seq_len: int, bos_id: int, eos_id: int) -> list[EvalWindow]:
    """Windows that score every action of a document exactly once, each after <bos>."""
    x = np.concatenate([np.array([eos_id], dtype=np.int64), ids.astype(np.int64)])
    stride = max(1, seq_len // 2)
    out: list[EvalWindow] = []
    done = 1  # x[0] is context (the <eos> that precedes a document in the stream)
    s = 0
    while done < len(x):
        end = min(s + seq_len, len(x))
        tokens = np.concatenate([np.array([bos_id], dtype=np.int64), x[s:end]])
        # x[i] sits at input position i - s + 1 and is predicted by logit position i - s
        out.append(EvalWindow(tokens, max(s + 1, done) - s, end - 1 - s))
        done = end
        s += stride
    return out


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    stream: np.ndarray,
    docs: list[dict[str, Any]],
    config: ModelConfig,
    seq_len: int,
    batch_size: int,
    device: torch.device,
    states: Any = None,  # per-action state ids sliced like `stream` (training.tree_features.StreamStates)
    state_ids: dict[str, int] | None = None,
    start_state: int = 0,
    categories: tuple[np.ndarray, tuple[str, ...], int] | None = None,
    feed_states: bool = True,
    refs: NameRefs | None = None,
) -> dict[str, Any]:
    """Validation loss (nats per action), bits per action and bits per canonical character.  With
    `states` (training.tree_features), each window also carries its actions' state features (fed to
    the model unless `feed_states` is off).  With `categories` = (category per state id, category
    names, `<end>`'s id) and `states`, the bits per character are also split by what each predicted
    position spells (`val_bpc_by`; `<end>` of a terminal counts as the last category).  With `refs`
    (a model with name references, which needs `states`), each window is compressed on its own, as in
    training, and a reference is scored in the window that scores its name's `<end>`."""
    windows = [
        w
        for d in docs
        for w in document_windows(
            stream[d["offset"] : d["offset"] + d["length"]], seq_len, config.bos_id, config.eos_id
        )
    ]
    feature_windows = (
        [
            w
            for d in docs
            for w in document_windows(
                states[d["offset"] : d["offset"] + d["length"]], seq_len, state_ids["bos"], start_state
            )
        ]
        if states is not None and state_ids is not None
        else None
    )
    # per window: tokens, states and which logit positions are scored
    rows = _scored_rows(windows, feature_windows, refs)
    was_training = model.training
    model.eval()
    nll = 0.0
    n = 0
    by = np.zeros(len(categories[1]) if categories is not None else 0)
    ref_cat = categories[1].index(REFERENCE_KIND) if categories is not None and REFERENCE_KIND in categories[1] else -1
    for i in range(0, len(rows), batch_size):
        group = rows[i : i + batch_size]
        width = max(len(r[0]) for r in group)
        tokens = torch.full((len(group), width), config.pad_id, dtype=torch.long)
        attention = torch.zeros((len(group), width), dtype=torch.long)
        scored = torch.zeros((len(group), width - 1), dtype=torch.bool)
        feats = torch.zeros((len(group), width), dtype=torch.long)
        for j, (toks, fts, mask) in enumerate(group):
            tokens[j, : len(toks)] = torch.from_numpy(toks)
            attention[j, : len(toks)] = 1
            scored[j, : len(mask)] = torch.from_numpy(mask)
            if fts is not None:
                feats[j, : len(fts)] = torch.from_numpy(fts)
        tokens, attention = tokens.to(device), attention.to(device)
        if feature_windows is not None and feed_states:
            logits = model(input_ids=tokens, states=feats.to(device), attention_mask=attention).logits.float()
        else:
            logits = model(input_ids=tokens, attention_mask=attention).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, tokens[:, 1:, None])[..., 0].cpu()
        nll -= float(logp[scored].sum())
        n += int(scored.sum())
        if categories is not None and feature_windows is not None:
            # the state fed at position t is the one the action at t + 1 is chosen in
            cat_of, _, end_id = categories
            cat = torch.from_numpy(cat_of.astype(np.int64))[feats[:, :-1]]
            nxt = tokens[:, 1:].cpu()
            cat = torch.where(nxt == end_id, len(by) - 1, cat)
            if refs is not None and ref_cat >= 0:
                cat = torch.where(nxt >= refs.ref_base, ref_cat, cat)
            np.add.at(by, cat[scored].numpy(), -logp[scored].double().numpy())
    if was_training:
        model.train()
    chars = sum(d["chars"] for d in docs)
    return {
        "val_loss": nll / max(1, n),
        "val_bits_per_action": nll / math.log(2) / max(1, n),
        "val_bpc": nll / math.log(2) / max(1, chars),
        "val_docs": len(docs),
        "val_actions": n,
        "val_chars": chars,
        **(
            {"val_bpc_by": {k: float(v) / math.log(2) / max(1, chars) for k, v in zip(categories[1], by)}}
            if categories is not None and feature_windows is not None
            else {}
        ),
    }


# ----------------------------------------------------------------------------- checkpoints


def save_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Optimizer state as safetensors (tensors) + JSON (hyperparameters and scalars); no pickle."""
    from safetensors.torch import save_file

    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    save_file(tensors, str(folder / "optimizer.safetensors"))
    meta = {"param_groups": groups, "scalars": scalars}
    (folder / "optimizer.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def load_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "optimizer.safetensors"))
    meta = json.loads((folder / "optimizer.json").read_text(encoding="utf-8"))
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_training_checkpoint(
    run_dir: Path,
    save_model: Callable[[Path], Any],
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
) -> Path:
    """Write run_dir/checkpoint atomically (via checkpoint.tmp, the previous one kept until the swap);
    `save_model(folder)` writes the model itself."""
    final, tmp, old = run_dir / "checkpoint", run_dir / "checkpoint.tmp", run_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp)
    save_optimizer(optimizer, tmp)
    (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics logged after the checkpoint being resumed (they will be logged again)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    keep = [line for line in keep if json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


# ----------------------------------------------------------------------------- training


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train (or resume); returns the final trainer state."""
    args, explicit = parse_args(argv)
    from accelerate import Accelerator

    run_dir = args.run_dir
    ckpt_dir = run_dir / "checkpoint"
    resumed: dict[str, Any] | None = None
    if args.resume:
        state_file = ckpt_dir / "trainer_state.json"
        if not state_file.is_file():
            raise SystemExit(f"error: --resume: {state_file} not found (no checkpoint to resume)")
        resumed = json.loads(state_file.read_text(encoding="utf-8"))
        saved = resumed["args"]
        changed = [k for k in FIXED if k in explicit and getattr(args, k) != saved[k]]
        if changed:
            detail = ", ".join(f"--{k.replace('_', '-')} {saved[k]} -> {getattr(args, k)}" for k in changed)
            raise SystemExit(f"error: a resumed run keeps its settings; the command line changes {detail}")
        # everything not given on this command line continues as saved (precision, intervals, threads...)
        kept = {k: v for k, v in saved.items() if k in DEFAULTS and k not in explicit}
        args = TrainArgs(**{**args.to_dict(), **kept, "resume": True})
        if "steps" in explicit and args.steps != saved["steps"]:
            print(f"note: --steps {saved['steps']} -> {args.steps} stretches the cosine schedule", file=sys.stderr)
    elif (ckpt_dir / "trainer_state.json").is_file():
        raise SystemExit(f"error: {run_dir} already has a checkpoint; pass --resume or choose another --name")

    torch.set_num_threads(args.threads)  # after a resume merged the saved options (threads included)
    accelerator = Accelerator(mixed_precision=args.mixed_precision, cpu=args.cpu)
    main_process = accelerator.is_main_process
    compiled = default_compiled()
    tokens_baseline = args.baseline == "tokens"

    if tokens_baseline:
        from training.token_data import load_token_split

        train_stream, train_info = load_token_split(args.data, "train")
        val_stream, val_info = load_token_split(args.data, "validation")
        n_ids = int(train_info["vocab_size"]) - 4  # <eot> and BPE tokens; <pad> <bos> <hole> <sep> follow
    else:
        train_stream, train_info = load_split(args.data, "train")
        val_stream, val_info = load_split(args.data, "validation")
        for info in (train_info, val_info):
            if info["vocab_hash"] != vocab_hash(compiled.vocab) or info["n_actions"] != compiled.n_actions:
                raise SystemExit(
                    f"error: {args.data}/{info['split']}.json was encoded with another action vocabulary; "
                    "rerun `python -m training.data --force`"
                )
        n_ids = compiled.n_actions

    if (args.tree_features or args.name_refs) and tokens_baseline:
        raise SystemExit("error: --tree-features and --name-refs need the AST model (--baseline ast)")
    if resumed is not None:
        if tokens_baseline:
            model, config, _ = load_token_checkpoint(ckpt_dir)
        else:
            model, config = load_checkpoint(ckpt_dir, compiled)
        model.train()
    else:
        config = ModelConfig(
            n_actions=n_ids,
            hidden_size=args.hidden,
            n_layers=args.layers,
            n_heads=args.heads,
            intermediate_size=args.intermediate,
            max_positions=max(1024, args.seq_len + 1),
            name_refs=args.name_refs,
        )
        torch.manual_seed(args.seed)
        model = build_model(config)
    states = val_states = None
    state_ids: dict[str, int] | None = None
    if args.tree_features:
        from astgen.features import n_state_ids
        from training.tree_features import StateFeatureLM

        model = StateFeatureLM(model, n_state_ids(compiled))
        if resumed is not None:
            model.load_states(ckpt_dir)
    if args.tree_features or args.name_refs:  # (references are found through the tree states)
        from astgen.features import special_state_ids
        from training.tree_features import StreamStates

        states = StreamStates(compiled, train_stream, train_info)
        val_states = StreamStates(compiled, val_stream, val_info)
        state_ids = special_state_ids(compiled)
    refs = NameRefs.for_model(compiled, config.ref_base, config.name_refs) if config.name_refs else None
    if config.max_positions < args.seq_len + 1:
        raise SystemExit(
            f"error: --seq-len {args.seq_len} needs {args.seq_len + 1} positions, the model has {config.max_positions}"
        )

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(args.beta1, args.beta2),
    )
    if resumed is not None:
        load_optimizer(optimizer, ckpt_dir)
    model, optimizer = accelerator.prepare(model, optimizer)

    start_step = int(resumed["step"]) if resumed else 0
    if resumed is not None and resumed.get("processes", 1) != accelerator.num_processes:
        raise SystemExit(
            f"error: the run was trained on {resumed.get('processes', 1)} processes; resume it on the same number "
            f"(now {accelerator.num_processes}) to see the same batches"
        )
    elapsed_before = float(resumed["elapsed"]) if resumed else 0.0
    tokens_per_step = args.batch_size * args.seq_len * accelerator.num_processes
    special = {"bos": config.bos_id, "hole": config.hole_id, "sep": config.sep_id, "pad": config.pad_id, "eot": 0}
    fim = FimConfig(rate=args.fim_rate, max_hole=args.fim_max_hole)
    batcher: MixedBatcher
    save_model: Callable[[Path], Any]
    common = (args.seq_len, args.batch_size, special, args.seed, fim, accelerator.process_index)
    if tokens_baseline:
        from training.token_data import load_texts, load_tokenizer
        from training.token_fim import TokenFimBatcher

        tokenizer_file = Path(args.data) / "tokenizer.json"
        texts = load_texts(args.data, "train")
        batcher = TokenFimBatcher(train_stream, train_info, texts, load_tokenizer(tokenizer_file), *common)

        def save_model(folder: Path) -> None:
            save_token_checkpoint(accelerator.unwrap_model(model), config, tokenizer_file, folder)

    else:
        train_spans = load_spans(args.data, "train", train_info) if args.fim_rate > 0 else None
        batcher = MixedBatcher(
            train_stream, train_info, train_spans, *common, states=states, state_ids=state_ids, refs=refs
        )

        def save_model(folder: Path) -> None:
            unwrapped = accelerator.unwrap_model(model)
            if args.tree_features:
                save_checkpoint(unwrapped.lm, config, folder)
                unwrapped.save_states(folder)
            else:
                save_checkpoint(unwrapped, config, folder)

    length_key = "ast_length" if tokens_baseline else "length"
    eval_docs = eval_documents(val_info, args.eval_tokens, length_key=length_key) if args.eval_tokens > 0 else []
    metrics = run_dir / "metrics.jsonl"
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resumed is not None:
            _truncate_metrics(metrics, start_step)
        else:
            metrics.unlink(missing_ok=True)
            run_info = {
                "args": args.to_dict(),
                "model_config": config.to_dict(),
                "parameters": sum(p.numel() for p in model.parameters()),
                "train_tokens": train_info["total_tokens" if tokens_baseline else "total_actions"],
                "train_documents": train_info["n_documents"],
                "eval_documents": len(eval_docs),
                "grammar_hash": compiled.grammar_hash,
                "compiled_hash": compiled.content_hash,
                "device": str(accelerator.device),
                "processes": accelerator.num_processes,
            }
            (run_dir / "run.json").write_text(json.dumps(run_info, indent=1) + "\n", encoding="utf-8")
    n_params = sum(p.numel() for p in model.parameters())
    accelerator.print(
        f"{'resuming' if resumed else 'starting'} {run_dir} at step {start_step}/{args.steps}: "
        f"{n_params / 1e6:.2f}M parameters, "
        f"{train_info['total_tokens' if tokens_baseline else 'total_actions']:,} training tokens, "
        f"{tokens_per_step} tokens/step on {accelerator.num_processes} x {accelerator.device}"
    )

    stop = {"signal": 0}

    def on_signal(signum: int, frame: Any) -> None:
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def trainer_state(step: int) -> dict[str, Any]:
        return {
            "step": step,
            "tokens": step * tokens_per_step,
            "elapsed": elapsed_before + time.time() - t0,
            "processes": accelerator.num_processes,
            "args": args.to_dict(),
        }

    def checkpoint(step: int) -> None:
        accelerator.wait_for_everyone()
        if main_process:
            save_training_checkpoint(run_dir, save_model, optimizer, trainer_state(step))
            tqdm.write(f"step {step}: checkpoint saved to {ckpt_dir}", file=sys.stderr)
        accelerator.wait_for_everyone()

    def validate(step: int) -> None:
        if not eval_docs:
            return
        if main_process:
            result = evaluate(
                accelerator.unwrap_model(model),
                val_stream,
                eval_docs,
                config,
                args.seq_len,
                args.eval_batch_size,
                accelerator.device,
                val_states,
                state_ids,
                compiled.start_symbol,
                feed_states=args.tree_features,
                refs=refs,
            )
            record = {
                "kind": "eval",
                "step": step,
                **result,
                "tokens": step * tokens_per_step,
                "elapsed": round(elapsed_before + time.time() - t0, 2),
            }
            _append_jsonl(metrics, record)
            tqdm.write(
                f"step {step}: val_loss {result['val_loss']:.4f}  bits/action {result['val_bits_per_action']:.4f}  "
                f"bpc {result['val_bpc']:.4f}",
                file=sys.stderr,
            )
        accelerator.wait_for_everyone()

    t0 = time.time()
    bar = tqdm(
        total=args.steps,
        initial=start_step,
        desc=args.name,
        unit="step",
        dynamic_ncols=True,
        disable=not main_process,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        file=sys.stderr,
    )
    model.train()
    step = start_step
    interval_loss, interval_steps, interval_t = 0.0, 0, time.time()
    try:
        while step < args.steps and not stop["signal"]:
            lr = lr_at(step, args)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if args.tree_features:
                tokens, labels, feats = batcher.batch_with_states(step)  # (tokens compressed if name_refs)
            else:
                (tokens, labels), feats = batcher.batch(step), None
            tokens, labels = tokens.to(accelerator.device), labels.to(accelerator.device)
            with accelerator.autocast():
                if feats is not None:
                    logits = model(input_ids=tokens, states=feats.to(accelerator.device)).logits
                else:
                    logits = model(input_ids=tokens).logits
            loss = labelled_loss(logits, labels)
            accelerator.backward(loss)
            if args.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            interval_loss += float(loss.detach())
            interval_steps += 1
            bar.update()
            if step % args.log_every == 0 or step == args.steps:
                now = time.time()
                rate = interval_steps * tokens_per_step / max(1e-9, now - interval_t)
                mean = interval_loss / interval_steps
                bar.set_postfix(loss=f"{mean:.4f}", tok_s=f"{rate:.0f}", lr=f"{lr:.2e}", refresh=False)
                if main_process:
                    _append_jsonl(
                        metrics,
                        {
                            "kind": "train",
                            "step": step,
                            "train_loss": mean,
                            "lr": lr,
                            "tokens": step * tokens_per_step,
                            "elapsed": round(elapsed_before + now - t0, 2),
                            "tokens_per_s": round(rate, 1),
                        },
                    )
                interval_loss, interval_steps, interval_t = 0.0, 0, now
            if args.eval_every > 0 and step % args.eval_every == 0 and step < args.steps:
                validate(step)
                interval_t = time.time()  # keep evaluation out of the throughput figure
            if args.save_every > 0 and step % args.save_every == 0 and step < args.steps:
                checkpoint(step)
                interval_t = time.time()
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stop["signal"]:
        accelerator.print(f"signal {stop['signal']}: saving at step {step} and stopping (resume with --resume)")
    else:
        validate(step)
    checkpoint(step)
    return trainer_state(step)


if __name__ == "__main__":
    main()
