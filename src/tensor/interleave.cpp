#include "tensor/interleave.h"

#include <cstddef>
#include <cstring>

#include "tensor/interleave_iq1.h"
#include "tensor/quant_block_layouts.h"
#include "util/error.h"

namespace dsinfer {
namespace {

struct Geometry {
  size_t plain_block;  // bytes of one plain block (f16 d + qs)
  size_t qs_bytes;     // bytes of qs per row and block
};

Geometry geometry(DType plain) {  // Q4_0 / Q8_0 / IQ4_NL
  if (plain == DType::Q4_0 || plain == DType::IQ4_NL) return {18, 16};
  if (plain == DType::Q8_0) return {34, 32};
  fail("no interleaved layout for ", dtype_name(plain));
}

// Q5_0 (22 bytes: f16 d, u32 qh, qs[16]) and Q5_1 (24: f16 d, f16 m, u32 qh, qs[16]) <-> Q5_0_R8 /
// Q5_1_R8 (tensor/interleave.h): the nibbles move as Q4_0's, qh bit 4k+j (the 5th bit of value 4k+j)
// becomes bit k of the row's byte j.
using quant_detail::BlockQ5_0;
using quant_detail::BlockQ5_1;
struct Q5 {
  bool min;  // Q5_1
  size_t plain_block() const { return min ? sizeof(BlockQ5_1) : sizeof(BlockQ5_0); }
  size_t scales() const { return min ? 32 : 16; }  // R8: d[8] (m[8])
  size_t qh() const { return min ? offsetof(BlockQ5_1, qh) : offsetof(BlockQ5_0, qh); }  // (qs follow it)
};

void interleave_q5(Q5 f, DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  const size_t row = dtype_row_bytes(plain, cols), r8_block = kInterleaveRows * f.plain_block();
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* group = dst + (r / kInterleaveRows * kInterleaveRows) * row;
    const int i = static_cast<int>(r % kInterleaveRows);
    for (int64_t b = 0; b < cols / 32; ++b) {
      const uint8_t* in = src + r * row + b * f.plain_block();
      uint8_t* blk = group + b * r8_block;
      std::memcpy(blk + 2 * i, in, 2);
      if (f.min) std::memcpy(blk + 16 + 2 * i, in + 2, 2);
      for (int c = 0; c < 4; ++c) std::memcpy(blk + f.scales() + 32 * c + 4 * i, in + f.qh() + 4 + 4 * c, 4);
      uint32_t qh;
      std::memcpy(&qh, in + f.qh(), 4);
      for (int j = 0; j < 4; ++j) {
        uint8_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = static_cast<uint8_t>(bits | ((qh >> (4 * k + j)) & 1) << k);
        blk[f.scales() + 128 + 4 * i + j] = bits;
      }
    }
  }
}

void deinterleave_q5_row(Q5 f, const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = group + b * kInterleaveRows * f.plain_block();
    uint8_t* out = dst + b * f.plain_block();
    std::memcpy(out, blk + 2 * lane, 2);
    if (f.min) std::memcpy(out + 2, blk + 16 + 2 * lane, 2);
    for (int c = 0; c < 4; ++c) std::memcpy(out + f.qh() + 4 + 4 * c, blk + f.scales() + 32 * c + 4 * lane, 4);
    uint32_t qh = 0;
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 8; ++k) qh |= static_cast<uint32_t>((blk[f.scales() + 128 + 4 * lane + j] >> k) & 1) << (4 * k + j);
    std::memcpy(out + f.qh(), &qh, 4);
  }
}

// Q4_K: 12 packed bytes <-> 8 six-bit scales and mins (ggml get_scale_min_k4; bijective).
void unpack_k4_scales(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
  for (int g = 0; g < 4; ++g) {
    sc[g] = s[g] & 63;
    mn[g] = s[g + 4] & 63;
    sc[g + 4] = static_cast<uint8_t>((s[g + 8] & 0x0f) | ((s[g] >> 6) << 4));
    mn[g + 4] = static_cast<uint8_t>((s[g + 8] >> 4) | ((s[g + 4] >> 6) << 4));
  }
}

void pack_k4_scales(const uint8_t* sc, const uint8_t* mn, uint8_t* s) {
  for (int g = 0; g < 4; ++g) {
    s[g] = static_cast<uint8_t>(sc[g] | ((sc[g + 4] >> 4) << 6));
    s[g + 4] = static_cast<uint8_t>(mn[g] | ((mn[g + 4] >> 4) << 6));
    s[g + 8] = static_cast<uint8_t>((sc[g + 4] & 0x0f) | ((mn[g + 4] & 0x0f) << 4));
  }
}

