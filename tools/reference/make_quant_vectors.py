#!/usr/bin/env python3
"""Test vectors for the GGML block formats (tests/tensor/quant_fixture_test.cpp).

Two independent references, neither written in this project:
  * gguf-py (the `gguf` package of llama.cpp): quantize for Q8_0, Q4_0, Q5_0 and Q5_1, dequantize for every
    type.
  * llama.cpp's own C reference, ggml/src/ggml-quants.c, compiled from a llama.cpp checkout given with
    --llama-cpp and called through ctypes: quantize_row_*_ref for every type (the only reference for
    the K-quant quantizers; for IQ4_NL / IQ4_XS quantize_iq4_* without importance weights, as
    llama-quantize runs them) and dequantize_row_* as a cross-check of gguf-py.

Outputs, in --out (default tests/tensor/data/quant):
  <type>_quantize.bin    (type as dtype_name spells it: q8_0, q4_K ...) records: u32 n | f32[n] input | expected block bytes (from quantize_row_*_ref,
                         asserted equal to gguf-py's quantizer where it has one)
  <type>_dequantize.bin  records: u32 n | random block bytes with finite f16 scales | f32[n] expected
                         (gguf-py's dequantizer, asserted equal to llama.cpp's dequantize_row_*)

Run:  PYTHONPATH=/path/to/llama.cpp/gguf-py python3 tools/reference/make_quant_vectors.py --llama-cpp /path/to/llama.cpp
where /path/to/llama.cpp holds ggml/include and ggml/src (any recent llama.cpp; the block formats have
not changed since 2023). Needs a C compiler (cc).
"""

import argparse
import ctypes
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as QT

# Appended types keep the earlier types' seeds (1234 + index), so their files do not change.
TYPES = {"q8_0": QT.Q8_0, "q4_0": QT.Q4_0, "q4_k": QT.Q4_K, "q5_k": QT.Q5_K, "q6_k": QT.Q6_K, "q5_0": QT.Q5_0,
         "q5_1": QT.Q5_1, "q2_k": QT.Q2_K, "q3_k": QT.Q3_K, "iq4_nl": QT.IQ4_NL, "iq4_xs": QT.IQ4_XS,
         "iq2_xxs": QT.IQ2_XXS, "iq2_xs": QT.IQ2_XS, "iq2_s": QT.IQ2_S, "iq3_xxs": QT.IQ3_XXS, "iq3_s": QT.IQ3_S,
         "iq1_s": QT.IQ1_S, "iq1_m": QT.IQ1_M}
C_NAMES = {"q8_0": "q8_0", "q4_0": "q4_0", "q4_k": "q4_K", "q5_k": "q5_K", "q6_k": "q6_K", "q5_0": "q5_0",
           "q5_1": "q5_1", "q2_k": "q2_K", "q3_k": "q3_K", "iq4_nl": "iq4_nl", "iq4_xs": "iq4_xs",
           "iq2_xxs": "iq2_xxs", "iq2_xs": "iq2_xs", "iq2_s": "iq2_s", "iq3_xxs": "iq3_xxs", "iq3_s": "iq3_s",
           "iq1_s": "iq1_s", "iq1_m": "iq1_m"}
# The grid i-quants: dequantize vectors only (dsinfer reads them but does not quantize to them; ggml's
# quantizers for the 1- and 2-bit ones need an importance matrix).
DEQUANTIZE_ONLY = {"iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"}
# The IQ4 types: quantize_<type>(src, dst, nrow, n_per_row, NULL), what llama-quantize calls without an
# imatrix (for IQ4_NL not quantize_row_iq4_nl_ref, which skips the 7 extra scale tries).
ROW_QUANTIZER_WITH_TRIES = {"iq4_nl", "iq4_xs"}
HAS_GGUF_PY_QUANTIZER = {"q8_0", "q4_0", "q5_0", "q5_1"}
BLOCK32 = ("q8_0", "q4_0", "q5_0", "q5_1", "iq4_nl")

