#include "tensor/quant_blocks.h"

#include "util/error.h"

namespace dsinfer {

void dequantize_blocks(DType t, const void*, float*, int64_t) { fail("dequantize: ", dtype_name(t), " not implemented yet"); }
void quantize_blocks(DType t, const float*, void*, int64_t) { fail("quantize: ", dtype_name(t), " not implemented yet"); }

}  // namespace dsinfer
