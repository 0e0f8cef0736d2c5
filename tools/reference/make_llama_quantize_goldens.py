#!/usr/bin/env python3
"""What llama.cpp's llama-quantize makes of a dsinfer-converted model: per-tensor types and FNV-1a 64 hashes
of the bytes, and the metadata keys, for tests/golden/llama-quantize/tiny-v3-k.json (3 layers, every mix) and
tiny-v3-k-17.json (17 layers: the mixes whose choice depends on the layer, over enough layers for every branch).

    python3 tools/reference/make_llama_quantize_goldens.py --dsinfer build/bin/dsinfer \
        --llama-bin /path/to/llama.cpp/build/bin --gguf-py /path/to/llama.cpp/gguf-py

1. `dsinfer synth --preset tiny-v3-k --seed 1 [--layers 17]` (a Hugging Face directory, F32),
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

GOLDENS = {  # file: (extra synth arguments, llama-quantize types)
    "tiny-v3-k.json": ([], ["Q4_K_M", "Q5_K_M", "Q6_K", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_XS"]),
    "tiny-v3-k-17.json": (["--layers", "17"], ["Q4_K_M", "Q3_K_M", "IQ4_XS"]),
}


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
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "../../tests/golden/llama-quantize"))
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # noqa: E402

    for name, (extra, types) in GOLDENS.items():
        with tempfile.TemporaryDirectory() as tmp:
            hf, f32 = os.path.join(tmp, "hf"), os.path.join(tmp, "f32.gguf")
            synth = ["synth", "--preset", "tiny-v3-k", "--seed", "1"] + extra
            subprocess.run([a.dsinfer] + synth + ["--out", hf], check=True)
            subprocess.run([a.dsinfer, "convert", "-m", hf, "-o", f32, "--dtype", "f32"], check=True)
            out = {"made_by": "tools/reference/make_llama_quantize_goldens.py", "llama_cpp": a.llama_commit,
                   "source": f"dsinfer {' '.join(synth)}, then dsinfer convert --dtype f32",
                   "synth_layers": int(extra[1]) if extra else 0, "types": {}}
            for t in types:
                q = os.path.join(tmp, f"{t}.gguf")
                subprocess.run([os.path.join(a.llama_bin, "llama-quantize"), f32, q, t, "1"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                out["types"][t] = describe(q, gguf)
                print(name, t, len(out["types"][t]["tensors"]), "tensors")
        path = os.path.join(a.out_dir, name)
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
