#!/usr/bin/env python3
"""Golden outputs of DeepSeek-V3's multi-token-prediction (MTP) module, for the C++ engine to reproduce.

transformers has no MTP module (DeepseekV3ForCausalLM ignores `model.layers.{num_hidden_layers}.*`), so the
module is assembled here from transformers' own building blocks exactly as vLLM's
`DeepSeekMultiTokenPredictorLayer.forward` (and SGLang's deepseek_nextn.py) run it (spec §10.2):

    e  = RMSNorm(Embed(t_{i+1}); enorm)          hh = RMSNorm(h_i; hnorm)     (h_i: main model, final-normed)
    x  = concat([e, hh]) @ eh_proj^T             embedding first
    y  = DeepseekV3DecoderLayer(x, positions i)  transformers' own decoder block (MLA + MoE), causal
    logits_{i+2} = RMSNorm(y; shared_head.norm) @ shared_head.head^T

The main model is tests/golden/tiny-v3 as committed (loaded with from_pretrained); the module's weights use the
same init scheme as make_model_goldens.py (embedding and head are copies of the main ones, as in the released
checkpoints). vLLM's zeroing of the embedding at position 0 is a serving quirk and is not applied.

Writes tests/golden/tiny-v3-mtp/:
  config.json          tiny-v3's config with num_nextn_predict_layers = 1
  model.safetensors    tiny-v3's tensors plus model.layers.3.{embed_tokens, enorm, hnorm, eh_proj, shared_head.norm,
                       shared_head.head, input_layernorm, self_attn.*, post_attention_layernorm, mlp.*} (per-expert
                       names, as the real checkpoints store layer 61)
  inputs.json          the tiny-v3 sequences
  mtp_logits_<i>.bin   float32 [n_ids - 1][vocab]: row i = the module's logits for (h_i, t_{i+1}) at position i,
                       one causal pass over the whole shifted sequence (sequences of length >= 2)
  golden.json          versions, seed, routing gaps of the module's MoE, tolerance

Run:  .venv-ref/bin/python tools/reference/make_mtp_goldens.py  (~5 s; reruns are byte-identical)
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import DeepseekV3ForCausalLM
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer, DeepseekV3RMSNorm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_goldens as mg  # noqa: E402  (same directory: init scheme, routing reference, writers)

BASE_SEED = 4000
TOLERANCE_REL = 1e-4


class MtpModule(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        D, V = cfg.hidden_size, cfg.vocab_size
        self.embed_tokens = nn.Embedding(V, D)
        self.enorm = DeepseekV3RMSNorm(D, eps=cfg.rms_norm_eps)
        self.hnorm = DeepseekV3RMSNorm(D, eps=cfg.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * D, D, bias=False)
        self.block = DeepseekV3DecoderLayer(cfg, layer_idx)
        self.shared_head_norm = DeepseekV3RMSNorm(D, eps=cfg.rms_norm_eps)
        self.shared_head_head = nn.Linear(D, V, bias=False)

    def forward(self, rotary, hidden, next_ids):
        """hidden [n, D] final-normed main states h_0..h_{n-1}; next_ids [n] = t_1..t_n. Returns logits [n, V]."""
        n = hidden.shape[0]
        x = torch.cat([self.enorm(self.embed_tokens(next_ids)), self.hnorm(hidden)], dim=-1)
        x = self.eh_proj(x)[None]                                        # [1, n, D]
        pos = torch.arange(n)[None]
        mask = torch.full((n, n), -math.inf).triu(1)[None, None]         # additive causal mask
        y = self.block(x, attention_mask=mask, position_ids=pos, position_embeddings=rotary(x, pos))
        y = y[0] if isinstance(y, tuple) else y
        return self.shared_head_head(self.shared_head_norm(y))[0]


def mtp_tensors(mtp, layer, Ie):
    """The module's tensors under the checkpoint names (per-expert, un-fused as save_pretrained writes them)."""
    p = f"model.layers.{layer}."
    out = {}
    for name, t in mtp.state_dict().items():
        t = t.detach().contiguous()
        if name.startswith("block."):
            sub = name[len("block."):]
            if sub.endswith("experts.gate_up_proj"):                     # [E, 2*Ie, D]: gate first, up second
                base = p + sub[: -len("gate_up_proj")]
                for e in range(t.shape[0]):
                    out[f"{base}{e}.gate_proj.weight"] = t[e, :Ie].contiguous()
                    out[f"{base}{e}.up_proj.weight"] = t[e, Ie:].contiguous()
            elif sub.endswith("experts.down_proj"):                      # [E, D, Ie]
                base = p + sub[: -len("down_proj")]
                for e in range(t.shape[0]):
                    out[f"{base}{e}.down_proj.weight"] = t[e].contiguous()
            else:
                out[p + sub] = t
        else:
            out[p + name.replace("shared_head_norm", "shared_head.norm").replace("shared_head_head",
                                                                                "shared_head.head")] = t
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden"))
    ap.add_argument("--golden", default=root)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    src, out = os.path.join(args.golden, "tiny-v3"), os.path.join(args.golden, "tiny-v3-mtp")
    kw = mg.CONFIGS["tiny-v3"]["kwargs"]
    main_model = DeepseekV3ForCausalLM.from_pretrained(src, attn_implementation="eager",
                                                       experts_implementation="eager", dtype=torch.float32).eval()
    main_model.requires_grad_(False)
    cfg = main_model.config
    layer = cfg.num_hidden_layers
    inputs = json.load(open(os.path.join(src, "inputs.json")))["sequences"]

    with torch.no_grad():
        hidden = [main_model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
                  .hidden_states[-1][0] for ids in inputs]               # final-normed (HF's last hidden state)
    mtp = MtpModule(cfg, layer).to(torch.float32).eval()
    mtp.requires_grad_(False)
    assert isinstance(mtp.block.mlp, transformers.models.deepseek_v3.modeling_deepseek_v3.DeepseekV3MoE)
    assert abs(mtp.block.self_attn.scaling - mg.expected_softmax_scale(kw)) <= 1e-12, "softmax scale (spec 4.3)"

    def run_all():
        cap, logits = [], []
        hook = mtp.block.mlp.gate.register_forward_hook(
            lambda mod, a, o: cap.append({layer: (a[0].reshape(-1, a[0].shape[-1]).clone(), o[1], o[2])}))
        try:
            with torch.no_grad():
                for ids, h in zip(inputs, hidden):
                    if len(ids) >= 2:
                        logits.append(mtp(main_model.model.rotary_emb, h[:-1], torch.tensor(ids[1:])))
        finally:
            hook.remove()
        return cap, logits

    for seed in range(BASE_SEED, BASE_SEED + mg.MAX_SEED_TRIES):
        mg.init_weights(mtp, seed)
        with torch.no_grad():                                            # copies, as in the released checkpoints
            mtp.embed_tokens.weight.copy_(main_model.model.embed_tokens.weight)
            mtp.shared_head_head.weight.copy_(main_model.lm_head.weight)
        cap, logits = run_all()
        gates = {layer: mtp.block.mlp.gate}
        stats = dict(min_expert_gap=math.inf, min_group_gap=math.inf)
        for c in cap:
            x, hw, hi = c[layer]
            sets, _, eg, gg = mg.reference_route(x, gates[layer], kw)
            assert sets == [sorted(r) for r in hi.tolist()], "HF routing differs from the spec's"
            stats["min_expert_gap"] = min(stats["min_expert_gap"], float(eg.min()))
            stats["min_group_gap"] = min(stats["min_group_gap"], float(gg.min()))
        ok = stats["min_expert_gap"] >= mg.MIN_GAP and stats["min_group_gap"] >= mg.MIN_GAP
        mg.log(f"  seed {seed}: min expert gap {stats['min_expert_gap']:.3g}, "
               f"min group gap {stats['min_group_gap']:.3g}{'' if ok else '  -> re-seed'}")
        if ok:
            break
    else:
        raise SystemExit("no seed with routing gaps >= MIN_GAP")

    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    tensors = {}
    with safe_open(os.path.join(src, "model.safetensors"), "pt") as f:
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    extra = mtp_tensors(mtp, layer, kw["moe_intermediate_size"])
    assert not set(extra) & set(tensors)
    tensors.update(extra)
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = json.load(open(os.path.join(src, "config.json")))
    config["num_nextn_predict_layers"] = 1
    mg.dump_json(os.path.join(out, "config.json"), config)
    shutil.copyfile(os.path.join(src, "inputs.json"), os.path.join(out, "inputs.json"))

    # The module rebuilt from the file must give the same logits (checks the names and the un-fusing).
    re = MtpModule(cfg, layer).to(torch.float32).eval()
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
        for name, t in mtp_tensors(re, layer, kw["moe_intermediate_size"]).items():
            assert f.get_tensor(name).shape == t.shape, name
    mtp_back = mtp_tensors(mtp, layer, kw["moe_intermediate_size"])
    assert all(torch.equal(tensors[k], v) for k, v in mtp_back.items())

    max_logit, files = [], []
    for i, ids in enumerate(inputs):
        if len(ids) < 2:
            continue
        lg = logits[len(files)]
        assert lg.shape == (len(ids) - 1, cfg.vocab_size)
        name = f"mtp_logits_{i}.bin"
        lg.numpy().astype("<f4").tofile(os.path.join(out, name))
        files.append(name)
        max_logit.append(mg.f32(lg.abs().max()))
    summary = {
        "name": "tiny-v3-mtp",
        "reference": "transformers DeepseekV3DecoderLayer / DeepseekV3RMSNorm + nn.Linear, composed as vLLM's "
                     "DeepSeekMultiTokenPredictorLayer.forward (embedding first in eh_proj; no position-0 zeroing); "
                     "main model = tests/golden/tiny-v3 via from_pretrained; float32, eager, 1 CPU thread",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "mtp_weight_seed": seed,
        "mtp_layer": layer,
        "files": files,
        "layout": "[n_ids - 1][vocab] float32: row i = logits predicting t_{i+2} from (h_i, t_{i+1}) at position i",
        "max_abs_logit": max_logit,
        "routing": {"min_expert_gap": mg.f32(stats["min_expert_gap"]), "min_group_gap": mg.f32(stats["min_group_gap"])},
        "tolerance": {"rule": "per sequence: max_abs_diff(logits) <= rel * max_abs_logit", "rel": TOLERANCE_REL},
    }
    mg.dump_json(os.path.join(out, "golden.json"), summary)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    mg.log(f"  wrote {out}: {len(os.listdir(out))} files, {total} bytes, max|logit| {max_logit}")
    assert total < 2 * 1024 * 1024
    for f in sorted(os.listdir(out)):
        mg.log(f"  tiny-v3-mtp/{f} {hashlib.sha256(open(os.path.join(out, f), 'rb').read()).hexdigest()[:16]}")


if __name__ == "__main__":
    sys.exit(main())
