#!/usr/bin/env python3
"""What llama.cpp's llama-quantize makes of a dsinfer-converted model: per-tensor types and FNV-1a 64 hashes
of the bytes, and the metadata keys, for tests/golden/llama-quantize/tiny-v3-k.json.

    python3 tools/reference/make_llama_quantize_goldens.py --dsinfer build/bin/dsinfer \
        --llama-bin /path/to/llama.cpp/build/bin --gguf-py /path/to/llama.cpp/gguf-py

1. `dsinfer synth --preset tiny-v3-k --seed 1` (a Hugging Face directory, F32),
2. `dsinfer convert --dtype f32` of it (the unquantized GGUF),
3. `llama-quantize` of that into each type below,
4. records every tensor's type and the FNV-1a 64 hash of its bytes (gguf-py's reader), and each file's
   metadata keys with their scalar values.
The test (tests/model/convert_test.cpp) runs steps 1-2 with `dsinfer convert --dtype T` instead of
llama-quantize and must hash to the same values: same tensor types (llama.cpp's mixes and fallbacks),
same bytes (llama.cpp's reference quantizers), same metadata.
Needs numpy (gguf-py); no torch.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TYPES = ["Q4_K_M", "Q5_K_M", "Q6_K"]


def fnv1a64(data: bytes) -> str:
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def describe(path, gguf):
    r = gguf.GGUFReader(path)
    tensors = [{"name": t.name, "type": t.tensor_type.name, "fnv1a64": fnv1a64(bytes(t.data.tobytes()))} for t in r.tensors]
    keys = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        if len(f.types) == 1 and f.types[0] != gguf.GGUFValueType.STRING:
            keys[f.name] = f.parts[f.data[0]].tolist()[0]
        else:
            keys[f.name] = None  # strings and arrays: the key only
    return {"tensors": tensors, "metadata": keys}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsinfer", required=True)
    ap.add_argument("--llama-bin", required=True)
    ap.add_argument("--gguf-py", required=True)
    ap.add_argument("--llama-commit", default="unknown")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../tests/golden/llama-quantize/tiny-v3-k.json"))
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # noqa: E402

    with tempfile.TemporaryDirectory() as tmp:
        hf, f32 = os.path.join(tmp, "hf"), os.path.join(tmp, "f32.gguf")
        subprocess.run([a.dsinfer, "synth", "--preset", "tiny-v3-k", "--seed", "1", "--out", hf], check=True)
        subprocess.run([a.dsinfer, "convert", "-m", hf, "-o", f32, "--dtype", "f32"], check=True)
        out = {"made_by": "tools/reference/make_llama_quantize_goldens.py", "llama_cpp": a.llama_commit,
               "source": "dsinfer synth --preset tiny-v3-k --seed 1, then dsinfer convert --dtype f32", "types": {}}
        for t in TYPES:
            q = os.path.join(tmp, f"{t}.gguf")
            subprocess.run([os.path.join(a.llama_bin, "llama-quantize"), f32, q, t, "1"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out["types"][t] = describe(q, gguf)
            print(t, len(out["types"][t]["tensors"]), "tensors")
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
