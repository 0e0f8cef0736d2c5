#!/usr/bin/env python3
"""Golden outputs of the official Hugging Face transformers DeepSeek-V4 model, for the C++ engine to reproduce.

Writes tests/golden/tiny-v4/:

  config.json            the config transformers' save_pretrained writes (layer_types, compress_rates, nested
                         rope_parameters {"main", "compress"})
  model.safetensors      float32 weights under the names save_pretrained writes: DeepSeek's release names
                         (`layers.N.attn.wq_a.weight`, `layers.N.ffn.experts.E.w1.weight`, `hc_attn_fn`, ...)
                         behind the `model.` prefix, `head.weight`; the hash router's tid2eid as I64
  inputs.json            {"sequences": [[ids...], ...], "chunks": [...]}  (lengths 1, 7, 33, 100; the chunk sizes
                         of the incremental run of sequence 3)
  logits_<i>.bin         float32 little-endian [n_ids][vocab], logits of EVERY position of sequence i, one
                         forward over the whole sequence
  logits_chunked_3.bin   the same for sequence 3 fed in `chunks` (a cache carried between the calls: the sliding
                         window, the compressors' partial windows and overlap state, the compressed entries)
  experts_<i>.json       {"layer_<N>": [[e0 < e1], ...]}  routed experts per layer per position (hash layers too)
  index_keys_<i>.json    {"layer_<N>": [[w0 < w1 < ...], ...]}  compressed entries the CSA indexer kept per
                         position (only those the position may see; [] before the first entry is complete)
  golden.json            summary: versions, seed, min top-k gaps, max |logit| per sequence, tolerance rule

Reference: transformers' in-library DeepseekV4ForCausalLM, float32, eager attention, experts_implementation
"eager", model.eval(), one CPU thread.

The tiny config has every V4 part at a size where it acts within 100 tokens: the three attention types (a
sliding-window layer, a heavily compressed one with compress rate 8, two compressed sparse ones with rate 4 and an
indexer keeping 3 entries), sliding window 8, one hash-routed MoE layer and three top-k ones (sqrtsoftplus scores,
correction bias), 4 hyper-connection streams, grouped output projection (2 groups), YaRN on the compressed layers,
and swiglu_limit 1.5 so the clamp of the expert activations bites.

Weights use std = fan_in^-0.5 (embeddings std 1, norm weights 1 + 0.1*N(0,1), sinks N(0,1), position biases
0.5*N(0,1), hyper-connection biases 0.5*N(0,1) and scales 1 + 0.1*N(0,1), router std 2*fan_in^-0.5, correction
bias 0.1*N(0,1)), so every part contributes O(1) values. Seeds are searched upward until every top-k boundary
(the routers' K-th vs (K+1)-th score, the indexer's index_topk-th vs the next among the entries a position may
see) has a gap >= 1e-4, so fp32 summation-order noise in another engine cannot change a choice.

Usage: python make_v4_goldens.py [--out tests/golden]
"""

import argparse
import copy
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import transformers
from transformers import DeepseekV4Config, DeepseekV4ForCausalLM

SEQ_LENS = [1, 7, 33, 100]
CHUNKS = [37] + [1] * 10 + [5, 3] + [1] * 45          # sequence 3 fed incrementally (sums to 100)
INPUT_SEED = 20240501
BASE_SEED = 5000
MIN_GAP = 1e-4
TOLERANCE_REL = 1e-4
MAX_SEED_TRIES = 500

KWARGS = dict(
    vocab_size=256, hidden_size=64, moe_intermediate_size=32, num_hidden_layers=4, num_attention_heads=4,
    head_dim=32, partial_rotary_factor=0.25, q_lora_rank=32, num_experts_per_tok=2, n_routed_experts=8,
    n_shared_experts=1, scoring_func="sqrtsoftplus", norm_topk_prob=True, routed_scaling_factor=1.5,
    max_position_embeddings=256, rope_theta=10000.0,
    layer_types=["sliding_attention", "heavily_compressed_attention", "compressed_sparse_attention",
                 "compressed_sparse_attention"],
    compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 8},
    compress_rope_theta=160000.0,
    rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, "beta_fast": 32,
                     "beta_slow": 1},
    hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, mlp_layer_types=["hash_moe", "moe", "moe", "moe"],
    swiglu_limit=1.5, sliding_window=8, o_groups=2, o_lora_rank=16, index_n_heads=8, index_head_dim=16,
    index_topk=3, num_nextn_predict_layers=0, rms_norm_eps=1e-6, bos_token_id=0, eos_token_id=1,
    tie_word_embeddings=False)


