// Lowering: the IR plus a mask becomes a concrete network description, the one statement of
// how a network is constructed. Each unit becomes modules with their input channels, spatial
// sizes, batch-norm kind and parameter path; `cella stats` adds up their costs, the runtime's
// supernet builder turns each into LibTorch modules, and the split code picks weights by their
// roles. None of them re-walks the IR, so they cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"
#include "compiler/ir/subspace.h"

namespace cella::lower {

/// What a module is in the network.
enum class Role {
  Fixed,           ///< a stem, layer or head unit
  Preprocess,      ///< a DARTS cell's input adapter (its width, or a factorized reduce)
  EdgeCandidate,   ///< one candidate operation of one cell edge
  NodeOp,          ///< one candidate operation of a cell node (NAS-Bench-101 style)
  Combine,         ///< the projection of a concatenating cell node back to the width
  LayerCandidate,  ///< one candidate of a choice layer (MobileNet style)
  ElasticLayer,    ///< an elastic layer of a supernet: the largest sub-shape, sliced by every candidate
  Auxiliary,       ///< the auxiliary head (stand-alone networks only)
};

/// One module the runtime builds: a sequence of primitive calls on one input.
struct Module {
  Role role = Role::Fixed;
  std::string name;    ///< its name in the module that registers it (the cell, or the network)
  std::string path;    ///< its full name in the network's parameter tree: "cells_3.1<-0/nor_conv_3x3"
  int unit = -1;       ///< the network unit it belongs to
  int group = -1;      ///< the unit's decision group (cell or layer group); -1 for fixed units
  int slot = -1;       ///< the edge, node or preprocess input (0, 1) it serves; -1 otherwise
  int candidate = -1;  ///< its index among the slot's candidates; -1 otherwise
  ir::Op op;           ///< the primitive calls it runs
  std::int64_t in_channels = 0;
  std::int64_t in_size = 0, out_size = 0;  ///< spatial side before and after (0 when not asked for)
  bool affine = true;                      ///< its batch norms have weights
  /// ElasticLayer: the unit's elastic dimensions (`op` is the largest sub-shape); cost() counts
  /// OFA's kernel transformations from them.
  std::vector<ir::ElasticDim> elastic;
};

/// A cell unit: its modules indexed as the runtime runs them.
struct CellUnit {
  int cell = -1;
  std::int64_t width = 0;
  std::vector<std::optional<Module>> preprocess;          ///< two for two-input cells, else none
  std::vector<std::vector<std::optional<Module>>> edges;  ///< [edge][candidate]; empty when masked off
  std::vector<std::vector<std::optional<Module>>> nodes;  ///< [node][operation]
  /// Per node: its resolution is the cell inputs' divided by this (the strides on the way).
  std::vector<int> downsampling;
  /// The nodes the output concatenates (one node: the output is that node). For `output unused`
  /// in a stand-alone network, those its architecture leaves unused; in a supernet, all that may be.
  std::vector<int> output;
  bool output_concat = false;
  std::int64_t out_channels = 0;
  /// A cell whose output node concatenates its inputs (NAS-Bench-101): its edges from the input
  /// start with a 1x1 projection (conv-BN-ReLU) to their target's channels, so the cell may change
  /// the width. In a stand-alone network `node_channels` is set too: NAS-Bench-101's vertex
  /// channels (compute_vertex_channels), the output node splitting the width among the nodes
  /// feeding it; an edge between inner nodes keeps the first channels of its source, and nodes
  /// off every input-output path have no modules. A supernet has every inner node at the width
  /// and sums at the output node, as the architecture sets the split.
  bool projects_inputs = false;
  std::vector<std::int64_t> node_channels;  ///< per node; empty: every node has `width`
  /// Per node: the index into NodeProps::combines the mask leaves it, or -1 where it leaves a
  /// choice (each pass's CellMix::combine then says).
  std::vector<int> combine_mode;
  /// Per node: where concatenation is possible (except the output node of a cell that
  /// `projects_inputs`), the projection of the concatenated inputs back to the width
  /// (ReLU-conv1x1-BN, one input slot of `width` channels per incoming edge, zeros for absent
  /// ones), so that every state keeps the width whatever the architecture.
  std::vector<std::optional<Module>> combine;
};

struct Unit {
  ir::UnitKind kind = ir::UnitKind::Fixed;
  std::string name;                            ///< its module name ("cells_3")
  std::optional<Module> fixed;                 ///< Fixed units
  std::optional<CellUnit> cell;                ///< Cell units
  std::vector<std::optional<Module>> choices;  ///< Choice units: [candidate]; empty when masked off
  /// An elastic choice unit of a supernet (ir::Unit::elastic): one module instead of `choices`.
  std::optional<Module> elastic;
  std::int64_t in_size = 0, out_size = 0;
};

struct Network {
  std::vector<Unit> units;
  bool supernet = false;
  /// The auxiliary head of a stand-alone network whose IR declares one; supernets have none.
  std::optional<Module> auxiliary;
  /// Every module of the network proper, in the order the runtime builds them: not the
  /// auxiliary head, a training aid outside parameter counts, latency tables and exports.
  std::vector<const Module*> modules() const;
};

/// Lowers the program's network with the candidates `mask` enables; a choice layer deeper than
/// every depth the mask leaves its stage has no modules (a network of one architecture holds
/// only the layers that run). `supernet`: batch norms
/// inside cells and choice layers without weights (an elastic layer is one module with weighted
/// batch norms instead, ElasticLayer), and the space's `search_bn`s (the reference search code); otherwise a
/// stand-alone network, without them. `input_size` is the input's side (28 for Fashion-MNIST); 0 leaves the spatial
/// sizes at 0.
Network lower(const ir::Program& program, const ir::Mask& mask, bool supernet, std::int64_t input_size = 0);

/// Parameters and multiply-accumulates of one module at its sizes.
ir::Cost cost(const Module& module);

/// A module name from an IR name ("cells.3" -> "cells_3"): LibTorch forbids '.' in names.
std::string module_key(std::string name);

}  // namespace cella::lower