// Q4_K (144-byte blocks: d, dmin, scales[12], qs[128]) and Q5_K (176: d, dmin, scales[12], qh[32],
// qs[128]); R8 offsets as in interleave.h.
struct K45 {
  bool fifth;
  size_t in_block() const { return fifth ? 176 : 144; }
  size_t out_block() const { return 8 * (fifth ? 180 : 148); }
  size_t in_qs() const { return fifth ? 48 : 16; }
  size_t out_qs() const { return fifth ? 416 : 160; }
};

void interleave_k45(K45 k, DType plain, DType r8, const uint8_t* src, int64_t n_rows, int64_t cols,
                    uint8_t* dst) {
  const size_t in_row = dtype_row_bytes(plain, cols), out_row = dtype_row_bytes(r8, cols);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kInterleaveRows)
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      uint8_t* o = dst + r0 * out_row + sb * k.out_block();
      for (int i = 0; i < kInterleaveRows; ++i) {
        const uint8_t* in = src + (r0 + i) * in_row + sb * k.in_block();
        std::memcpy(o + 2 * i, in, 2);
        std::memcpy(o + 16 + 2 * i, in + 2, 2);
        uint8_t sc[8], mn[8];
        unpack_k4_scales(in + 4, sc, mn);
        for (int g = 0; g < 8; ++g) {
          o[32 + 8 * g + i] = sc[g];
          o[96 + 8 * g + i] = mn[g];
        }
        if (k.fifth)
          for (int c = 0; c < 8; ++c) std::memcpy(o + 160 + 32 * c + 4 * i, in + 16 + 4 * c, 4);
        for (int c = 0; c < 32; ++c) std::memcpy(o + k.out_qs() + 32 * c + 4 * i, in + k.in_qs() + 4 * c, 4);
      }
    }
}

void deinterleave_k45_row(K45 k, const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * k.out_block();
    uint8_t* out = dst + sb * k.in_block();
    std::memcpy(out, blk + 2 * lane, 2);
    std::memcpy(out + 2, blk + 16 + 2 * lane, 2);
    uint8_t sc[8], mn[8];
    for (int g = 0; g < 8; ++g) {
      sc[g] = blk[32 + 8 * g + lane];
      mn[g] = blk[96 + 8 * g + lane];
    }
    pack_k4_scales(sc, mn, out + 4);
    if (k.fifth)
      for (int c = 0; c < 8; ++c) std::memcpy(out + 16 + 4 * c, blk + 160 + 32 * c + 4 * lane, 4);
    for (int c = 0; c < 32; ++c)
      std::memcpy(out + k.in_qs() + 4 * c, blk + k.out_qs() + 32 * c + 4 * lane, 4);
  }
}

// The K-quants whose R8 form moves bytes (Q6_K, Q2_K, most of Q3_K): *_pieces(lane, f) calls f(src offset, R8
// offset, bytes) for every piece of row `lane` of one super-block; R8 offsets as in interleave.h.

// Q6_K: 210-byte blocks ql[128] qh[64] scales[16] d.

// Calls f(src offset, R8 offset, bytes) for every piece of row `lane` of one Q6_K super-block.
template <class F>
void q6_k_pieces(int lane, F&& f) {
  f(208, 2 * lane, 2);                                            // d
  for (int j = 0; j < 16; ++j) f(192 + j, 16 + 8 * j + lane, 1);  // scales
  for (int h = 0; h < 2; ++h)
    for (int q1 = 0; q1 < 2; ++q1)
      for (int c = 0; c < 8; ++c)
        f(64 * h + 32 * q1 + 4 * c, 144 + ((h * 2 + q1) * 8 + c) * 32 + 4 * lane, 4);
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 8; ++c) f(128 + 32 * h + 4 * c, 1168 + (h * 8 + c) * 32 + 4 * lane, 4);
}

// Q2_K: 84-byte blocks scales[16] qs[64] d dmin.
template <class F>
void q2_k_pieces(int lane, F&& f) {
  f(80, 2 * lane, 2);                                            // d
  f(82, 16 + 2 * lane, 2);                                       // dmin
  for (int g = 0; g < 16; ++g) f(g, 32 + 8 * g + lane, 1);       // scale | min << 4
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 8; ++c) f(16 + 32 * h + 4 * c, 160 + (8 * h + c) * 32 + 4 * lane, 4);
}

