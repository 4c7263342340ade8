// What a search's split strategy works on: the split tree's sub-supernets and their records,
// their training (checkpointed after every epoch, replayed on resume), their scoring and
// selection, gradient-matching partitions, children with inherited state, the frozen teachers
// of distillation, the phase timers and the log. A strategy (strategy.h) decides what to split
// and when; everything it asks for is here.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/ir/plan.h"
#include "compiler/ir/schedule.h"
#include "runtime/search/files.h"
#include "runtime/search/search.h"
#include "runtime/search/tree.h"

namespace cella::runtime {

/// One node of the split tree (a sub-supernet; not a node of a cell): its trained state, and its
/// record in tree.json (where it hangs, how it was made, its curve and scores).
struct SplitNode {
  SupernetState state;
  TreeNode record;
};

class SearchContext {
 public:
  SearchContext(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan, const DataSplits& data,
                const SearchOptions& options);

  /// Makes the root (the whole supernet), node 0.
  void start();
  /// Derives the final architecture from node `selected` and returns it with the tree.
  SearchResult finish(int selected);

  const ir::SearchPlan& plan() const { return plan_; }
  const ir::SplitPlan& split() const { return plan_.split; }
  /// The supernet plan the nodes train with.
  const ir::SupernetPlan& supernet_plan() const { return plan_.supernet; }
  /// The plan's phases and per-epoch settings, along a lineage (compiler/ir/schedule.h).
  const ir::Schedule& schedule() const { return schedule_; }
  std::uint64_t seed() const { return o_.seed; }
  /// What the plan splits (compiler/ir/split_sites.h): the edges of one cell type, or the first
  /// dimension of every elastic layer (OFA's kernel sizes) in a network of elastic layers.
  const ir::SplitSites& sites() const { return sites_; }
  /// The values node `n` keeps on site `site`.
  std::vector<int> kept(const SplitNode& n, int site) const { return sites_.kept(n.state.net->mask(), site); }
  /// With cell sites: the cell group the plan splits, and its cell type (for strategies of cell
  /// edges only: hierarchies).
  int group() const { return sites_.cell_group(); }
  const ir::Cell& cell() const { return program_->cells[program_->network->cell_groups[group()].cell]; }
  SplitNode& node(int id) { return nodes_[id]; }
  /// The candidates node `n` keeps on edge `e` of the split cell (cell sites).
  std::vector<int> enabled(const SplitNode& n, int e) const { return kept(n, e); }

  /// Trains node `id` to lineage epoch `until` (weight steps with `loss` if given); the batch order,
  /// paths and noise come from `seed` (default: one per node).
  void train(int id, std::int64_t until, const LossFn& loss, std::optional<std::uint64_t> seed = std::nullopt);
  /// Trains the nodes `ids`, which do not depend on one another, each to lineage epoch `until`
  /// as `train` would (with the loss `loss_of(id)`, or cross-entropy without one). With several
  /// processes and several nodes, each node is trained whole by one rank, alone, on whole
  /// batches, while the other ranks train other nodes, and the ranks meet after every epoch to
  /// exchange the states (rank 0 checkpoints them): the same result as one process training them
  /// in turn, with one exchange per epoch instead of collectives in every step.
  void train_apart(const std::vector<int>& ids, std::int64_t until, const std::function<LossFn(int id)>& loss_of = {},
                   std::optional<std::uint64_t> seed = std::nullopt);
  /// One round of a hierarchy's children `ids` under `split.rounds simultaneous`: each trains
  /// one epoch, to lineage epoch `until`, against its siblings as the round found them (their
  /// teacher_logits come from copies frozen at its start), with the loss `loss_of(id)` and the
  /// children's `seed`; with several processes on different ranks at once. The round is
  /// checkpointed as a whole: a replay redoes a round a kill cut short from every child's state
  /// at its start.
  void train_round(const std::vector<int>& ids, std::int64_t until, const std::function<LossFn(int id)>& loss_of,
                   std::uint64_t seed);
  /// Logs which rank trains which of the nodes `ids` (train_apart, train_round deal them out so),
  /// when several processes do.
  void say_dealt(const std::vector<int>& ids);
  /// Judges node `id`, trained to lineage epoch `epoch`, as its training method selects
  /// (method.h), records its validation accuracy and loss, and returns the accuracy. A
  /// checkpointed search also keeps the judgement in a file: a resumed search reads it back,
  /// since a node kept and trained on has no checkpoint of the state it was judged in.
  double score(int id, std::int64_t epoch);
  /// Marks the best of the scored nodes `ids` as kept (by the plan's `select`) and logs it.
  int keep_best(const std::vector<int>& ids, const char* what);
  /// Scores site `site` of node `id` by the plan's criterion (an elastic site: by gradient
  /// matching) and partitions the values it keeps into `branches` groups with sizes in `sizes`;
  /// also the split's record.
  std::pair<Partition, nlohmann::json> match(int id, int site, std::int64_t branches,
                                             const std::vector<std::int64_t>& sizes);
  /// The masks among `masks` that hold an architecture of the space (the others are logged).
  std::vector<Mask> holding_masks(int parent, const std::vector<Mask>& masks);
  /// A child of `parent` with mask `mask`, inheriting its state (or restarting); its id.
  int add_child(int parent, const Mask& mask, bool restart, const std::string& how, const nlohmann::json& split);
  /// What frozen node `id` predicts for the batch `x` (images `idx`) on which `student` takes a
  /// step under `mix` (see context.cpp).
  torch::Tensor teacher_logits(int id, int student, const torch::Tensor& x, const torch::Tensor& idx,
                               const Mixing& mix);
  /// Under path sampling, the path frozen node `id` runs to teach child `student` on a batch
  /// whose first training image is `first_image`: the student's path `mix` for its parent, a
  /// path drawn inside its own mask for a sibling (context.cpp says why).
  Mixing teacher_path(int id, int student, const Mixing& mix, std::int64_t first_image);
  /// Forgets the teachers' logits shared within one hierarchy's round-robin training.
  void clear_teacher_cache() { batch_logits_.clear(); }
  /// How the log names the plan's split criterion.
  std::string criterion_words() const;
  void log(const std::string& line);