# ggml-quants.c calls a few ggml.c functions from code paths we never reach; stub them so the object
# links into a shared library on its own.
STUBS = r"""
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
void ggml_abort(const char *file, int line, const char *fmt, ...) { abort(); }
size_t ggml_row_size(int type, int64_t ne) { abort(); }
const char *ggml_type_name(int type) { abort(); }
size_t ggml_type_size(int type) { abort(); }
"""


def build_llama_reference(llama_dir: str, workdir: str) -> ctypes.CDLL:
    src = os.path.join(llama_dir, "ggml", "src")
    stub = os.path.join(workdir, "stubs.c")
    with open(stub, "w") as f:
        f.write(STUBS)
    lib = os.path.join(workdir, "ggml_quants_ref.so")
    # -ffp-contract=off: ggml-base is built for the baseline ISA, without fused multiply-add.
    cmd = ["cc", "-O2", "-ffp-contract=off", "-DNDEBUG", "-fPIC", "-shared",
           "-I", os.path.join(llama_dir, "ggml", "include"), "-I", src,
           os.path.join(src, "ggml-quants.c"), stub, "-o", lib, "-lm"]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(lib)


def row_bytes(qtype: QT, n: int) -> int:
    block, size = GGML_QUANT_SIZES[qtype]
    assert n % block == 0
    return n // block * size


