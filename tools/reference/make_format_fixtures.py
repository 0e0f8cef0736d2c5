#!/usr/bin/env python3
"""Writes the file-format fixtures under tests/formats/data/ with the official writers.

The C++ tests (tests/formats/fixture_test.cpp) read these files and compare against the values recorded
in the *.expected.json files next to them, so our readers are checked against files we did not write:

  gguf_types.gguf       gguf.GGUFWriter: every metadata value type (nested arrays too), tensors f32, f16, q8_0
  gguf_split-0000N-of-00003.gguf   gguf.GGUFWriter(split_max_tensors=1): a split model of 3 tensors
  st_types.safetensors  safetensors.torch.save_file: F32, F16, BF16, F8_E4M3 (+ an I64 tensor we must list
                        but refuse to load)
  st_sharded/           huggingface_hub.save_torch_state_dict: two shards + model.safetensors.index.json

Run with the reference venv:  /work/refvenv/bin/python tools/reference/make_format_fixtures.py
"""

import json
import os
import pathlib
import struct

import gguf
import numpy as np
import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "formats" / "data"
VT = gguf.GGUFValueType


def f32(x):
    """The double that a float32 rounding of x holds (JSON stores it exactly)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def make_gguf_types():
    path = OUT / "gguf_types.gguf"
    w = gguf.GGUFWriter(str(path), arch="deepseek2")
    meta = [  # (key, gguf type, value, element type for arrays)
        ("test.u8", VT.UINT8, 200, None),
        ("test.i8", VT.INT8, -100, None),
        ("test.u16", VT.UINT16, 60000, None),
        ("test.i16", VT.INT16, -30000, None),
        ("test.u32", VT.UINT32, 4000000000, None),
        ("test.i32", VT.INT32, -2000000000, None),
        ("test.f32", VT.FLOAT32, f32(0.1), None),
        ("test.bool", VT.BOOL, True, None),
        ("test.string", VT.STRING, "h\u00e9llo \u2713", None),
        ("test.u64", VT.UINT64, 2**63 + 5, None),
        ("test.i64", VT.INT64, -(2**62), None),
        ("test.f64", VT.FLOAT64, 3.141592653589793, None),
        ("test.str_array", VT.ARRAY, ["a", "", "\u0120Hello", "<\uff5cbegin\u2581of\u2581sentence\uff5c>"], VT.STRING),
        ("test.i32_array", VT.ARRAY, [1, -2, 3], VT.INT32),
        ("test.u64_array", VT.ARRAY, [0, 2**64 - 1], VT.UINT64),
        ("test.f32_array", VT.ARRAY, [0.5, -1.25, f32(1e-3)], VT.FLOAT32),
        ("test.bool_array", VT.ARRAY, [True, False, True], VT.BOOL),
        ("test.nested", VT.ARRAY, [[1, 2], [3]], VT.ARRAY),
    ]
    for key, vt, val, sub in meta:
        w.add_key_value(key, val, vt, sub_type=sub)

    rng = np.random.default_rng(7)
    tensors = []
    a = rng.standard_normal((3, 5)).astype(np.float32)
    w.add_tensor("weight.f32", a)
    tensors.append(("weight.f32", "f32", a.shape, a))
    h = rng.standard_normal((2, 8)).astype(np.float16)
    w.add_tensor("weight.f16", h)
    tensors.append(("weight.f16", "f16", h.shape, h.astype(np.float32)))
    q_src = rng.standard_normal((4, 64)).astype(np.float32)
    q = gguf.quants.quantize(q_src, gguf.GGMLQuantizationType.Q8_0)  # uint8 [4, 68]
    w.add_tensor("weight.q8_0", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    tensors.append(("weight.q8_0", "q8_0", q_src.shape,
                    gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    expected = {
        "metadata": [{"key": "general.architecture", "type": "string", "value": "deepseek2"}] + [
            {"key": k, "type": vt.name.lower(), "value": v, **({"elem_type": sub.name.lower()} if sub else {})}
            for k, vt, v, sub in meta],
        "tensors": [{"name": n, "dtype": d, "shape": list(s), "values": np.asarray(v, np.float64).ravel().tolist()}
                    for n, d, s, v in tensors],
    }
    (OUT / "gguf_types.expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


def make_gguf_split():
    base = OUT / "gguf_split.gguf"
    w = gguf.GGUFWriter(str(base), arch="deepseek2", split_max_tensors=1)
    w.add_uint32("deepseek2.block_count", 3)
    names = []
    for i in range(3):
        t = np.arange(4 * (i + 1), dtype=np.float32).reshape(i + 1, 4) + 100 * i
        w.add_tensor(f"blk.{i}.weight", t)
        names.append((f"blk.{i}.weight", list(t.shape), t.ravel().tolist()))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expected = {"tensors": [{"name": n, "shape": s, "values": v} for n, s, v in names]}
    (OUT / "gguf_split.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def st_values(t):
    return t.to(torch.float64).ravel().tolist()


def make_safetensors_types():
    g = torch.Generator().manual_seed(3)
    tensors = {
        "w.f32": torch.randn(3, 4, generator=g),
        "w.f16": torch.randn(2, 3, generator=g).to(torch.float16),
        "w.bf16": torch.randn(5, 2, generator=g).to(torch.bfloat16),
        "w.fp8": (torch.randn(4, 8, generator=g) * 100).to(torch.float8_e4m3fn),
        "w.fp8_scale_inv": torch.tensor([[0.5]], dtype=torch.float32),
        "extra.i64": torch.arange(6, dtype=torch.int64).reshape(2, 3),
    }
    save_file(tensors, str(OUT / "st_types.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected = {
        "metadata": {"format": "pt", "note": "fixture"},
        "tensors": [{"name": n, "dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                                          torch.float8_e4m3fn: "F8_E4M3"}[t.dtype],
                     "shape": list(t.shape), "values": st_values(t)}
                    for n, t in tensors.items() if t.dtype != torch.int64],
        "unsupported": [{"name": "extra.i64", "dtype": "I64", "shape": [2, 3]}],
    }
    (OUT / "st_types.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def make_safetensors_sharded():
    d = OUT / "st_sharded"
    d.mkdir(exist_ok=True)
    for f in d.iterdir():
        f.unlink()
    g = torch.Generator().manual_seed(5)
    tensors = {f"layers.{i}.weight": torch.randn(16, 16, generator=g).to(torch.bfloat16) for i in range(3)}
    save_torch_state_dict(tensors, d, max_shard_size=600)  # 512 bytes each -> one tensor per shard
    expected = {"tensors": [{"name": n, "shape": list(t.shape), "values": st_values(t)} for n, t in tensors.items()]}
    (OUT / "st_sharded.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    make_gguf_types()
    make_gguf_split()
    make_safetensors_types()
    make_safetensors_sharded()
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{os.path.getsize(p):8d}  {p.relative_to(OUT)}")
