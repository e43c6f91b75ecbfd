#!/usr/bin/python3
"""Reference fixtures for Assistant.Modeling: HF model folders + expected logits.

How the fixtures were produced
------------------------------
    apt-get install -y python3-torch        # Debian 12: PyTorch 1.13 CPU (PyPI is not reachable)
    /usr/bin/python3 tests/Assistant.Modeling.Tests/Reference/make_fixtures.py

This script is independent of the C# code: it re-implements the Hugging Face forward passes of
LlamaForCausalLM and GPT2LMHeadModel from the transformers definitions (modeling_llama.py,
modeling_gpt2.py, modeling_rope_utils.py) in plain PyTorch, with its own safetensors writer
(8-byte little-endian header length + JSON header + raw little-endian bytes).

For each fixture it writes fixtures/<name>/config.json, model.safetensors and logits.json
({"input_ids": [[...]], "logits": [[[...]]]}: logits for fixed ids, batch 2, no padding).
Weights are random (fixed seed) with O(1) activations so a 1e-4 absolute tolerance is meaningful;
the reference forward runs in float64, the C# one in float32.

Fixtures:
  llama_gqa_untied   GQA (4 query heads, 2 KV heads), explicit head_dim != hidden/heads, separate lm_head
  llama_tied_llama3  tied embeddings, Llama 3 rope_scaling, attention_bias + mlp_bias, one KV head (MQA)
  llama_bf16         weights stored as BF16 (logits computed from the bf16-rounded weights)
  gpt2               original GPT-2 key spelling: no "transformer." prefix, attn.bias buffers, no lm_head
  gpt2_prefixed_f16  GPT2LMHeadModel spelling ("transformer." + lm_head.weight), stored as F16
"""
import json
import math
import os
import shutil
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


# ---------------------------------------------------------------- safetensors writer

def write_safetensors(path, tensors, dtype="F32"):
    """tensors: list of (name, float tensor); stored as F32, BF16 or F16."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().to(torch.float32).contiguous()
        if dtype == "F32":
            data = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        elif dtype == "BF16":
            bits = t.to(torch.bfloat16).view(torch.int16).flatten().tolist()
            data = struct.pack("<%dh" % len(bits), *bits)
        elif dtype == "F16":
            bits = t.to(torch.float16).view(torch.int16).flatten().tolist()
            data = struct.pack("<%dh" % len(bits), *bits)
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def stored(t, dtype):
    """What the C# loader sees after widening the stored dtype to fp32."""
    if dtype == "BF16":
        return t.to(torch.bfloat16).to(torch.float32)
    if dtype == "F16":
        return t.to(torch.float16).to(torch.float32)
    return t.to(torch.float32)


# ---------------------------------------------------------------- Llama reference

