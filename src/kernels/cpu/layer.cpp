// Placeholder so the layer target exists before its first component lands.
namespace dsinfer { [[maybe_unused]] static int kLayer_kernels_cpu = 0; }
