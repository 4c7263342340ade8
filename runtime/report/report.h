// The run report: one self-contained HTML page (report.html in the run directory) with what a
// researcher wants to see of a run: its configuration and resolved schedule, timings, training
// curves per sub-supernet, the learning rate, the architecture weights, the split tree with
// margins, and the final architecture with its costs. Plots are drawn by gnuplot and the trees
// by Graphviz, both as SVG, and embedded as data: URIs, so the page needs nothing else. No
// LibTorch here: the `cella report` command (runtime/driver/report.cpp) gathers the inputs,
// including the measured latency.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/search/tree.h"

namespace cella::report {

/// The names behind the numbers of metrics.jsonl's `arch_weights`: per cell group.
struct CellGroupNames {
  std::string name;                                  ///< the cell type
  std::vector<std::string> edges;                    ///< "1<-0", in edge order
  std::vector<std::vector<std::string>> candidates;  ///< per edge, in candidate order
};

/// Everything the page shows, read from the run directory and measured by the command.
struct RunReport {
  std::string run;                           ///< the run directory, as given
  nlohmann::json config;                     ///< config.json
  nlohmann::json result;                     ///< result.json, or null
  std::vector<nlohmann::json> metrics;       ///< metrics.jsonl, line by line
  std::string schedule;                      ///< the resolved schedule (`cella show --emit schedule`), or ""
  std::string smoke;                         ///< what `--smoke` changed, for a smoke run; else ""
  const runtime::SplitTree* tree = nullptr;  ///< a search's split tree
  std::int64_t judged_images = 0;            ///< validation images each node's accuracy was measured on
  std::string arch;                          ///< the final architecture, as text
  std::string arch_svg;                      ///< its drawing, the run's arch.svg, or ""
  std::int64_t params = -1, macs = -1;       ///< of the architecture trained stand-alone
  double latency_ms = -1;                    ///< median forward time, batch `latency_batch`
  std::int64_t latency_batch = 1, input_size = 0;
  int threads = 1;
  std::vector<CellGroupNames> groups;
};

/// The page, and what could not be drawn (a missing gnuplot or Graphviz), said once each.
struct Page {
  std::string html;
  std::vector<std::string> warnings;
};

Page render(const RunReport& report);

/// Runs `tool ARGS FILE` on `input` written to a temporary file: its standard output, or nullopt
/// when the tool is missing or fails (gnuplot and dot draw the pictures of the page and of
/// `cella specialize`).
std::optional<std::string> run_tool(const std::string& tool, const std::string& args, const std::string& input);

}  // namespace cella::report
