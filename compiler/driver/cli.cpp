// Subcommands check, count, show, sample and enumerate. Library code never prints; this file does.
#include "compiler/driver/cli.h"
#include "compiler/driver/launch.h"
#include "compiler/ir/plan.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "compiler/driver/compile.h"
#include "compiler/driver/stats.h"
#include "compiler/frontend/printer.h"
#include "compiler/ir/arch.h"
#include "compiler/ir/dump.h"
#include "compiler/ir/schedule.h"
#include "compiler/ir/subspace.h"
#include "compiler/passes/space.h"
#include "compiler/passes/stats.h"

namespace cella::driver {

namespace {

struct Common {
  std::vector<std::string> sets;
  std::vector<std::string> includes;
  std::string network, search, data;
  std::size_t max_file_size = 0;
  std::vector<std::string> plugins;
  bool json = false;
};

void add_common(CLI::App* cmd, Common& c, bool json = true) {
  cmd->add_option("--set", c.sets, "Override a network parameter or search setting: NAME=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-I,--include", c.includes, "Directory searched for imports (repeatable)")->allow_extra_args(false);
  cmd->add_option("--network", c.network, "Which network, when the file has several");
  cmd->add_option("--search", c.search, "Which search block, when the file has several");
  cmd->add_option("--data", c.data, "Data set the network is built for (fashion_mnist, cifar10, ...)");
  cmd->add_option("--plugin", c.plugins, "Shared library that adds operations (repeatable)")->allow_extra_args(false);
  cmd->add_option("--max-file-size", c.max_file_size,
                  "Refuse source files larger than this many bytes (default 64 MiB)");
  if (json) cmd->add_flag("--json", c.json, "Print JSON instead of text");
}

// Parses --set NAME=VALUE entries; returns an error message on a malformed one.
std::optional<std::string> options_of(const Common& c, CompileOptions& o) {
  static std::set<std::string> loaded;
  for (const std::string& p : c.plugins) {
    if (!loaded.insert(p).second) continue;
    if (std::string err = ir::load_plugin_signatures(p); !err.empty()) return err;
  }
  for (const std::string& s : c.sets) {
    std::size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) return fmt::format("--set {}: expected NAME=VALUE", s);
    o.sema.overrides.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  o.include_dirs = c.includes;
  o.sema.network = c.network;
  o.sema.search = c.search;
  o.sema.data = c.data;
  if (c.max_file_size) o.max_file_bytes = c.max_file_size;
  return std::nullopt;
}

bool use_color() { return isatty(2) && !std::getenv("NO_COLOR"); }

nlohmann::json diag_json(const Compilation& c) {
  nlohmann::json arr = nlohmann::json::array();
  for (const diag::Diagnostic& d : c.diags.diagnostics()) {
    auto loc = [&](const diag::SourceRange& r) {
      nlohmann::json j = nlohmann::json::object();
      if (r.file) j["file"] = c.sources.name(r.file);
      if (r.line) {
        j["line"] = r.line;
        j["column"] = r.column;
        j["length"] = r.length;
      }
      return j;
    };
    nlohmann::json notes = nlohmann::json::array();
    for (const diag::Note& n : d.notes) {
      nlohmann::json nj = loc(n.range);
      nj["message"] = n.message;
      notes.push_back(nj);
    }
    nlohmann::json j = loc(d.range);
    j["kind"] = std::string(diag::kind_name(d.kind));
    j["severity"] = d.severity == diag::Severity::Error     ? "error"
                    : d.severity == diag::Severity::Warning ? "warning"
                                                            : "note";
    j["message"] = d.message;
    j["notes"] = notes;
    arr.push_back(j);
  }
  return arr;
}

// Prints diagnostics (text to stderr) and returns the exit code for this compilation.
int report(const Compilation& c, bool json_mode) {
  if (!json_mode) std::cerr << diag::render_all(c.diags, c.sources, use_color());
  if (!c.diags.has_errors()) return kOk;
  for (const diag::Diagnostic& d : c.diags.diagnostics())
    if (d.kind == diag::Kind::BadOverride || d.kind == diag::Kind::BadOption) return kUsage;
  return kInvalidInput;
}

std::unique_ptr<Compilation> compile_or_usage(const std::string& file, const Common& common, CompileOptions& o,
                                              int& code) {
  if (auto err = options_of(common, o)) {
    std::cerr << "cella: error: " << *err << "\n";
    code = err->rfind("--set", 0) == 0 ? kUsage : kInvalidInput;
    return nullptr;
  }
  return compile_file(file, o);
}

std::string big(const passes::BigInt& b) { return b.str(); }

// Groups digits by thousands: 1,037,664,180.
std::string grouped(const passes::BigInt& b) { return diag::grouped_digits(b.str()); }

int cmd_check(const std::vector<std::string>& files, const Common& common) {
  int worst = kOk;
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& f : files) {
    CompileOptions o;
    int code = kOk;
    auto c = compile_or_usage(f, common, o, code);
    if (!c) return code;
    code = report(*c, common.json);
    if (common.json)
      out.push_back({{"file", f}, {"ok", code == kOk}, {"diagnostics", diag_json(*c)}});
    else if (code == kOk)
      std::cout << f << ": ok\n";
    worst = std::max(worst, code);
  }
  if (common.json) std::cout << out.dump(2) << "\n";
  return worst;
}

bool need_network(Compilation& c, const std::string& file, bool json) {
  if (c.program && c.program->network) return true;
  c.diags.report(diag::Kind::NoNetwork, diag::SourceRange{1, 0, 0, 0}, fmt::format("{} declares no network", file));
  c.diags.note("this command works on a network: add `network name(...) { stem ...; stage ...; head ... }`");
  report(c, json);
  return false;
}

// Compiles `file`, prints its diagnostics and requires a network; null (with `code` set) if
// anything failed.
std::unique_ptr<Compilation> compile_network(const std::string& file, const Common& common, bool json, int& code) {
  CompileOptions o;
  code = kOk;
  auto c = compile_or_usage(file, common, o, code);
  if (!c) return nullptr;
  if ((code = report(*c, json)) != kOk) return nullptr;
  if (!need_network(*c, file, json)) {
    code = kInvalidInput;
    return nullptr;
  }
  return c;
}

int cmd_count(const std::string& file, const Common& common) {
  int code = kOk;
  auto c = compile_network(file, common, common.json, code);
  if (!c) return code;
  const ir::Program& p = *c->program;
  passes::SpaceSize s = passes::count(p);
  if (common.json) {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& cc : s.cells) {
      cells.push_back({{"cell", cc.cell},
                       {"architectures", big(cc.raw)},
                       {"unique", cc.unique ? nlohmann::json(big(*cc.unique)) : nlohmann::json(nullptr)}});
      if (cc.without_swaps) cells.back()["without_swaps"] = big(*cc.without_swaps);
    }
    std::vector<std::string> hier;
    nlohmann::json j = {{"file", file},
                        {"network", p.network->name},
                        {"architectures", big(s.raw)},
                        {"unique", s.unique ? nlohmann::json(big(*s.unique)) : nlohmann::json(nullptr)},
                        {"cells", cells}};
    if (!s.unique) j["unique_note"] = s.unique_note;
    if (s.without_swaps) j["without_swaps"] = big(*s.without_swaps);
    if (s.resolutions > 1) {
      j["resolutions"] = s.resolutions;
      j["with_resolutions"] = big(s.raw * s.resolutions);
    }
    std::cout << j.dump(2) << "\n";
    return kOk;
  }
  std::cout << fmt::format("network {} ({})\n", p.network->name, file);
  std::cout << fmt::format("  architectures: {} ({}){}\n", big(s.raw), grouped(s.raw),
                           s.resolutions > 1 ? " at one input resolution" : "");
  if (s.resolutions > 1) {
    const passes::BigInt all = s.raw * s.resolutions;
    std::cout << fmt::format("  with the {} input resolutions: {} ({})\n", s.resolutions, big(all), grouped(all));
  }
  if (s.unique)
    std::cout << fmt::format("  unique:        {} ({})\n", big(*s.unique), grouped(*s.unique));
  else
    std::cout << fmt::format("  unique:        not computed: {}\n", s.unique_note);
  if (s.without_swaps)
    std::cout << fmt::format("  without symmetric duplicates (interchangeable inputs of a node swapped): {} ({})\n",
                             big(*s.without_swaps), grouped(*s.without_swaps));
  for (const auto& cc : s.cells) {
    std::cout << fmt::format("  cell {}: {} architectures", cc.cell, big(cc.raw));
    if (cc.unique) std::cout << fmt::format(", {} unique", big(*cc.unique));
    if (cc.without_swaps) std::cout << fmt::format(", {} without symmetric duplicates", big(*cc.without_swaps));
    std::cout << "\n";
  }
  return kOk;
}

