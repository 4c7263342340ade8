// Splitting a trained (sub-)supernet into children with narrower masks: the pieces that
// Few-Shot NAS (exhaustive), GM-NAS (gradient matching) and HEP-NAS (hierarchies with
// search-space mutual distillation) are built from. See ../shared/reference/algorithms.md §3-5.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/plan.h"
#include "compiler/ir/split_sites.h"
#include "runtime/train/trainer.h"

namespace cella::runtime {

/// Cosine similarity matrix of gradient vectors: S_ij = <g_i, g_j> / (|g_i| |g_j| + 1e-6).
torch::Tensor cosine_similarity_matrix(const std::vector<torch::Tensor>& gradients);

struct GradientMatchOptions {
  std::int64_t batches = 100;  ///< random training minibatches averaged over
  std::int64_t batch = 64;
  /// Nb201: the child puts weight 1 on its candidate (one-hot); Darts: the parent's θ.
  ir::GmVariant variant = ir::GmVariant::Nb201;
  std::uint64_t seed = 0;
};

/// The shared weights GM-NAS compares gradients on when it scores edge `edge` of cell group
/// `group`, by parameter name in the network's order: every candidate of the group's other edges
/// and of every other group's edges (the other cell type's mixed operations, as the DARTS-space
/// code), and the fixed layers between stages; not the stem, the head or the cells'
/// preprocessing.
std::vector<std::pair<std::string, torch::Tensor>> gradient_match_weights(const SupernetState& s, int group, int edge);

/// GM-NAS's score for edge `edge` of cell group `group`: the similarity of the training-loss
/// gradients that each enabled candidate of the edge induces on the shared weights
/// (gradient_match_weights), averaged over minibatches. Returns [K, K] over the edge's candidates (rows and
/// columns of disabled candidates are 0).
torch::Tensor gradient_match_scores(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train,
                                    int group, int edge, const GradientMatchOptions& options);

/// GM-NAS's score for an elastic site (site `site` of `sites`: one elastic layer's split
/// dimension, OFA's kernel sizes): the similarity of the training-loss gradients that each value
/// the parent keeps induces on every weight but the layer's own (GM-NAS's OFA code: the stem, the
/// other blocks and the head), the layer's other dimensions and the rest of the network as the
/// parent's method draws them for judging (path sampling: a path inside its mask), averaged over
/// minibatches. Returns [K, K] over the dimension's values (rows and columns of values the parent
/// does not keep are 0).
torch::Tensor gradient_match_elastic_scores(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train,
                                            const ir::SplitSites& sites, int site, const GradientMatchOptions& options);

/// A split criterion: the [K, K] similarity of the candidates of edge `edge` of cell group `group`
/// in `parent` (rows and columns of disabled candidates 0). The partition keeps similar
/// candidates together. `gradient_match` (above) is the built-in one.
using SplitCriterion =
    std::function<torch::Tensor(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train, int group,
                                int edge, const GradientMatchOptions& options)>;

/// Split criteria by name, as the operation registry holds operations. A plugin declares a
/// criterion in `cella_plugin_signatures` (`{"name": ..., "kind": "criterion"}`, so that `cella
/// check` accepts `criterion NAME`) and adds it from `extern "C" void
/// cella_register_criteria(cella::runtime::CriterionRegistry&)`.
class CriterionRegistry {
 public:
  static CriterionRegistry& instance();
  /// Throws std::invalid_argument if the name is taken or was not declared to the compiler.
  void add(const std::string& name, SplitCriterion criterion);
  const SplitCriterion* find(const std::string& name) const;

 private:
  std::map<std::string, SplitCriterion> criteria_;
};

struct Partition {
  std::vector<std::vector<int>> groups;  ///< candidate indices per group
  double cost = 0;                       ///< what the variant minimises
};

/// The partition of `candidates` into `branches` non-empty groups with sizes in `sizes` (empty:
/// as equal as possible) that minimises, for variant nb201, the similarity across groups (the
/// min cut of the similarity graph) and, for variant darts, the distance within groups (1 -
/// similarity), by brute force. Groups are ordered by their smallest candidate.
Partition best_partition(const torch::Tensor& similarity, const std::vector<int>& candidates, std::int64_t branches,
                         const std::vector<std::int64_t>& sizes, ir::GmVariant variant);

/// A child of `parent` whose mask is `mask` (narrower): it inherits the parent's weights,
/// batch-norm statistics, architecture weights and both optimizers' states for every tensor it
/// keeps, and its epoch count. With `restart`, weights and optimizers start afresh from `seed`.
SupernetState make_child(const SupernetState& parent, const Mask& mask, const ir::SupernetPlan& plan, bool restart,
                         std::uint64_t seed);

/// Children masks of each strategy: exhaustive (one per value `parent` keeps on the site: an
/// edge's candidate, an elastic dimension's value), a partition (one per group of values), and a
/// hierarchy of cell edges (every combination of one group per edge; `edges` are sites of `sites`,
/// a cell's edges).
std::vector<Mask> exhaustive_children(const ir::SplitSites& sites, const Mask& parent, int site);
std::vector<Mask> partition_children(const ir::SplitSites& sites, const Mask& parent, int site, const Partition& p);
std::vector<Mask> hierarchy_children(const ir::SplitSites& sites, const Mask& parent, const std::vector<int>& edges,
                                     const std::vector<Partition>& partitions);

/// HEP-NAS's search-space mutual distillation loss of a child:
///   CE(z, y) + KL(σ(z_T) ‖ σ(z)) + mean_j KL(σ(z_j) ‖ σ(z)),
/// KL with batch-mean reduction and no temperature; `distill` smd (both terms), parent, mutual
/// or none. Teacher and sibling logits must come from frozen models (no gradient).
torch::Tensor distillation_loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& teacher,
                                const std::vector<torch::Tensor>& siblings, ir::Distill distill);

}  // namespace cella::runtime
