// The operation registry: primitive name -> module factory. Built-in primitives register here;
// plugins (--plugin libmyops.so, runtime/plugins/) add their own through `cella_register_ops`.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/primitives.h"

namespace cella::runtime {

/// What a factory knows when it builds a module.
struct BuildContext {
  std::int64_t in_channels = 0;
  /// Batch norms have weights (stand-alone networks) or not (supernets, as the reference code).
  bool affine = true;
};

using Factory = std::function<torch::nn::AnyModule(const ir::PrimCall&, const BuildContext&)>;

class Registry {
 public:
  static Registry& instance();
  /// Adds a primitive: its signature (for the compiler) and its module factory. Throws
  /// std::invalid_argument if the name is taken.
  void add(const ir::Primitive& signature, Factory factory);
  /// Adds the factory of a primitive whose signature is known already (a plugin's, from
  /// `cella_plugin_signatures`). Throws std::invalid_argument for unknown or taken names.
  void add_factory(const std::string& name, Factory factory);
  const Factory* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Factory> factories_;
};

/// A module for one primitive call (any registered primitive).
torch::nn::AnyModule build_primitive(const ir::PrimCall& call, const BuildContext& ctx);

}  // namespace cella::runtime