// The architecture of --arch in the compiled program, or a one-line error and nullopt.
std::optional<ir::Arch> arch_of(const ir::Program& p, const std::string& value) {
  auto a = parse_arch_argument(p, value);
  if (auto* error = std::get_if<std::string>(&a)) {
    std::cerr << "cella: error: " << *error << "\n";
    return std::nullopt;
  }
  return std::get<ir::Arch>(a);
}

int cmd_show(const std::string& file, const std::string& emit, const std::string& output, const std::string& dump_after,
             const std::string& arch_value, const Common& common) {
  if (!arch_value.empty() && emit != "dot" && emit != "svg") {
    std::cerr << "cella: error: --arch draws an architecture: use it with --emit dot or --emit svg\n";
    return kUsage;
  }
  CompileOptions o;
  o.parse_only = emit == "ast";
  o.dump_after = dump_after;
  int code = kOk;
  auto c = compile_or_usage(file, common, o, code);
  if (!c) return code;
  if ((code = report(*c, false)) != kOk) return code;
  std::string text;
  if (!dump_after.empty()) {
    text = c->dump;
    if (text.empty()) {
      std::cerr << fmt::format(
          "cella: error: no pass is called '{}'; passes: sema, check-constraints, check-search-space\n", dump_after);
      return kUsage;
    }
  } else if (emit == "ast") {
    for (const ast::File& f : c->files) {
      if (c->files.size() > 1) text += fmt::format("// file {}\n", c->sources.name(f.id));
      text += frontend::print(f);
    }
  } else if (emit == "ir") {
    text = ir::dump_text(*c->program);
  } else if (emit == "json") {
    text = ir::dump_json(*c->program).dump(2) + "\n";
  } else if (emit == "schedule") {
    text = ir::schedule_text(*c->program);
  } else {
    if (arch_value.empty()) {
      text = ir::dump_dot(*c->program);
    } else {
      std::optional<ir::Arch> arch = arch_of(*c->program, arch_value);
      if (!arch) return kUsage;
      text = ir::arch_dot(*c->program, *arch);
    }
    if (emit == "svg") {
      std::string tmp = fmt::format("/tmp/cella-{}.dot", getpid());
      { std::ofstream(tmp) << text; }
      std::string cmd = fmt::format("dot -Tsvg '{}' 2>&1", tmp);
      FILE* pipe = popen(cmd.c_str(), "r");
      std::string svg;
      if (pipe) {
        char buf[4096];
        std::size_t n;
        while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) svg.append(buf, n);
      }
      int status = pipe ? pclose(pipe) : -1;
      std::remove(tmp.c_str());
      if (status != 0) {
        std::cerr
            << "cella: error: graphviz `dot` failed or is not installed (apt-get install graphviz); use --emit dot\n";
        return kInvalidInput;
      }
      text = svg;
    }
  }
  if (output.empty() || output == "-") {
    std::cout << text;
  } else {
    std::ofstream out(output, std::ios::binary);
    if (!out || !(out << text)) {
      std::cerr << fmt::format("cella: error: cannot write {}\n", output);
      return kInvalidInput;
    }
  }
  return kOk;
}

