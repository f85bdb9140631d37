"""A lean inference forward for astgen's Llama architecture: the same weights and logits as the
`transformers` model, without its per-call overhead.

A decode step of the shipped model is ~7 MFLOP; through `LlamaForCausalLM` with a `DynamicCache` it
costs milliseconds of framework work (cache objects, mask building, hooks, dispatch).  `LeanLlama`
holds the checkpoint's tensors (q/k/v and gate/up fused into one matrix each), a rotary table and a
preallocated KV cache that grows by doubling, and runs the forward as a few dozen tensor ops.  Rows
are ragged: row b's new tokens sit at its own positions `pos[b]..`, its keys at the same cache
slots, so no padding is ever attended to.  Training, `save_pretrained` folders and users' own
`model.generate()` keep the transformers model; this module is only the decoders' forward."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["LeanLlama", "LeanSpec", "lean_of"]


@dataclass(frozen=True)
class LeanSpec:
    """The architecture numbers the forward needs (a Llama with SiLU MLP, default RoPE, no biases)."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    rms_eps: float = 1e-6
    rope_theta: float = 10000.0

    def weight_names(self, tied: bool = False) -> set[str]:
        """The state-dict names of a plain `LlamaForCausalLM` of this spec."""
        names = {"model.embed_tokens.weight", "model.norm.weight"} | (set() if tied else {"lm_head.weight"})
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            names |= {p + f"self_attn.{n}_proj.weight" for n in "qkvo"}
            names |= {p + f"mlp.{n}_proj.weight" for n in ("gate", "up", "down")}
            names |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
        return names

    @classmethod
    def of_hf_config(cls, cfg: Any) -> LeanSpec | None:
        """The spec of a transformers `LlamaConfig`, or None if it uses anything this forward lacks."""
        if getattr(cfg, "model_type", None) != "llama" or getattr(cfg, "hidden_act", "silu") != "silu":
            return None
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            return None
        if getattr(cfg, "pretraining_tp", 1) != 1:
            return None
        rope = dict(getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {})
        if rope.get("rope_type", rope.get("type", "default")) != "default":
            return None
        theta = float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
        heads = int(cfg.num_attention_heads)
        head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
        return cls(
            n_layers=int(cfg.num_hidden_layers),
            n_heads=heads,
            n_kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
            head_dim=head_dim,
            vocab_size=int(cfg.vocab_size),
            rms_eps=float(cfg.rms_norm_eps),
            rope_theta=theta,
        )