// Q3_K: 110-byte blocks hmask[32] qs[64] scales[12] d; the bytes that only move (the scales are unpacked
// apart: q3_k_scale, tensor/quant.h).
template <class F>
void q3_k_pieces(int lane, F&& f) {
  f(108, 2 * lane, 2);  // d
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 8; ++c) f(32 + 32 * h + 4 * c, 144 + (8 * h + c) * 32 + 4 * lane, 4);
  for (int c = 0; c < 8; ++c) f(4 * c, 656 + 32 * c + 4 * lane, 4);  // hmask
}

// Q3_K's 16 six-bit scales back into its 12 packed bytes (q3_k_scale's inverse).
void q3_k_pack_scales(const int8_t* sc, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int g = 0; g < 16; ++g) {
    const int v = sc[g] + 32;
    s[g % 8] = static_cast<uint8_t>(s[g % 8] | ((v & 0x0f) << (g < 8 ? 0 : 4)));
    s[8 + g % 4] = static_cast<uint8_t>(s[8 + g % 4] | ((v >> 4) << (2 * (g / 4))));
  }
}

// IQ4_XS: 136-byte blocks d scales_h scales_l[4] qs[128]; the bytes that only move (the scales are unpacked
// apart: iq4_xs_scale).
template <class F>
void iq4_xs_pieces(int lane, F&& f) {
  f(0, 2 * lane, 2);  // d
  for (int g = 0; g < 8; ++g)
    for (int c = 0; c < 4; ++c) f(8 + 16 * g + 4 * c, 80 + 128 * g + 32 * c + 4 * lane, 4);
}

// IQ4_XS's 8 six-bit scales back into scales_h (bytes 2-3) and scales_l (bytes 4-7) of the block at b.
void iq4_xs_pack_scales(const int8_t* sc, uint8_t* b) {
  uint16_t high = 0;
  std::memset(b + 4, 0, 4);
  for (int g = 0; g < 8; ++g) {
    const int v = sc[g] + 32;
    b[4 + g / 2] = static_cast<uint8_t>(b[4 + g / 2] | ((v & 0x0f) << (4 * (g % 2))));
    high = static_cast<uint16_t>(high | ((v >> 4) << (2 * g)));
  }
  std::memcpy(b + 2, &high, 2);
}

// The super-block types whose R8 form unpacks their packed signed group scales to one byte per (group, row),
// at byte 16 + 8 g + row of the 8-row block; their other bytes move piece by piece.
struct Q3Scales {
  static constexpr DType kPlain = DType::Q3_K, kR8 = DType::Q3_K_R8;
  static constexpr int kGroups = 16;
  template <class F>
  static void pieces(int lane, F&& f) { q3_k_pieces(lane, f); }
  static int scale(const uint8_t* block, int g) { return q3_k_scale(block + 96, g); }
  static void pack(const int8_t* sc, uint8_t* block) { q3_k_pack_scales(sc, block + 96); }
};
struct IQ4XSScales {
  static constexpr DType kPlain = DType::IQ4_XS, kR8 = DType::IQ4_XS_R8;
  static constexpr int kGroups = 8;
  template <class F>
  static void pieces(int lane, F&& f) { iq4_xs_pieces(lane, f); }
  static int scale(const uint8_t* block, int g) { return iq4_xs_scale(block, g); }
  static void pack(const int8_t* sc, uint8_t* block) { iq4_xs_pack_scales(sc, block); }
};

template <class S>
void interleave_scaled(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  const size_t in_row = dtype_row_bytes(S::kPlain, cols), out_row = dtype_row_bytes(S::kR8, cols);
  const size_t in_block = dtype_block_bytes(S::kPlain);
  const size_t out_block = kInterleaveRows * dtype_block_bytes(S::kR8);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kInterleaveRows)
    for (int64_t sb = 0; sb < cols / 256; ++sb)
      for (int i = 0; i < kInterleaveRows; ++i) {
        const uint8_t* in = src + (r0 + i) * in_row + sb * in_block;
        uint8_t* out = dst + r0 * out_row + sb * out_block;
        S::pieces(i, [&](size_t from, size_t to, size_t n) { std::memcpy(out + to, in + from, n); });
        for (int g = 0; g < S::kGroups; ++g) out[16 + 8 * g + i] = static_cast<uint8_t>(S::scale(in, g));
      }
}

