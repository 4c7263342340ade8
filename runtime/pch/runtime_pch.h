// Precompiled header for runtime/: LibTorch costs ~15 s and ~1 GB per translation unit that
// includes it, so every runtime file shares one compiled copy.
// (No include guard: a precompiled header is compiled on its own, never included twice.)
#include <torch/torch.h>