class LeanLlama:
    """Inference-only weights of a Llama causal LM (+ an optional tree-state embedding), and its forward."""

    def __init__(
        self,
        spec: LeanSpec,
        state: Mapping[str, torch.Tensor],
        states: torch.Tensor | None = None,
        source: Mapping[str, torch.Tensor] | None = None,
    ):
        self.spec = spec
        # the checkpoint's own tensors, when it was read without a transformers model (see Generator.model)
        self.source_state = dict(source) if source is not None else None

        def w(name: str) -> torch.Tensor:
            return state[name].detach().float()

        self.embed = w("model.embed_tokens.weight")
        self.device = self.embed.device
        self.head = w("lm_head.weight") if "lm_head.weight" in state else self.embed
        self.norm = w("model.norm.weight")
        self.layers = []
        for i in range(spec.n_layers):
            p = f"model.layers.{i}."
            qkv = torch.cat([w(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
            gate_up = torch.cat([w(p + "mlp.gate_proj.weight"), w(p + "mlp.up_proj.weight")])
            self.layers.append(
                (
                    w(p + "input_layernorm.weight"),
                    qkv,
                    w(p + "self_attn.o_proj.weight"),
                    w(p + "post_attention_layernorm.weight"),
                    gate_up,
                    w(p + "mlp.down_proj.weight"),
                )
            )
        self.states = states.detach().float().to(self.device) if states is not None else None
        self.hidden = int(self.embed.shape[1])
        self._rope_len = 0
        self._cos = self._sin = torch.zeros(0)

    @classmethod
    def from_module(cls, model: Any) -> LeanLlama | None:
        """The lean copy of a transformers Llama (None if its architecture is not one this forward runs)."""
        spec = LeanSpec.of_hf_config(getattr(model, "config", None))
        if spec is None or not _plain(model):
            return None
        state = dict(model.state_dict())
        # exactly the weights of a plain Llama: an added or replaced module runs its own code
        if set(state) != spec.weight_names(tied="lm_head.weight" not in state):
            return None
        from astgen.model import state_embedding

        emb = state_embedding(model)
        return cls(spec, state, emb.weight if emb is not None else None)

    @property
    def vocab_size(self) -> int:
        return int(self.head.shape[0])

    def _rope(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin tables [positions, head_dim] covering at least `length` positions."""
        if length > self._rope_len:
            n = max(length, 2 * self._rope_len, 1024)
            d = self.spec.head_dim
            inv = 1.0 / (self.spec.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
            freqs = torch.outer(torch.arange(n, dtype=torch.float32), inv)
            emb = torch.cat([freqs, freqs], dim=-1).to(self.device)
            self._cos, self._sin, self._rope_len = emb.cos(), emb.sin(), n
        return self._cos, self._sin

    def new_cache(self, batch: int, length: int = 256) -> LeanCache:
        return LeanCache(self, batch, length)

    def forward(
        self,
        ids: torch.Tensor,
        states: torch.Tensor | None,
        pos: torch.Tensor,
        last: torch.Tensor,
        cache: LeanCache,
        end: int,
        uniform: bool,
    ) -> torch.Tensor:
        """Logits [B, V] after token `last[b]` of each row.  `ids` [B, W] new tokens (right-padded),
        `states` [B, W] their tree-state ids (a state model), `pos` [B] the position of each row's first
        new token, `end` = max(pos) + W (host int), `uniform`: every row at the same position and
        W == 1 (then nothing needs masking)."""
        s = self.spec
        b, width = ids.shape
        x = F.embedding(ids, self.embed)
        if self.states is not None and states is not None:
            x = x + F.embedding(states, self.states)
        positions = pos.unsqueeze(1) + torch.arange(width, device=ids.device)  # [B, W]
        cos_t, sin_t = self._rope(end)
        cos, sin = cos_t[positions].unsqueeze(2), sin_t[positions].unsqueeze(2)  # [B, W, 1, hd]
        cache.ensure(end)
        mask = None
        if not uniform:  # slot t is visible from position p of a row iff t <= p
            slots = torch.arange(end, device=ids.device)
            mask = (slots.view(1, 1, end) <= positions.unsqueeze(2)).unsqueeze(1)  # [B, 1, W, end]
        rows = torch.arange(b, device=ids.device).unsqueeze(1).expand(b, width)
        p0 = int(pos[0]) if b == 1 else -1  # one row: its keys are one contiguous slice of the cache
        hd, nh, nkv = s.head_dim, s.n_heads, s.n_kv_heads
        half = hd // 2
        gqa = nkv != nh
        for i, (w_in, w_qkv, w_o, w_post, w_gu, w_down) in enumerate(self.layers):
            h = _rms_norm(x, w_in, s.rms_eps)
            qkv = F.linear(h, w_qkv)
            # rotary embedding of q and k together ([B, W, heads + kv_heads, hd])
            qk = qkv[..., : (nh + nkv) * hd].view(b, width, nh + nkv, hd)
            qk = qk * cos + torch.cat([-qk[..., half:], qk[..., :half]], dim=-1) * sin
            q, k = qk.split([nh, nkv], dim=2)
            v = qkv[..., (nh + nkv) * hd :].view(b, width, nkv, hd)
            keys, values = cache.k[i], cache.v[i]  # [B, kv_heads, slots, hd]
            if p0 >= 0:
                keys[0, :, p0 : p0 + width] = k[0].transpose(0, 1)
                values[0, :, p0 : p0 + width] = v[0].transpose(0, 1)
            else:
                keys.transpose(1, 2)[rows, positions] = k
                values.transpose(1, 2)[rows, positions] = v
            att = F.scaled_dot_product_attention(
                q.transpose(1, 2), keys[:, :, :end], values[:, :, :end], attn_mask=mask, enable_gqa=gqa
            )
            x = x + F.linear(att.transpose(1, 2).reshape(b, width, nh * hd), w_o)
            h = _rms_norm(x, w_post, s.rms_eps)
            gate, up = F.linear(h, w_gu).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w_down)
        x = x[torch.arange(b, device=ids.device), last] if width > 1 else x[:, 0]
        return F.linear(_rms_norm(x, self.norm, s.rms_eps), self.head)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Llama's RMSNorm (as `LlamaRMSNorm` in float32; at one token per row this is several times
    faster than `F.rms_norm`'s fused kernel on CPU)."""
    # (the very ops of transformers' LlamaRMSNorm: a cheaper sum * 1/d flips a greedy near-tie now and then)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class LeanCache:
    """Keys and values of every layer, [B, kv_heads, slots, head_dim] each (attention reads each head's
    keys contiguously), grown by doubling."""

    def __init__(self, model: LeanLlama, batch: int, length: int):
        self.model, self.batch = model, batch
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        self.capacity = 0
        self.ensure(length)

    def ensure(self, length: int) -> None:
        if length <= self.capacity:
            return
        s = self.model.spec
        cap = max(length, 2 * self.capacity)
        cap = -(-cap // 64) * 64
        shape = (self.batch, s.n_kv_heads, cap, s.head_dim)
        dev = self.model.device
        grown_k, grown_v = [], []
        for i in range(s.n_layers):
            k, v = torch.zeros(shape, device=dev), torch.zeros(shape, device=dev)
            if self.capacity:
                k[:, :, : self.capacity] = self.k[i]
                v[:, :, : self.capacity] = self.v[i]
            grown_k.append(k)
            grown_v.append(v)
        self.k, self.v, self.capacity = grown_k, grown_v, cap

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Keep only the cache rows `rows` [R] (in that order)."""
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        self.batch = int(rows.shape[0])


_LEAN_ATTR = "_astgen_lean"


def _plain(model: Any) -> bool:
    """Whether `model` is an unmodified transformers Llama: its class, a linear head, and no hooks (a
    user's hook must keep seeing its calls, so then the transformers forward runs)."""
    if type(model).__name__ != "LlamaForCausalLM":
        return False
    if type(model.get_output_embeddings()) is not torch.nn.Linear:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def lean_of(model: Any) -> LeanLlama | None:
    """The lean forward of `model`: itself if it is one, else a copy of a plain transformers Llama's
    weights (cached on the model and rebuilt when any of its tensors changed in place or was replaced),
    or None for a model it would not run exactly (another architecture, a replaced module, hooks)."""
    if isinstance(model, LeanLlama):
        return model
    if not _plain(model):
        return None
    params = list(model.parameters())
    from astgen.model import state_embedding

    emb = state_embedding(model)
    if emb is not None:
        params.append(emb.weight)
    stamp = tuple((id(p), p._version, p.device) for p in params)
    hit = getattr(model, _LEAN_ATTR, None)
    if hit is not None and hit[0] == stamp:
        return hit[1]  # type: ignore[no-any-return]
    lean = LeanLlama.from_module(model)
    object.__setattr__(model, _LEAN_ATTR, (stamp, lean))
    return lean