template <class S>
void deinterleave_scaled_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  const size_t in_block = dtype_block_bytes(S::kPlain);
  const size_t r8_block = kInterleaveRows * dtype_block_bytes(S::kR8);
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * r8_block;
    uint8_t* out = dst + sb * in_block;
    S::pieces(lane, [&](size_t from, size_t to, size_t n) { std::memcpy(out + from, blk + to, n); });
    int8_t sc[16];
    for (int g = 0; g < S::kGroups; ++g) sc[g] = static_cast<int8_t>(blk[16 + 8 * g + lane]);
    S::pack(sc, out);
  }
}

// Rows of `plain` (Q6_K, Q2_K: block bytes per row and super-block) into their R8 form, and back, piece by
// piece.
template <class Pieces>
void interleave_pieces(Pieces pieces, DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  const size_t row = dtype_row_bytes(plain, cols), block = dtype_block_bytes(plain);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kInterleaveRows)
    for (int64_t sb = 0; sb < cols / 256; ++sb)
      for (int i = 0; i < kInterleaveRows; ++i) {
        const uint8_t* in = src + (r0 + i) * row + sb * block;
        uint8_t* out = dst + r0 * row + sb * kInterleaveRows * block;
        pieces(i, [&](size_t from, size_t to, size_t n) { std::memcpy(out + to, in + from, n); });
      }
}

template <class Pieces>
void deinterleave_pieces(Pieces pieces, DType plain, const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  const size_t block = dtype_block_bytes(plain);
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kInterleaveRows * block;
    uint8_t* out = dst + sb * block;
    pieces(lane, [&](size_t from, size_t to, size_t n) { std::memcpy(out + from, blk + to, n); });
  }
}

// (generic lambdas cannot be passed as template arguments by name: wrap each pieces function)
constexpr auto kQ6Pieces = [](int lane, auto&& f) { q6_k_pieces(lane, f); };
constexpr auto kQ2Pieces = [](int lane, auto&& f) { q2_k_pieces(lane, f); };

}  // namespace

bool is_interleaved(DType t) {
  return t == DType::Q4_0_R8 || t == DType::Q8_0_R8 || t == DType::Q4_K_R8 || t == DType::Q5_K_R8 ||
         t == DType::Q6_K_R8 || t == DType::Q5_0_R8 || t == DType::Q5_1_R8 || t == DType::Q2_K_R8 ||
         t == DType::Q3_K_R8 || t == DType::IQ4_NL_R8 || t == DType::IQ4_XS_R8 ||
         t == DType::IQ1_S_R8 || t == DType::IQ1_M_R8;
}

std::optional<DType> interleaved_of(DType t) {
  if (t == DType::Q4_0) return DType::Q4_0_R8;
  if (t == DType::Q8_0) return DType::Q8_0_R8;
  if (t == DType::Q4_K) return DType::Q4_K_R8;
  if (t == DType::Q5_K) return DType::Q5_K_R8;
  if (t == DType::Q6_K) return DType::Q6_K_R8;
  if (t == DType::Q5_0) return DType::Q5_0_R8;
  if (t == DType::Q5_1) return DType::Q5_1_R8;
  if (t == DType::Q2_K) return DType::Q2_K_R8;
  if (t == DType::Q3_K) return DType::Q3_K_R8;
  if (t == DType::IQ4_NL) return DType::IQ4_NL_R8;
  if (t == DType::IQ4_XS) return DType::IQ4_XS_R8;
  if (t == DType::IQ1_S) return DType::IQ1_S_R8;
  if (t == DType::IQ1_M) return DType::IQ1_M_R8;
  return std::nullopt;
}

DType plain_of(DType t) {
  if (t == DType::Q4_0_R8) return DType::Q4_0;
  if (t == DType::Q8_0_R8) return DType::Q8_0;
  if (t == DType::Q4_K_R8) return DType::Q4_K;
  if (t == DType::Q5_K_R8) return DType::Q5_K;
  if (t == DType::Q6_K_R8) return DType::Q6_K;
  if (t == DType::Q5_0_R8) return DType::Q5_0;
  if (t == DType::Q5_1_R8) return DType::Q5_1;
  if (t == DType::Q2_K_R8) return DType::Q2_K;
  if (t == DType::Q3_K_R8) return DType::Q3_K;
  if (t == DType::IQ4_NL_R8) return DType::IQ4_NL;
  if (t == DType::IQ4_XS_R8) return DType::IQ4_XS;
  if (t == DType::IQ1_S_R8) return DType::IQ1_S;
  if (t == DType::IQ1_M_R8) return DType::IQ1_M;
  return t;
}

