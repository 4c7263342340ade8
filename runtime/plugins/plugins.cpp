#include "runtime/plugins/plugins.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "compiler/ir/primitives.h"
#include "runtime/ops/registry.h"
#include "runtime/search/strategy.h"
#include "runtime/split/split.h"
#include "runtime/train/method.h"

namespace cella::runtime {

std::string load_plugin(const std::string& path) {
  // A command that reopens its own run (the report at the end of a resumed one) reads the
  // recorded plugins again: loading one twice is loading it once.
  static std::set<std::string> loaded;
  std::error_code ec;
  const std::string key = std::filesystem::weakly_canonical(path, ec).string();
  if (loaded.count(key)) return "";
  if (std::string err = ir::load_plugin_signatures(path); !err.empty()) return err;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) return fmt::format("cannot load plugin {}: {}", path, dlerror());
  auto ops = reinterpret_cast<void (*)(Registry&)>(dlsym(handle, "cella_register_ops"));
  auto criteria = reinterpret_cast<void (*)(CriterionRegistry&)>(dlsym(handle, "cella_register_criteria"));
  auto methods = reinterpret_cast<void (*)(MethodRegistry&)>(dlsym(handle, "cella_register_methods"));
  auto strategies = reinterpret_cast<void (*)(StrategyRegistry&)>(dlsym(handle, "cella_register_strategies"));
  if (!ops && !criteria && !methods && !strategies)
    return fmt::format(
        "plugin {} has none of `extern \"C\" void cella_register_ops(cella::runtime::Registry&)`, "
        "`cella_register_criteria(cella::runtime::CriterionRegistry&)`, "
        "`cella_register_methods(cella::runtime::MethodRegistry&)` and "
        "`cella_register_strategies(cella::runtime::StrategyRegistry&)`",
        path);
  try {
    if (ops) ops(Registry::instance());
    if (criteria) criteria(CriterionRegistry::instance());
    if (methods) methods(MethodRegistry::instance());
    if (strategies) strategies(StrategyRegistry::instance());
  } catch (const std::exception& e) {
    return fmt::format("plugin {}: {}", path, e.what());
  }
  loaded.insert(key);
  return "";
}

}  // namespace cella::runtime
