// The method registry and what methods share by default.
#include "runtime/train/method.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/ir/primitives.h"

namespace cella::runtime {

#define CELLA_METHOD(name, factory) std::unique_ptr<TrainingMethod> factory();
#include "runtime/train/methods/methods.def"
#undef CELLA_METHOD

MethodRegistry& MethodRegistry::instance() {
  static MethodRegistry* registry = [] {
    auto* r = new MethodRegistry;
#define CELLA_METHOD(name, factory) r->add(factory());
#include "runtime/train/methods/methods.def"
#undef CELLA_METHOD
    return r;
  }();
  return *registry;
}

void MethodRegistry::add(std::unique_ptr<TrainingMethod> method) {
  const auto& declared = ir::training_methods(method->samples_paths());
  if (std::find(declared.begin(), declared.end(), method->name()) == declared.end())
    throw std::invalid_argument(
        fmt::format("training method '{}' is not declared in the plugin's signatures as a {} method", method->name(),
                    method->samples_paths() ? "path-sampling (\"samples_paths\": true)" : "weighted"));
  insert(std::move(method), "training method");
}

const TrainingMethod& method_of(const ir::SupernetPlan& plan) {
  const TrainingMethod* m = MethodRegistry::instance().find(plan.method);
  if (!m) throw std::invalid_argument(fmt::format("no training method '{}' is registered", plan.method));
  return *m;
}

}  // namespace cella::runtime
