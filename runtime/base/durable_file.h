// The one way cella writes a file that must survive a kill or a full disk: checkpoints, run
// files, the split tree's node files. No LibTorch here.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace cella::runtime {

/// A write that failed: the file it was writing (the temporary one) and the system's reason.
struct WriteError : std::runtime_error {
  WriteError(std::string file, std::string reason)
      : std::runtime_error(file + ": " + reason), file(std::move(file)), reason(std::move(reason)) {}
  std::string file, reason;
};

/// Writes `bytes` to `path` so that, whatever happens, the file is either what it was or `bytes`
/// whole: into `path`.tmp, flushed to the disk (fsync), renamed over `path`, and the directory
/// flushed. A write that fails (a full disk, no permission, a directory in the way) removes the
/// temporary file, leaves `path` as it was and throws WriteError, whose one-line message names the
/// file and the system's reason.
void write_durably(const std::string& path, std::string_view bytes);

}  // namespace cella::runtime