std::string format_arch(const ir::Program& p, const ir::Arch& a, const std::string& format) {
  if (format == "nb201") return ir::to_nb201(p, a);
  if (format == "darts") return ir::to_genotype(p, a);
  if (format == "json") return ir::to_json(p, a).dump();
  if (format == "flat") return ir::to_flat(p, a);
  return ir::to_text(p, a);
}

std::optional<std::string> check_format(const ir::Program& p, const std::string& format) {
  auto f = ir::formats(p);
  if (format == "nb201" && std::find(f.begin(), f.end(), ir::ArchFormat::Nb201) == f.end())
    return std::string("--format nb201: this space has no NAS-Bench-201 form (one shared 1-input cell)");
  if (format == "darts" && std::find(f.begin(), f.end(), ir::ArchFormat::Darts) == f.end())
    return std::string("--format darts: this space has no DARTS genotype form (a normal and a reduction cell)");
  if (format == "flat" && std::find(f.begin(), f.end(), ir::ArchFormat::Flat) == f.end())
    return std::string("--format flat: only a space of elastic layers has a flat encoding");
  return std::nullopt;
}

int cmd_sample(const std::string& file, std::int64_t n, std::uint64_t seed, const std::string& format,
               const Common& common) {
  int code = kOk;
  auto c = compile_network(file, common, common.json, code);
  if (!c) return code;
  const ir::Program& p = *c->program;
  if (auto err = check_format(p, format)) {
    std::cerr << "cella: error: " << *err << "\n";
    return kUsage;
  }
  std::mt19937_64 rng(seed);
  nlohmann::json arr = nlohmann::json::array();
  for (std::int64_t i = 0; i < n; ++i) {
    ir::Arch a = ir::sample(p, rng);
    if (common.json)
      arr.push_back({{"arch", format_arch(p, a, format)}, {"canonical", passes::canonical(p, a)}});
    else
      std::cout << format_arch(p, a, format) << "\n";
  }
  if (common.json) std::cout << arr.dump(2) << "\n";
  return kOk;
}