void interleave_rows(DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  if (n_rows % kInterleaveRows != 0)
    fail("interleave: ", n_rows, " rows is not a multiple of ", kInterleaveRows);
  if (plain == DType::Q4_K) return interleave_k45({false}, plain, DType::Q4_K_R8, src, n_rows, cols, dst);
  if (plain == DType::Q5_K) return interleave_k45({true}, plain, DType::Q5_K_R8, src, n_rows, cols, dst);
  if (plain == DType::Q6_K) return interleave_pieces(kQ6Pieces, plain, src, n_rows, cols, dst);
  if (plain == DType::Q2_K) return interleave_pieces(kQ2Pieces, plain, src, n_rows, cols, dst);
  if (plain == DType::Q3_K) return interleave_scaled<Q3Scales>(src, n_rows, cols, dst);
  if (plain == DType::IQ4_XS) return interleave_scaled<IQ4XSScales>(src, n_rows, cols, dst);
  if (plain == DType::IQ1_S) return interleave_iq1_s(src, n_rows, cols, dst);
  if (plain == DType::IQ1_M) return interleave_iq1_m(src, n_rows, cols, dst);
  if (plain == DType::Q5_0) return interleave_q5({false}, plain, src, n_rows, cols, dst);
  if (plain == DType::Q5_1) return interleave_q5({true}, plain, src, n_rows, cols, dst);
  const Geometry g = geometry(plain);
  const size_t row_bytes = dtype_row_bytes(plain, cols);
  const int64_t nb = cols / 32;
  const size_t r8_block = kInterleaveRows * g.plain_block;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kInterleaveRows) {
    const uint8_t* rows = src + r0 * row_bytes;
    uint8_t* out = dst + r0 * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = out + b * r8_block;
      for (int i = 0; i < kInterleaveRows; ++i) {
        const uint8_t* in = rows + i * row_bytes + b * g.plain_block;
        std::memcpy(blk + 2 * i, in, 2);
        for (size_t c = 0; c < g.qs_bytes / 4; ++c) std::memcpy(blk + 16 + c * 32 + 4 * i, in + 2 + 4 * c, 4);
      }
    }
  }
}

void deinterleave_row(DType r8, const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  if (r8 == DType::Q5_0_R8) return deinterleave_q5_row({false}, group, cols, lane, dst);
  if (r8 == DType::Q5_1_R8) return deinterleave_q5_row({true}, group, cols, lane, dst);
  if (r8 == DType::Q4_K_R8) return deinterleave_k45_row({false}, group, cols, lane, dst);
  if (r8 == DType::Q5_K_R8) return deinterleave_k45_row({true}, group, cols, lane, dst);
  if (r8 == DType::Q6_K_R8) return deinterleave_pieces(kQ6Pieces, DType::Q6_K, group, cols, lane, dst);
  if (r8 == DType::Q2_K_R8) return deinterleave_pieces(kQ2Pieces, DType::Q2_K, group, cols, lane, dst);
  if (r8 == DType::Q3_K_R8) return deinterleave_scaled_row<Q3Scales>(group, cols, lane, dst);
  if (r8 == DType::IQ4_XS_R8) return deinterleave_scaled_row<IQ4XSScales>(group, cols, lane, dst);
  if (r8 == DType::IQ1_S_R8) return deinterleave_iq1_s_row(group, cols, lane, dst);
  if (r8 == DType::IQ1_M_R8) return deinterleave_iq1_m_row(group, cols, lane, dst);
  const Geometry g = geometry(plain_of(r8));
  const int64_t nb = cols / 32;
  const size_t r8_block = kInterleaveRows * g.plain_block;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * r8_block;
    uint8_t* out = dst + b * g.plain_block;
    std::memcpy(out, blk + 2 * lane, 2);
    for (size_t c = 0; c < g.qs_bytes / 4; ++c) std::memcpy(out + 2 + 4 * c, blk + 16 + c * 32 + 4 * lane, 4);
  }
}

}  // namespace dsinfer
