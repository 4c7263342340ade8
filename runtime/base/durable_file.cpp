// Durable, atomic file writes (durable_file.h). The bytes are written with POSIX calls whose every
// result is checked: a full disk shows up as a failed write() or fsync(), not as a short file
// that the rename would then publish.
#include "runtime/base/durable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cella::runtime {

namespace {

// Flushes a file or directory to the disk; a directory that cannot be opened is left as it is
// (some file systems refuse).
void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

[[noreturn]] void fail(const std::string& tmp, int fd, const std::string& what, int error) {
  if (fd >= 0) ::close(fd);
  ::unlink(tmp.c_str());  // the space it took, back; the previous file is untouched
  throw WriteError(tmp, fmt::format("{}: {}", what, std::strerror(error)));
}

}  // namespace

void write_durably(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, -1, "cannot create it", errno);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(tmp, fd, "cannot write it", n < 0 ? errno : ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail(tmp, fd, "cannot flush it to the disk", errno);
  if (::close(fd) != 0) fail(tmp, -1, "cannot close it", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(tmp, -1, fmt::format("cannot rename it to {}", path), errno);
  sync_directory(std::filesystem::path(path).parent_path().string());
}

}  // namespace cella::runtime