// Spaces up to this size are enumerated by `cella enumerate` (a larger --limit raises it).
constexpr std::uint64_t kEnumerableSpace = 1'000'000;

int cmd_enumerate(const std::string& file, std::uint64_t limit, bool unique_only, const std::string& format,
                  const Common& common) {
  int code = kOk;
  auto c = compile_network(file, common, false, code);
  if (!c) return code;
  const ir::Program& p = *c->program;
  if (auto err = check_format(p, format)) {
    std::cerr << "cella: error: " << *err << "\n";
    return kUsage;
  }
  // `--limit N` prints the first N; spaces too large to list in full are refused whatever N is,
  // as enumeration lists each cell's choices before combining them.
  std::unordered_set<std::string> seen;
  std::uint64_t printed = 0;
  bool ok = passes::enumerate(p, std::max(limit, kEnumerableSpace), [&](const ir::Arch& a) {
    if (unique_only && !seen.insert(passes::canonical(p, a)).second) return true;
    std::cout << format_arch(p, a, format) << "\n";
    return ++printed < limit;
  });
  if (!ok) {
    std::cerr << fmt::format(
        "cella: error: the space is too large to enumerate (more than {} architectures); `cella sample -n N` "
        "draws from it\n",
        std::max(limit, kEnumerableSpace));
    return kUsage;
  }
  return kOk;
}

