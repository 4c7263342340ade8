// Export of one architecture as a self-contained PyTorch module: the Python source (one class
// per cell type with its chosen operations and the wiring spelled out, and the network), and
// the correspondence between cella's parameter names and the module's, so that weights can be
// written under the names PyTorch's load_state_dict expects. No LibTorch here: the weights
// themselves are written by the `cella export` command (runtime/driver/export.cpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::exporter {

struct PytorchModule {
  std::string source;      ///< the Python file
  std::string class_name;  ///< the network's class in it
  /// Parameter-name prefixes: cella's stand-alone network (module path + ".") -> the Python
  /// module's. Parameters of modules that do not run in the architecture have no entry.
  std::vector<std::pair<std::string, std::string>> prefixes;
};

/// The PyTorch module of `arch`: a stand-alone network, as `cella retrain` builds it, or with
/// `supernet` the architecture's path through a supernet, as it holds it (batch norms without
/// weights inside cells, the space's `search_bn`s), for weights inherited from one. `header`
/// goes into the file's opening comment. Throws std::invalid_argument for an operation it
/// cannot write (a plugin's primitive).
PytorchModule pytorch_module(const ir::Program& program, const ir::Arch& arch, const std::string& header,
                             bool supernet = false);

/// The Python name of a cella prefix-mapped parameter, or "" when it belongs to no exported module.
std::string python_name(const PytorchModule& module, const std::string& cella_name);

}  // namespace cella::exporter