def c_quantize(lib, name: str, x: np.ndarray) -> bytes:
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = ctypes.create_string_buffer(row_bytes(TYPES[name], x.size))
    if name in ROW_QUANTIZER_WITH_TRIES:
        fn = getattr(lib, f"quantize_{C_NAMES[name]}")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        fn.restype = ctypes.c_size_t
        fn(x.ctypes.data, out, 1, x.size, None)
    else:
        fn = getattr(lib, f"quantize_row_{C_NAMES[name]}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(x.ctypes.data, out, x.size)
    return out.raw


def c_dequantize(lib, name: str, data: bytes, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    buf = ctypes.create_string_buffer(data, len(data))
    fn = getattr(lib, f"dequantize_row_{C_NAMES[name]}")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(buf, out.ctypes.data, n)
    return out


def input_rows(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Awkward rows: every n is a multiple of 256 so the same rows serve every type."""
    g = lambda n, s=1.0: (rng.standard_normal(n) * s).astype(np.float32)
    rows = [
        np.zeros(256, np.float32),
        np.full(256, 0.37, np.float32),
        np.full(256, -2.5, np.float32),
        g(768),                                   # 512 + 256 values: three super-blocks
        g(512, 0.02),                             # weight-like magnitudes
        g(256, 1e4),                              # large but f16 scales stay finite
        g(256, 1e-6),                             # scales become f16 subnormals
        g(256, 1e-12),                            # scales round to f16 zero
        rng.uniform(0, 1, 256).astype(np.float32),     # all positive: K-quant min clamps to 0
        -rng.uniform(0.5, 1, 256).astype(np.float32),  # all negative
        (rng.integers(-16, 17, 512) * 0.25).astype(np.float32),  # on a grid: rounding ties
    ]
    outlier = g(512)
    outlier[rng.integers(0, 512, 3)] = [100.0, -57.0, 33.0]
    rows.append(outlier)
    sparse = np.zeros(512, np.float32)
    sparse[rng.integers(0, 512, 9)] = g(9, 3.0)
    rows.append(sparse)
    per_block = g(768) * np.repeat(10.0 ** rng.uniform(-8, 4, 24), 32).astype(np.float32)
    rows.append(per_block.astype(np.float32))
    halves = g(256)
    halves[::2] = 0.0                           # exact zeros inside an otherwise normal block
    rows.append(halves)
    # Longer rows so that rarely taken branches of the K-quant searches (the last grid steps, ties in
    # the error comparison) are exercised somewhere.
    rows.append(g(4096, 0.05))
    rows.append(rng.laplace(0, 1, 4096).astype(np.float32))   # heavy tails, like real weights
    if name in BLOCK32:
        rows.append(g(256, 1e7))                # f16 scale overflows to inf: bytes still defined
    return rows


def random_blocks(name: str, n_blocks: int, rng: np.random.Generator) -> bytes:
    """Random block bytes whose f16 scale fields are finite (normal or subnormal, either sign)."""
    qtype = TYPES[name]
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)

    def f16_field(count):
        mag = 10.0 ** rng.uniform(-7, 3, count)
        sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
        vals = (mag * sign).astype(np.float16)
        vals[rng.random(count) < 0.05] = 0.0
        return vals.view(np.uint8).reshape(count, 2)

    if name in ("q8_0", "q4_0", "q5_0", "iq4_nl", "iq4_xs") or (name in DEQUANTIZE_ONLY and name != "iq1_m"):
        raw[:, 0:2] = f16_field(n_blocks)
    elif name == "iq1_m":  # d's 16 bits are the top nibbles of the 4 u16 scale words at bytes 48..55
        d = f16_field(n_blocks).view(np.uint16).reshape(n_blocks)
        for k in range(4):
            nib = ((d >> (4 * k)) & 0xF).astype(np.uint8)
            raw[:, 49 + 2 * k] = (raw[:, 49 + 2 * k] & 0x0F) | (nib << 4)
    elif name in ("q4_k", "q5_k", "q5_1"):  # d, then dmin (K-quants) or m (Q5_1)
        raw[:, 0:2] = f16_field(n_blocks)
        raw[:, 2:4] = f16_field(n_blocks)
    elif name == "q2_k":  # d, dmin are the last two fields
        raw[:, size - 4:size - 2] = f16_field(n_blocks)
        raw[:, size - 2:size] = f16_field(n_blocks)
    else:  # q6_k, q3_k: d is the last field
        raw[:, size - 2:size] = f16_field(n_blocks)
    return raw.tobytes()


def write_quantize_vectors(lib, name: str, qtype: QT, rng: np.random.Generator, out_dir: str) -> None:
    with open(os.path.join(out_dir, f"{C_NAMES[name]}_quantize.bin"), "wb") as f:
        for x in input_rows(name, rng):
            expected = c_quantize(lib, name, x)
            if name in HAS_GGUF_PY_QUANTIZER:
                with np.errstate(all="ignore"):
                    py = quants.quantize(x.reshape(1, -1), qtype).tobytes()
                assert py == expected, f"{name}: gguf-py and ggml-quants.c disagree"
            f.write(struct.pack("<I", x.size) + x.astype("<f4").tobytes() + expected)


def same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp", required=True, help="llama.cpp checkout (needs ggml/include, ggml/src)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "tensor", "data",
                                                  "quant"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_llama_reference(args.llama_cpp, tmp)
        for name, qtype in TYPES.items():
            rng = np.random.default_rng(1234 + list(TYPES).index(name))
            if name not in DEQUANTIZE_ONLY:
                write_quantize_vectors(lib, name, qtype, rng, args.out)
            with open(os.path.join(args.out, f"{C_NAMES[name]}_dequantize.bin"), "wb") as f:
                block = GGML_QUANT_SIZES[qtype][0]
                for n_blocks in (1, 3, 8 if block == 256 else 40):
                    data = random_blocks(name, n_blocks, rng)
                    n = n_blocks * block
                    with np.errstate(all="ignore"):
                        py = quants.dequantize(np.frombuffer(data, np.uint8).reshape(1, -1), qtype).reshape(-1)
                    py = py.astype(np.float32)
                    assert same_floats(py, c_dequantize(lib, name, data, n)), f"{name}: dequantizers disagree"
                    f.write(struct.pack("<I", n) + data + py.astype("<f4").tobytes())
            print(name, "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