int cmd_stats(const std::string& file, const std::string& arch_text, const Common& common) {
  int code = kOk;
  auto c = compile_network(file, common, common.json, code);
  if (!c) return code;
  const ir::Program& p = *c->program;
  std::optional<ir::Arch> arch;
  if (!arch_text.empty() && !(arch = arch_of(p, arch_text))) return kUsage;
  const StatsReport r = stats_report(p, arch ? &*arch : nullptr, common.data);
  std::cout << (common.json ? r.json.dump(2) + "\n" : r.text);
  return kOk;
}

int cmd_primitives() {
  for (const ir::Primitive& p : ir::primitives()) {
    std::vector<std::string> params;
    for (const ir::PrimParam& q : p.params) {
      std::string s = q.name;
      if (q.default_value)
        s += " = " + ir::to_string(*q.default_value);
      else if (q.from_input)
        s += " = <input channels>";
      else if (q.name == "pad")
        s += " = <same>";
      params.push_back(s);
    }
    std::cout << fmt::format("{}({})\n    {}\n", p.name, fmt::join(params, ", "), p.summary);
  }
  return kOk;
}

}  // namespace

// The training commands live in `cella-runtime` next to this binary, which links LibTorch;
// running them through exec keeps `cella check` free of LibTorch's start-up cost.
int exec_runtime(int argc, char** argv) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::filesystem::path runtime = self.parent_path() / "cella-runtime";
  if (ec || !std::filesystem::exists(runtime)) {
    std::cerr << fmt::format("cella: error: '{}' needs the runtime, and {} is missing (build with -Druntime=true)\n",
                             argv[1], runtime.string());
    return kUsage;
  }
  std::vector<char*> args;
  std::string path = runtime.string();
  args.push_back(path.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  std::cerr << fmt::format("cella: error: cannot run {}: {}\n", path, std::strerror(errno));
  return kInternal;
}

const std::set<std::string> kRuntimeCommands = {"train",   "eval",   "derive",  "retrain",    "search", "export",
                                                "extract", "report", "devices", "specialize", "score"};

