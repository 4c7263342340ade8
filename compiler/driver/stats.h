// `cella stats`: the parameters and multiply-accumulates of a network's supernet or of one of its
// architectures, as text and as JSON. The front end prints the report; `cella stats --latency`
// runs in the runtime, which adds the measured latency to the same report.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::driver {

struct StatsReport {
  nlohmann::json json;
  std::string text;  ///< lines ending in '\n'
  /// The input the figures are for: the data set's images, and the side the network resizes them
  /// to when it has a resolution choice (the architecture's; the largest for the supernet).
  std::string data;
  std::int64_t channels = 0, size = 0;
  std::optional<std::int64_t> resolution;
};

/// The report of `arch` (nullptr: the supernet, every candidate) of `program`'s network on the
/// images of data set `data` (empty: the search block's, else fashion_mnist). Throws
/// std::invalid_argument for a data set the compiler does not know.
StatsReport stats_report(const ir::Program& program, const ir::Arch* arch, const std::string& data);

}  // namespace cella::driver
