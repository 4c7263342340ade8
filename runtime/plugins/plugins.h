// Plugins: shared libraries (`--plugin libmine.so`) that extend cella with operations and split
// criteria. examples/custom_op_plugin/ shows one.
#pragma once

#include <string>

namespace cella::runtime {

/// Loads a plugin: its signatures (`extern "C" const char* cella_plugin_signatures()`, JSON, see
/// ir::add_primitives_from_json), then what it registers: operations from `extern "C" void
/// cella_register_ops(cella::runtime::Registry&)` (Registry::add_factory) and split criteria from
/// `extern "C" void cella_register_criteria(cella::runtime::CriterionRegistry&)`. A plugin needs
/// at least one of the two. Returns an error message, or "" on success.
std::string load_plugin(const std::string& path);

}  // namespace cella::runtime