int run_cli(int argc, char** argv) {
  if (argc > 1 && kRuntimeCommands.count(argv[1])) return exec_runtime(argc, argv);
  if (argc > 1 && std::string_view(argv[1]) == "launch") return run_launch(argc - 1, argv + 1);
  CLI::App app{"cella: a language for neural-architecture search spaces"};
  app.footer(
      "Training commands (run by cella-runtime): search, train, eval, derive, retrain, export, report, devices, "
      "specialize, score. See "
      "`cella search --help`. Several processes: `cella launch -n N cella train ...` (`cella launch --help`).");
  app.require_subcommand(1);
  app.set_version_flag("--version", "cella 0.1.0");
  Common common;

  std::vector<std::string> check_files;
  auto* check = app.add_subcommand("check", "Check .cella files and report every error");
  check->add_option("files", check_files, "Files to check")->required();
  add_common(check, common);

  std::string file;
  auto* count = app.add_subcommand("count", "Count the architectures of a space (raw and unique)");
  count->add_option("file", file, "The .cella file")->required();
  add_common(count, common);

  std::string emit = "ir", output, dump_after, arch_text;
  auto* show = app.add_subcommand(
      "show", "Print the AST, the IR (text or JSON), the graph (DOT or SVG) or the search plan's schedule");
  show->add_option("file", file, "The .cella file")->required();
  show->add_option("--emit", emit, "What to print: ast, ir, json, dot, svg, or schedule (the plan epoch by epoch)")
      ->check(CLI::IsMember({"ast", "ir", "json", "dot", "svg", "schedule"}));
  show->add_option("-o,--output", output, "Write to this file instead of standard output");
  show->add_option("--dump-after", dump_after, "Print the IR as text after this pass (sema, check-constraints, ...)");
  show->add_option("--arch", arch_text,
                   "With --emit dot or svg: draw this architecture (NB201 string, DARTS genotype, JSON, a file "
                   "holding one, or a run directory)");
  add_common(show, common, false);

  std::int64_t n = 1;
  std::uint64_t seed = 0;
  std::string format = "auto";
  auto* sample = app.add_subcommand("sample", "Print architectures drawn uniformly at random from the space");
  sample->add_option("file", file, "The .cella file")->required();
  sample->add_option("-n", n, "How many")->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000'000}));
  sample->add_option("--seed", seed, "Random seed");
  sample->add_option("--format", format, "auto, nb201, darts, json or flat (elastic spaces: DyNAS-T's integers)")
      ->check(CLI::IsMember({"auto", "nb201", "darts", "json", "flat"}));
  add_common(sample, common);

  std::uint64_t limit = 1'000'000;
  bool unique_only = false;
  auto* enumerate = app.add_subcommand("enumerate", "Print every architecture of a small space");
  enumerate->add_option("file", file, "The .cella file")->required();
  enumerate->add_option("--limit", limit, "Print at most this many architectures");
  enumerate->add_flag("--unique", unique_only, "Print one architecture per isomorphism class");
  enumerate->add_option("--format", format, "auto, nb201, darts, json or flat")
      ->check(CLI::IsMember({"auto", "nb201", "darts", "json", "flat"}));
  add_common(enumerate, common, false);

  auto* prims = app.add_subcommand("primitives", "List the built-in primitive operations");
  auto* settings = app.add_subcommand("settings", "List every setting a search plan takes (a Markdown table)");

  auto* stats = app.add_subcommand("stats", "Parameters and FLOPs of the supernet or of one architecture");
  stats->add_option("file", file, "The .cella file")->required();
  stats->add_option("--arch", arch_text,
                    "An architecture: NB201 string, DARTS genotype or JSON, a file holding one, or a run directory");
  add_common(stats, common);
  // Measuring latency builds the network in LibTorch: `cella-runtime stats` does it (the options
  // are declared here for --help and parsed again there).
  bool latency = false;
  std::int64_t latency_batch = 32;
  int repeats = 30, warmups = 5, threads = 0;
  stats->add_flag("--latency", latency,
                  "Also measure the CPU latency of the architecture (LibTorch, eval mode): at batch 1 and at --batch");
  stats->add_option("--batch", latency_batch, "--latency: the second batch size timed (default 32)")
      ->check(CLI::Range(1, 1 << 20));
  stats->add_option("--repeats", repeats, "--latency: timed forward passes per batch size (default 30)")
      ->check(CLI::Range(1, 100000));
  stats->add_option("--warmups", warmups, "--latency: untimed forward passes before them (default 5)")
      ->check(CLI::Range(0, 100000));
  stats->add_option("--threads", threads, "--latency: CPU threads to time on (default: 1)")->check(CLI::Range(1, 1024));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  try {
    if (*check) return cmd_check(check_files, common);
    if (*count) return cmd_count(file, common);
    if (*show) return cmd_show(file, emit, output, dump_after, arch_text, common);
    if (*sample) return cmd_sample(file, n, seed, format, common);
    if (*enumerate) return cmd_enumerate(file, limit, unique_only, format, common);
    if (*prims) return cmd_primitives();
    if (*settings) {
      std::cout << ir::plan_settings_markdown();
      return kOk;
    }
    if (*stats) {
      if (latency) return exec_runtime(argc, argv);
      for (const char* option : {"--batch", "--repeats", "--warmups", "--threads"})
        if (stats->count(option) > 0) {
          std::cerr << fmt::format("cella: error: {} times latency; it needs --latency\n", option);
          return kUsage;
        }
      return cmd_stats(file, arch_text, common);
    }
  } catch (const std::exception& e) {
    std::cerr << "cella: internal error: " << e.what() << "\n";
    return kInternal;
  }
  return kUsage;
}

}  // namespace cella::driver