def log(*a):
    print(*a, flush=True)


def build_model():
    cfg = DeepseekV4Config(**copy.deepcopy(KWARGS), attn_implementation="eager", experts_implementation="eager",
                           dtype="float32")
    model = DeepseekV4ForCausalLM(cfg).to(torch.float32).eval()
    model.requires_grad_(False)
    return cfg, model


def init_weights(model, seed):
    """Deterministic init from a private generator, in sorted-name order."""
    g = torch.Generator().manual_seed(seed)
    tensors = dict(model.named_parameters())
    tensors.update({n: b for n, b in model.named_buffers() if n.endswith("e_score_correction_bias")})
    E, K = KWARGS["n_routed_experts"], KWARGS["num_experts_per_tok"]
    with torch.no_grad():
        for name in sorted(tensors):
            t = tensors[name]
            n = torch.randn(t.shape, generator=g, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("norm.weight"):
                v = 1.0 + 0.1 * n
            elif leaf == "sinks":
                v = n
            elif leaf == "position_bias":
                v = 0.5 * n
            elif leaf in ("base", "hc_base"):
                v = 0.5 * n
            elif leaf in ("scale", "hc_scale"):
                v = 1.0 + 0.1 * n
            elif name.endswith("e_score_correction_bias"):
                v = 0.1 * n
            elif name.endswith("embed_tokens.weight"):
                v = n
            elif name.endswith("mlp.gate.weight"):
                v = n * (2.0 / math.sqrt(t.shape[-1]))
            else:                                   # [out, in], hc fn [mix, n_hc*D], experts [E, out, in]
                v = n / math.sqrt(t.shape[-1])
            t.copy_(v)
        for name, b in model.named_buffers():
            if name.endswith("tid2eid"):
                rows = [torch.randperm(E, generator=g)[:K] for _ in range(b.shape[0])]
                b.copy_(torch.stack(rows))


def run(model, ids, chunks=None, capture=False):
    """Logits [T, V] of every position; with capture also {layer: (indices [T,K], weights [T,K], logits or None)}
    and {layer: (index scores [T,C], kept [T,k])}."""
    routes, index = {}, {}
    hooks = []
    if capture:
        for li, layer in enumerate(model.model.layers):
            def gate_hook(mod, args, out, li=li):
                hashed = isinstance(mod, transformers.models.deepseek_v4.modeling_deepseek_v4.DeepseekV4HashRouter)
                routes[li] = (out[2].clone(), out[1].clone(), None if hashed else out[0].clone())
            hooks.append(layer.mlp.gate.register_forward_hook(gate_hook))
            comp = layer.self_attn.compressor
            if comp is not None and hasattr(comp, "indexer"):
                def score_hook(mod, args, out, li=li):
                    index.setdefault(li, [None, None])[0] = out[0].clone()
                def idx_hook(mod, args, out, li=li):
                    index.setdefault(li, [None, None])[1] = out[0].clone()
                hooks.append(comp.indexer.scorer.register_forward_hook(score_hook))
                hooks.append(comp.indexer.register_forward_hook(idx_hook))
    try:
        with torch.no_grad():
            if chunks is None:
                out = model(input_ids=torch.tensor([ids]), use_cache=True)
                logits = out.logits[0]
            else:
                cache, parts, pos = None, [], 0
                for n in chunks:
                    out = model(input_ids=torch.tensor([ids[pos:pos + n]]), past_key_values=cache, use_cache=True)
                    cache = out.past_key_values
                    parts.append(out.logits[0])
                    pos += n
                assert pos == len(ids)
                logits = torch.cat(parts)
    finally:
        for h in hooks:
            h.remove()
    return logits, routes, index


def gaps(model, routes, index, T):
    """Minimum router and indexer top-k gaps over one sequence (scores recomputed in float64)."""
    K, k_idx, rate = KWARGS["num_experts_per_tok"], KWARGS["index_topk"], \
        KWARGS["compress_rates"]["compressed_sparse_attention"]
    router_gap, index_gap = math.inf, math.inf
    for li, (idx, w, logits) in routes.items():
        if logits is None:
            continue
        s = torch.nn.functional.softplus(logits.double()).sqrt()
        s = s + model.model.layers[li].mlp.gate.e_score_correction_bias.double()
        srt = s.sort(dim=-1, descending=True).values
        router_gap = min(router_gap, float((srt[:, K - 1] - srt[:, K]).min()))
    for li, (scores, kept) in index.items():
        for t in range(T):
            visible = (t + 1) // rate
            if visible > k_idx:
                srt = scores[t, :visible].double().sort(descending=True).values
                index_gap = min(index_gap, float(srt[k_idx - 1] - srt[k_idx]))
    return router_gap, index_gap


def write_logits(path, logits):
    logits.detach().to(torch.float32).numpy().astype("<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(INPUT_SEED)
    seqs = [torch.randint(2, KWARGS["vocab_size"], (n,), generator=g).tolist() for n in SEQ_LENS]

    cfg, model = build_model()
    for seed in range(BASE_SEED, BASE_SEED + MAX_SEED_TRIES):
        init_weights(model, seed)
        results = [run(model, ids, capture=True) for ids in seqs]
        rg = min(gaps(model, r[1], r[2], len(ids))[0] for r, ids in zip(results, seqs))
        ig = min(gaps(model, r[1], r[2], len(ids))[1] for r, ids in zip(results, seqs))
        log(f"seed {seed}: router gap {rg:.3g}, index gap {ig:.3g}")
        if rg >= MIN_GAP and ig >= MIN_GAP:
            break
    else:
        raise SystemExit("no seed with clear top-k gaps")

    chunked, _, _ = run(model, seqs[3], chunks=CHUNKS)
    full = results[3][0]
    chunk_diff = float((chunked - full).abs().max())
    log(f"chunked vs whole-sequence logits of sequence 3: max |diff| {chunk_diff:.3g} "
        f"(max |logit| {float(full.abs().max()):.3g})")
    if chunk_diff > 1e-4 * float(full.abs().max()):
        raise SystemExit("transformers' incremental run disagrees with its whole-sequence run")

    out = os.path.join(args.out, "tiny-v4")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(tmp, f), os.path.join(out, f))
    # The saved checkpoint must give the same logits when transformers loads it back.
    reloaded = DeepseekV4ForCausalLM.from_pretrained(out, attn_implementation="eager",
                                                     experts_implementation="eager", dtype=torch.float32).eval()
    back = run(reloaded, seqs[2])[0]
    if not torch.equal(back, results[2][0]):
        raise SystemExit(f"reloaded checkpoint differs: {float((back - results[2][0]).abs().max())}")

    summary = dict(transformers=transformers.__version__, torch=torch.__version__, seed=seed,
                   min_router_gap=rg, min_index_gap=ig, chunked_max_abs_diff=chunk_diff,
                   tolerance="max|diff| <= %g * max|logit| per sequence" % TOLERANCE_REL, sequences=[])
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump({"sequences": seqs, "chunks": CHUNKS}, f)
    for i, (ids, (logits, routes, index)) in enumerate(zip(seqs, results)):
        write_logits(os.path.join(out, f"logits_{i}.bin"), logits)
        experts = {f"layer_{li}": [sorted(r) for r in idx.tolist()] for li, (idx, w, _) in sorted(routes.items())}
        with open(os.path.join(out, f"experts_{i}.json"), "w") as f:
            json.dump(experts, f)
        kept = {f"layer_{li}": [sorted(e for e in row if e >= 0) for row in k.tolist()]
                for li, (s, k) in sorted(index.items())}
        with open(os.path.join(out, f"index_keys_{i}.json"), "w") as f:
            json.dump(kept, f)
        summary["sequences"].append(dict(length=len(ids), max_abs_logit=float(logits.abs().max())))
    write_logits(os.path.join(out, "logits_chunked_3.bin"), chunked)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
