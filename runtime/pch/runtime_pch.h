// Precompiled header for runtime/: LibTorch costs ~15 s and ~1 GB per translation unit that
// includes it, so every runtime file shares one compiled copy.
#pragma once

#include <torch/torch.h>
