// Networks built from the IR: the weight-sharing supernet of any space cella accepts, a
// sub-supernet (the same network with fewer candidates per edge), or one fixed architecture.
//
// A Mask says which candidates exist; disabled candidates are not allocated. A Mixing says, for
// one forward pass, which of the existing candidates run and with what weights: one candidate
// per edge for path sampling and fixed architectures, all of them weighted by softmax(alpha)
// for DARTS.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <map>
#include <memory>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"
#include "compiler/ir/subspace.h"
#include "compiler/lower/lower.h"

namespace cella::runtime {

/// Which candidates exist (compiler/ir/subspace.h): a sub-supernet allocates only these.
using Mask = ir::Mask;

/// The candidates an edge (or node, or layer) runs in one pass. Undefined weights mean 1 each.
struct Mix {
  std::vector<int> ops;
  torch::Tensor weights;
};

struct CellMix {
  std::vector<Mix> edges;  ///< per edge index; an empty `ops` means the edge is absent
  std::vector<Mix> nodes;  ///< per node; empty for nodes without operations
  /// per node: the index into NodeProps::combines it runs; empty, or -1 for a node, where the
  /// mask leaves one mode (lower::CellUnit::combine_mode)
  std::vector<int> combine;
};

/// What one forward pass ran on one cell edge or choice layer: ProxylessNAS's binary gates need
/// each candidate's output on the same input, recomputed after the backward pass.
struct GateRecord {
  int unit = -1;         ///< the network unit
  int edge = -1;         ///< the cell edge; -1 for a choice layer
  int candidate = -1;    ///< the candidate that ran
  torch::Tensor input;   ///< what the edge or layer read
  torch::Tensor output;  ///< what the candidate gave, its gradient retained by the backward pass
};

struct Mixing {
  std::vector<CellMix> cells;       ///< per cell group
  std::map<int, CellMix> per_unit;  ///< overrides for single cell units (one path per cell)
  std::vector<Mix> layers;          ///< per layer group
  std::vector<int> depths;          ///< per depth group: index into Stage::depths; empty: deepest
  std::vector<int> widths;          ///< per width group: index into Stage::widths; empty: widest
  /// Index into Network::resolutions: the side the input is resized to; -1: the largest.
  int resolution = -1;
  /// If set, the forward pass appends a record for every cell edge and choice layer that runs
  /// exactly one candidate, and keeps the gradient of that candidate's output.
  std::shared_ptr<std::vector<GateRecord>> record;
};

using ir::enabled_candidates;

/// The mixing that runs exactly `arch`.
Mixing mixing_of(const ir::Program& program, const ir::Arch& arch);

class CellModuleImpl;
TORCH_MODULE(CellModule);
class ElasticMBConvImpl;  // runtime/ops/elastic.h

class NetworkImpl : public torch::nn::Cloneable<NetworkImpl> {
 public:
  /// `supernet`: batch norms inside cells and choice layers without weights, and the space's
  /// `search_bn`s (the reference search code); otherwise a stand-alone network. Built on the
  /// CPU, then moved to the run's device (runtime/device); forward() takes inputs on any device
  /// and returns logits on the network's.
  NetworkImpl(std::shared_ptr<const ir::Program> program, Mask mask, bool supernet);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const Mixing& mix);
  /// The logits and, in training mode on a network with an auxiliary head, the head's logits
  /// (undefined otherwise).
  std::pair<torch::Tensor, torch::Tensor> forward_with_auxiliary(const torch::Tensor& x, const Mixing& mix);
  /// The weight of the auxiliary head's loss; 0 without one.
  double auxiliary_weight() const;
  /// Whether a parameter or buffer name belongs to the auxiliary head.
  static bool is_auxiliary(const std::string& name);

  const ir::Program& program() const { return *program_; }
  std::shared_ptr<const ir::Program> program_ptr() const { return program_; }
  const Mask& mask() const { return mask_; }
  bool is_supernet() const { return supernet_; }
  /// Parameters with shared tensors listed once (for optimizers, counting and saving).
  std::vector<torch::Tensor> unique_parameters() const;
  /// Without the auxiliary head, as DARTS counts.
  std::int64_t parameter_count() const;
  /// Drop-path probabilities in training, one per cell unit in network order (runtime/train/
  /// trainer.h computes them); missing ones are 0.
  void set_drop_path(const std::vector<double>& per_cell);
  /// The number of cell units.
  std::int64_t cell_count() const;
  /// Candidate `candidate` of edge `edge` of cell unit `unit` (edge -1: of choice layer `unit`)
  /// applied to `x`, outside any mixing (ProxylessNAS recomputes the ones a pass did not run).
  torch::Tensor candidate_output(int unit, int edge, int candidate, const torch::Tensor& x);
  /// What this network was built from: every module with its role and parameter path.
  const lower::Network& description() const { return desc_; }
  /// Where its parameters live.
  c10::Device device() const { return device_; }

 private:
  std::shared_ptr<const ir::Program> program_;
  Mask mask_;
  bool supernet_;
  c10::Device device_{c10::kCPU};
  lower::Network desc_;
  // Per unit: exactly one of these is set.
  std::vector<torch::nn::Sequential> fixed_;
  std::vector<CellModule> cells_;
  std::vector<std::vector<torch::nn::Sequential>> choices_;  // [unit][candidate]; null when masked off
  std::vector<std::shared_ptr<ElasticMBConvImpl>> elastic_;  // [unit]: an elastic layer of a supernet
  bool narrowing_ = false;  // a supernet with width choices: layers run on their first channels
  /// `width`: the channels the layer makes in a width-elastic supernet (0: as built).
  torch::Tensor layer_candidate(int unit, int candidate, const torch::Tensor& x, std::int64_t width = 0);
  /// The channels unit `unit` makes in this pass: its stage's width under `mix`, or 0 where the
  /// network has no width choice to make (a supernet without one, or a network of one width).
  std::int64_t pass_width(std::size_t unit, const Mixing& mix) const;
  torch::nn::Sequential auxiliary_{nullptr};
  torch::Tensor run(const torch::Tensor& x, const Mixing& mix, torch::Tensor* auxiliary);
};
TORCH_MODULE(Network);

/// One lowered module as LibTorch modules, in a Sequential.
torch::nn::Sequential build_module(const lower::Module& module);

/// The side `mix` resizes the network's input to (0: the network has no resolution choice).
std::int64_t resolution_of(const ir::Network& network, const Mixing& mix);
/// `x` resized to side x side, bicubic (BigNAS resizes inside the network; OFA in its loader);
/// unchanged when it has that size already or `side` is 0.
torch::Tensor resize(const torch::Tensor& x, std::int64_t side);

}  // namespace cella::runtime