 private:
  void note(int id, int parent, const std::string& how, nlohmann::json split);
  std::string ckpt(int id, std::int64_t epoch, const char* ext) const;
  bool restore(int id, std::int64_t until);
  /// Node `id`'s curve as its checkpoint's `.json` holds it.
  nlohmann::json curve_json(int id) const;
  /// Checkpoints node `id` (rank 0), removing its older checkpoints if `prune`.
  void save(int id, bool prune = true);
  /// Loads node `id`'s checkpoint of epoch `epoch` and its curve.
  void load(int id, std::int64_t epoch);
  /// Trains each of `ids` one epoch further, the i-th on rank i mod world alone, and sends the
  /// states to every rank; rank 0 checkpoints them, pruning older files after each save or, if
  /// not `prune_each`, leaving that to the caller.
  void train_dealt_epoch(const std::vector<int>& ids, const std::function<LossFn(int id)>& loss_of,
                         std::optional<std::uint64_t> seed, bool prune_each);
  /// Trains node `id` from its state to epoch `until` (train's work after the replay); saves after
  /// each epoch if `checkpoint`; appends each epoch's final progress to `ends` if given.
  void train_epochs(int id, std::int64_t until, const LossFn& loss, std::optional<std::uint64_t> seed, bool checkpoint,
                    std::vector<Progress>* ends);
  /// Sends node `id`'s state, curve and epoch-end progress `ends` from rank `owner`, which trained
  /// it, to the other ranks; rank 0 reports the progress and checkpoints the node.
  void share(int id, int owner, const std::vector<Progress>& ends, bool prune);
  double merit(int id) const;
  /// The validation images a node's accuracy is measured on (split.select_images, or all).
  std::int64_t judged_images() const;

  std::shared_ptr<const ir::Program> program_;
  ir::SearchPlan plan_;
  const DataSplits& data_;
  SearchOptions o_;
  /// The run directory's checkpoints and judgements when the search started: what a replay
  /// loads and skips (the same on every rank of a data-parallel search).
  CheckpointSnapshot snapshot_;
  ir::Schedule schedule_;
  ir::SplitSites sites_;
  std::vector<SplitNode> nodes_;
  /// (frozen node, its epoch, the student's epoch, the batch's first image) -> logits; one hierarchy
  std::map<std::tuple<int, std::int64_t, std::int64_t, std::int64_t>, torch::Tensor> batch_logits_;
  /// Copies of nodes frozen at the start of a simultaneous round, which teach in their stead.
  std::map<int, SupernetState> frozen_;
  std::map<std::string, double> phases_;
  double teacher_seconds_ = 0;
};

}  // namespace cella::runtime
