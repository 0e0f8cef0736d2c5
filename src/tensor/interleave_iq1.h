#pragma once
// Internal to src/tensor/: IQ1_S / IQ1_M rows <-> their IQ1_S_R8 / IQ1_M_R8 form (layout in tensor/interleave.h), for
// interleave_rows / deinterleave_row.

#include <cstdint>

namespace dsinfer {

// n_rows (a multiple of 8) IQ1_S rows of `cols` values at src into IQ1_S_R8 at dst.
void interleave_iq1_s(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst);

// Row `lane` of the IQ1_S_R8 row group at `group` back in IQ1_S's bytes. Throws Error where the values are
// not a point of the IQ1 lattice (only bytes no repacking made).
void deinterleave_iq1_s_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst);

// The same for IQ1_M <-> IQ1_M_R8.
void interleave_iq1_m(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst);
void deinterleave_iq1_m_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst);

}  // namespace dsinfer