def llama_inv_freq(cfg):
    # modeling_rope_utils._compute_default_rope_parameters (fp32, as HF)
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = cfg["rope_theta"]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs is None or rs.get("rope_type", rs.get("type")) == "default":
        return inv_freq
    assert rs["rope_type"] == "llama3"
    # modeling_rope_utils._compute_llama3_parameters
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def llama_forward(cfg, w, ids):
    """w: name -> float64 tensor with HF keys; ids: [B, T] long. Returns logits [B, T, V] float64."""
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape

    def rms(x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def lin(x, prefix, bias):
        y = x @ w[prefix + ".weight"].t()
        return y + w[prefix + ".bias"] if bias else y

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    pos = torch.arange(T, dtype=torch.float32)[None, :].expand(B, T)
    freqs = (llama_inv_freq(cfg)[None, :, None] @ pos[:, None, :]).transpose(1, 2)  # [B, T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().double()[:, None], emb.sin().double()[:, None]

    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    ab, mb = cfg.get("attention_bias", False), cfg.get("mlp_bias", False)
    h = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        x = rms(h, w[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj", ab).view(B, T, H, D).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj", ab).view(B, T, KV, D).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj", ab).view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # repeat_kv: head h uses KV head h // (H / KV)
        k = k[:, :, None].expand(B, KV, H // KV, T, D).reshape(B, H, T, D)
        v = v[:, :, None].expand(B, KV, H // KV, T, D).reshape(B, H, T, D)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + causal, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        h = h + lin(y, p + "self_attn.o_proj", ab)
        x = rms(h, w[p + "post_attention_layernorm.weight"])
        gate = lin(x, p + "mlp.gate_proj", mb)
        h = h + lin(torch.nn.functional.silu(gate) * lin(x, p + "mlp.up_proj", mb), p + "mlp.down_proj", mb)
    h = rms(h, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return h @ head.t()


def llama_weights(cfg, gen):
    d, V, I = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    ab, mb = cfg.get("attention_bias", False), cfg.get("mlp_bias", False)

    def mat(o, i):
        return torch.randn(o, i, generator=gen) / math.sqrt(i)

    def vec(n, center=0.0):
        return center + 0.1 * torch.randn(n, generator=gen)

    w = [("model.embed_tokens.weight", 0.5 * torch.randn(V, d, generator=gen))]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        w.append((p + "input_layernorm.weight", vec(d, 1.0)))
        for name, o, n_in in (("q_proj", H * D, d), ("k_proj", KV * D, d), ("v_proj", KV * D, d), ("o_proj", d, H * D)):
            w.append((p + "self_attn.%s.weight" % name, mat(o, n_in)))
            if ab:
                w.append((p + "self_attn.%s.bias" % name, vec(o)))
        w.append((p + "post_attention_layernorm.weight", vec(d, 1.0)))
        for name, o, n_in in (("gate_proj", I, d), ("up_proj", I, d), ("down_proj", d, I)):
            w.append((p + "mlp.%s.weight" % name, mat(o, n_in)))
            if mb:
                w.append((p + "mlp.%s.bias" % name, vec(o)))
    w.append(("model.norm.weight", vec(d, 1.0)))
    if not cfg["tie_word_embeddings"]:
        w.append(("lm_head.weight", mat(V, d)))
    return w


# ---------------------------------------------------------------- GPT-2 reference

def gpt2_forward(cfg, w, ids):
    d, H = cfg["n_embd"], cfg["n_head"]
    D = d // H
    eps = cfg["layer_norm_epsilon"]
    B, T = ids.shape

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (d,), w[p + ".weight"], w[p + ".bias"], eps)

    def conv1d(x, p):  # HF Conv1D: weight stored [in, out]
        return x @ w[p + ".weight"] + w[p + ".bias"]

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    h = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(T)][None]
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        q, k, v = conv1d(ln(h, p + "ln_1"), p + "attn.c_attn").split(d, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + causal, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        h = h + conv1d(y, p + "attn.c_proj")
        h = h + conv1d(gelu_new(conv1d(ln(h, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    h = ln(h, "ln_f")
    return h @ w["wte.weight"].t()


def gpt2_weights(cfg, gen):
    d, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg.get("n_inner") or 4 * d

    def conv(i, o):
        return torch.randn(i, o, generator=gen) / math.sqrt(i)

    def vec(n, center=0.0):
        return center + 0.1 * torch.randn(n, generator=gen)

    w = [("wte.weight", 0.5 * torch.randn(V, d, generator=gen)), ("wpe.weight", 0.3 * torch.randn(P, d, generator=gen))]
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        w += [(p + "ln_1.weight", vec(d, 1.0)), (p + "ln_1.bias", vec(d)),
              (p + "attn.c_attn.weight", conv(d, 3 * d)), (p + "attn.c_attn.bias", vec(3 * d)),
              (p + "attn.c_proj.weight", conv(d, d)), (p + "attn.c_proj.bias", vec(d)),
              (p + "ln_2.weight", vec(d, 1.0)), (p + "ln_2.bias", vec(d)),
              (p + "mlp.c_fc.weight", conv(d, inner)), (p + "mlp.c_fc.bias", vec(inner)),
              (p + "mlp.c_proj.weight", conv(inner, d)), (p + "mlp.c_proj.bias", vec(d))]
    w += [("ln_f.weight", vec(d, 1.0)), ("ln_f.bias", vec(d))]
    return w


# ---------------------------------------------------------------- fixtures

def llama_config(**overrides):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 96, "hidden_size": 64, "intermediate_size": 160,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 128, "hidden_act": "silu", "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False, "attention_dropout": 0.0,
        "mlp_bias": False, "tie_word_embeddings": False, "initializer_range": 0.02,
        "bos_token_id": 1, "eos_token_id": 2, "pretraining_tp": 1, "use_cache": True,
        "torch_dtype": "float32", "transformers_version": "4.46.0",
    }
    cfg.update(overrides)
    return cfg


def gpt2_config(**overrides):
    cfg = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "bos_token_id": 0, "eos_token_id": 0,
        "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "n_ctx": 32, "n_embd": 64, "n_head": 4,
        "n_inner": None, "n_layer": 2, "n_positions": 32, "scale_attn_weights": True,
        "summary_type": "cls_index", "summary_use_proj": True, "task_specific_params": {"conversational": {"max_length": 1000}},
        "torch_dtype": "float32", "transformers_version": "4.46.0", "use_cache": True, "vocab_size": 96,
    }
    cfg.update(overrides)
    return cfg


def emit(name, cfg, weights, forward, dtype="F32", extra=(), rename=lambda k: k, seed=0):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "model.safetensors"),
                      [(rename(k), t) for k, t in weights] + list(extra), dtype)
    gen = torch.Generator().manual_seed(1000 + seed)
    ids = torch.randint(0, cfg["vocab_size"], (2, 10), generator=gen)
    w64 = {k: stored(t, dtype).double() for k, t in weights}
    logits = forward(cfg, w64, ids)
    with open(os.path.join(folder, "logits.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(),
                   "logits": [[[round(v, 7) for v in tok] for tok in row] for row in logits.tolist()]}, f)
    print("%-20s %d tensors, logits std %.3f" % (name, len(weights), logits.std().item()))


def main():
    shutil.rmtree(OUT, ignore_errors=True)

    cfg = llama_config(head_dim=24)
    emit("llama_gqa_untied", cfg, llama_weights(cfg, torch.Generator().manual_seed(1)), llama_forward, seed=1)

    cfg = llama_config(tie_word_embeddings=True, num_key_value_heads=1, intermediate_size=128, rms_norm_eps=1e-05,
                       rope_theta=500000.0, attention_bias=True, mlp_bias=True, eos_token_id=[2, 3],
                       rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 32, "rope_type": "llama3"})
    emit("llama_tied_llama3", cfg, llama_weights(cfg, torch.Generator().manual_seed(2)), llama_forward, seed=2)

    cfg = llama_config(torch_dtype="bfloat16")
    emit("llama_bf16", cfg, llama_weights(cfg, torch.Generator().manual_seed(3)), llama_forward, dtype="BF16", seed=3)

    cfg = gpt2_config()
    P = cfg["n_positions"]
    mask_buffers = [("h.%d.attn.bias" % i, torch.tril(torch.ones(P, P)).view(1, 1, P, P)) for i in range(cfg["n_layer"])]
    emit("gpt2", cfg, gpt2_weights(cfg, torch.Generator().manual_seed(4)), gpt2_forward, extra=mask_buffers, seed=4)

    cfg = gpt2_config(torch_dtype="float16")
    w = gpt2_weights(cfg, torch.Generator().manual_seed(5))
    emit("gpt2_prefixed_f16", cfg, w, gpt2_forward, dtype="F16", rename=lambda k: "transformer." + k,
         extra=[("lm_head.weight", dict(w)["wte.weight"])], seed=5)


if __name__ == "__main__":
    main()
