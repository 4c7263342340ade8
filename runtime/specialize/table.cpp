// Reading a tabular benchmark and answering from it.
#include "runtime/specialize/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "compiler/ir/arch.h"
#include "compiler/passes/stats.h"

namespace cella::specialize {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (char c : line) {
    if (c == '"')
      quoted = !quoted;
    else if (c == ',' && !quoted) {
      out.push_back(field);
      field.clear();
    } else if (c != '\r')
      field += c;
  }
  out.push_back(field);
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

Table::Table(const ir::Program& program, const std::string& path, const std::string& column)
    : program_(program), path_(path) {
  std::ifstream in(path);
  if (!in) throw TableError(fmt::format("{}: cannot open the table", path));
  std::string line;
  if (!std::getline(in, line)) throw TableError(fmt::format("{}: the table is empty", path));
  std::vector<std::string> header = split_csv(line);
  int arch_col = -1, acc_col = -1;
  for (std::size_t i = 0; i < header.size(); ++i) {
    std::string h = lower(header[i]);
    if (arch_col < 0 && (h == "architecturestring" || h == "arch_str" || h == "arch" || h == "architecture"))
      arch_col = static_cast<int>(i);
    if (column.empty() ? acc_col < 0 && h.find("accuracy") != std::string::npos : header[i] == column)
      acc_col = static_cast<int>(i);
  }
  const std::string columns = fmt::format("{}", fmt::join(header, ", "));
  if (arch_col < 0)
    throw TableError(fmt::format(
        "{}: no architecture column (ArchitectureString, arch_str, arch or architecture); it has: {}", path, columns));
  if (acc_col < 0)
    throw TableError(column.empty() ? fmt::format("{}: no accuracy column (a name with 'accuracy'); it has: {}; "
                                                  "name one with --column",
                                                  path, columns)
                                    : fmt::format("{}: no column '{}'; it has: {}", path, column, columns));
  column_ = header[acc_col];
  std::map<std::string, int> first_row;
  for (int row = 2; std::getline(in, line); ++row) {
    if (line.empty() || line == "\r") continue;
    std::vector<std::string> f = split_csv(line);
    if (f.size() != header.size())
      throw TableError(fmt::format("{}:{}: {} fields, the header has {}", path, row, f.size(), header.size()));
    auto parsed = ir::parse_arch(program, f[arch_col]);
    if (auto* why = std::get_if<std::string>(&parsed))
      throw TableError(fmt::format("{}:{}: '{}' is not an architecture of network {}: {}", path, row, f[arch_col],
                                   program.network->name, *why));
    std::string key = ir::to_text(program, std::get<ir::Arch>(parsed));
    char* end = nullptr;
    const std::string& text = f[acc_col];
    double acc = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(acc))
      throw TableError(fmt::format("{}:{}: column '{}' holds '{}', not a number", path, row, column_, text));
    if (auto [it, fresh] = first_row.emplace(key, row); !fresh)
      throw TableError(fmt::format("{}:{}: architecture {} is already on row {}", path, row, f[arch_col], it->second));
    accuracy_[key] = acc;
  }
  if (accuracy_.empty()) throw TableError(fmt::format("{}: the table has a header and no rows", path));
}

double Table::accuracy(const ir::Arch& arch) const {
  std::string key = ir::to_text(program_, arch);
  auto it = accuracy_.find(key);
  if (it == accuracy_.end()) throw TableError(fmt::format("{}: no row for architecture {}", path_, key));
  return it->second;
}

Measurer::Measurer(const ir::Program& program, std::int64_t input_size, Meter accuracy, Meter latency,
                   std::vector<Metric> scored, Scorer scorer)
    : program_(program),
      size_(input_size),
      accuracy_(std::move(accuracy)),
      latency_(std::move(latency)),
      scored_(std::move(scored)),
      scorer_(std::move(scorer)) {}

Measures Measurer::exact(const ir::Arch& arch) {
  passes::NetworkStats s = passes::network_stats(program_, &arch, size_, true);
  Measures m;
  m[Metric::Macs] = static_cast<double>(s.macs);
  m[Metric::Params] = static_cast<double>(s.params);
  return m;
}

Measures Measurer::measure(const ir::Arch& arch) {
  Measures m = exact(arch);
  if (accuracy_) m[Metric::Accuracy] = accuracy_(arch);
  if (latency_) m[Metric::Latency] = latency_(arch);
  for (Metric s : scored_) {
    // An undefined score (jacob_cov of a network that ignores its input) is the worst one.
    const double v = scorer_(s, arch);
    m[s] = std::isnan(v) ? -INFINITY : v;
  }
  return m;
}

std::optional<double> Measurer::worst(Metric metric) const {
  switch (metric) {
    case Metric::Accuracy: return 0.0;
    case Metric::Latency: return std::nullopt;
    default: break;
    case Metric::Macs:
    case Metric::Params: {
      // The supernet holds every candidate: no architecture costs more.
      passes::NetworkStats s = passes::network_stats(program_, nullptr, size_, true);
      return static_cast<double>(metric == Metric::Macs ? s.macs : s.params);
    }
  }
  return std::nullopt;  // a training-free score: no bound
}

}  // namespace cella::specialize
