#pragma once
// `dsinfer repack`: writes a GGUF file whose eligible weights (model/repack.h: r8_layout_fits) are stored
// in their R8 layouts (tensor/interleave.h), every other tensor and all metadata as they were. run / chat /
// serve / bench then map those weights as they are: no repacking pass at start-up, the weights stay
// file-backed (page cache: shared between processes, evictable), and a model larger than the repacking
// limit (3/4 of RAM) gets the R8 kernels too. The R8 type ids are dsinfer's own (kDsinferGgmlTypeBase),
// so llama.cpp refuses such a file instead of misreading it; the file says so in `dsinfer.layout`.

#include <cstdint>
#include <string>
#include <vector>

namespace dsinfer {

struct RepackFileOptions {
  uint64_t max_part_bytes = 0;  // > 0: split like gguf-split --split-max-size (PREFIX-0000i-of-0000N.gguf)
  bool progress = false;        // a bar on a terminal
  int threads = 0;              // 0: one per physical core
};

struct RepackFileReport {
  std::vector<std::string> files;  // written, in order
  int64_t tensors_repacked = 0;
  uint64_t bytes_repacked = 0;     // in the R8 types
  int64_t tensors_copied = 0;      // kept as they were (norms, the embedding, types without an R8 layout)
  int64_t tensors_left_out = 0;    // of types dsinfer cannot read (GgufFile::unsupported_tensors)
  double seconds = 0;
};

// in_path: a GGUF model (first part of a split set). Throws Error when it is not one, when nothing in it
// has an R8 layout (e.g. it is already repacked, or all F16), or on any write failure (the output is
// written to `path.tmp` and renamed when complete, so a failure leaves no partial file under `out_path`).
RepackFileReport write_repacked_gguf(const std::string& in_path, const std::string& out_path,
                                     const RepackFileOptions& options = {});

// The metadata key a repacked file carries ("r8"), and its value.
inline constexpr const char* kLayoutKey = "dsinfer.layout";
inline constexpr const char* kLayoutR8 = "r8";

}  // namespace dsinfer
