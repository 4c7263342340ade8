// Plugins: shared libraries (`--plugin libmine.so`) that extend cella with operations, split
// criteria and training methods. examples/custom_op_plugin/ shows one.
#pragma once

#include <string>

namespace cella::runtime {

/// Loads a plugin: its signatures (`extern "C" const char* cella_plugin_signatures()`, JSON, see
/// ir::add_primitives_from_json), then what it registers: operations from `extern "C" void
/// cella_register_ops(cella::runtime::Registry&)` (Registry::add_factory), split criteria from
/// `extern "C" void cella_register_criteria(cella::runtime::CriterionRegistry&)` and training
/// methods from `extern "C" void cella_register_methods(cella::runtime::MethodRegistry&)`. A
/// plugin needs at least one of the three. Returns an error message, or "" on success.
std::string load_plugin(const std::string& path);

}  // namespace cella::runtime
