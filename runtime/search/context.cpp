// The search context: training, checkpoints, scoring, selection, children and teachers of the
// split tree's sub-supernets.
#include "runtime/search/context.h"

#include "runtime/distributed/distributed.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "runtime/base/durable_file.h"
#include "runtime/search/files.h"
#include "runtime/split/split.h"
#include "runtime/train/method.h"

namespace cella::runtime {

using nlohmann::json;

// A sub-supernet's progress travels with its state from the rank that trained it.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Progress, phase, epoch, epochs, step, steps, loss, accuracy, lr, images_per_second,
                                   epoch_end, valid_accuracy, valid_loss, node, arch_weights, expected_latency,
                                   arch_latency)

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Writes `j` to `path` so that a kill leaves the old file or the new one, never half of one, and a
// full disk is an error rather than a short file.
void write_json(const std::string& path, const json& j) { write_durably(path, j.dump()); }

}  // namespace

SearchContext::SearchContext(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan,
                             const DataSplits& data, const SearchOptions& o)
    : program_(std::move(program)),
      plan_(plan),
      data_(data),
      o_(o),
      schedule_(plan_),
      sites_(*program_, plan_.split.cell) {
  snapshot_ = snapshot_checkpoints(o_.checkpoint_dir);
  // Also the moment the ranks of a data-parallel search meet before rank 0 writes anything.
  distributed::check_agreement(snapshot_.hash(),
                               "the run directory's checkpoints (on several machines it must be shared)");
}

void SearchContext::start() {
  nodes_.push_back(SplitNode{make_supernet(program_, Mask::full(*program_), plan_.supernet, o_.seed), {}});
  note(0, -1, "root", json());
}

SearchResult SearchContext::finish(int selected) {
  auto t = Clock::now();
  SearchResult r;
  r.arch = derive(nodes_[selected].state, plan_.supernet, data_, o_.seed, 20, o_.progress);
  r.valid_accuracy = score(selected, schedule_.total());
  phases_["derive"] += seconds(t);
  r.tree.strategy = ir::strategy_word(plan_.split);
  r.tree.cell = plan_.split.cell;
  for (const SplitNode& n : nodes_) r.tree.nodes.push_back(n.record);
  r.tree.selected = selected;
  r.tree.arch = ir::to_text(*program_, r.arch);
  r.tree.phases = phases_;
  r.tree.judged_images = judged_images();
  return r;
}

std::string SearchContext::ckpt(int id, std::int64_t epoch, const char* ext) const {
  return checkpoint_path(o_.checkpoint_dir, id, epoch, ext);
}

// Node record: the values it keeps of every site (the split cell's edges, the elastic layers'
// split dimension), and how it was made.
void SearchContext::note(int id, int parent, const std::string& how, json split) {
  SplitNode& n = nodes_[id];
  TreeNode& r = n.record;
  r.id = id;
  r.parent = parent;
  r.level = parent < 0 ? 0 : nodes_[parent].record.level + 1;
  r.made_by = how;
  r.split = std::move(split);
  for (int s = 0; s < sites_.size(); ++s) {
    std::vector<int> on = kept(n, s);
    std::vector<std::string> names;
    for (int k : on) names.push_back(sites_.value_name(s, k));
    r.mask.emplace_back(sites_.name(s), std::move(names));
    r.mask_index.push_back(std::move(on));
  }
}

// A replay of a killed search. Each node keeps only its newest checkpoint. If that is beyond
// `until`, this training was done and superseded: skip it (whatever used this node's state at
// this point, a sibling's turn in the same round, is skipped too). Otherwise jump to it.
bool SearchContext::restore(int id, std::int64_t until) {
  if (o_.checkpoint_dir.empty()) return false;
  const std::int64_t e = snapshot_.newest_of(id);
  // Older files than the newest are left over from a kill between a save and its pruning; a
  // newer one (written by this search) stands for a state this process has already.
  if (distributed::leader()) prune_checkpoints(o_.checkpoint_dir, id);
  if (e > until) return true;
  if (e > nodes_[id].state.epoch) load(id, e);
  return false;
}

void SearchContext::load(int id, std::int64_t epoch) {
  load_state(nodes_[id].state, ckpt(id, epoch, "pt"));
  std::ifstream in(ckpt(id, epoch, "json"));
  json curve = json::parse(in, nullptr, false);
  if (curve.is_array()) nodes_[id].record.curve = curve_from_json(curve, ckpt(id, epoch, "json"));
}

json SearchContext::curve_json(int id) const {
  json curve = json::array();
  for (const EpochRecord& r : nodes_[id].record.curve) curve.push_back(to_json(r));
  return curve;
}

void SearchContext::save(int id, bool prune) {
  if (o_.checkpoint_dir.empty() || !distributed::leader()) return;  // rank 0 writes the run
  std::int64_t e = nodes_[id].state.epoch;
  write_json(ckpt(id, e, "json"), curve_json(id));
  save_state(nodes_[id].state, ckpt(id, e, "pt"));  // last: its presence means the epoch is complete
  if (prune) prune_checkpoints(o_.checkpoint_dir, id);
}

// Trains node `id` to epoch `until`; the batch order, paths and noise of each step come from
// `seed` (default: one per node).
void SearchContext::train(int id, std::int64_t until, const LossFn& loss, std::optional<std::uint64_t> seed) {
  if (restore(id, until)) return;
  auto t = Clock::now();
  const double teachers_before = teacher_seconds_;  // computed inside the loss, counted apart
  train_epochs(id, until, loss, seed, /*checkpoint=*/true, nullptr);
  phases_[id == 0 ? "supernet" : "children"] += seconds(t) - (teacher_seconds_ - teachers_before);
}

void SearchContext::train_epochs(int id, std::int64_t until, const LossFn& loss, std::optional<std::uint64_t> seed,
                                 bool checkpoint, std::vector<Progress>* ends) {
  SplitNode& n = nodes_[id];
  double last_loss = 0, last_acc = 0;
  ProgressFn progress = [&](const Progress& p) {
    Progress q = p;
    q.phase = id == 0 ? "supernet" : fmt::format("node {}", id);
    q.node = id;
    if (p.epoch_end) {
      last_loss = p.loss;
      last_acc = p.accuracy;
      if (ends) ends->push_back(q);
    }
    if (o_.progress) o_.progress(q);
  };
  train_supernet(
      n.state, plan_.supernet, schedule_, data_, seed.value_or(o_.seed + static_cast<std::uint64_t>(id)), until,
      progress,
      [&](const SupernetState& s) {
        nodes_[id].record.curve.push_back({s.epoch, last_loss, last_acc});
        if (checkpoint) save(id);
      },
      loss);
}

// The nodes are dealt to the ranks in turn (node i of those left to train to rank i mod world)
// and train in rounds of one epoch each: every rank trains its nodes' next epoch alone, then each
// node's state goes from its rank to the others. A node that is done (or a replay found done)
// drops out of the rounds. The states every rank then holds are what one process would have
// made: a node's training depends on nothing but its own state and seed.
void SearchContext::train_apart(const std::vector<int>& ids, std::int64_t until,
                                const std::function<LossFn(int)>& loss_of, std::optional<std::uint64_t> seed) {
  auto loss = [&](int id) { return loss_of ? loss_of(id) : LossFn(); };
  const int world = distributed::world();
  if (world == 1 || ids.size() < 2) {
    for (int id : ids) train(id, until, loss(id), seed);
    return;
  }
  auto t = Clock::now();
  const double teachers_before = teacher_seconds_;
  std::vector<int> todo;
  for (int id : ids)
    if (!restore(id, until)) todo.push_back(id);
  for (;;) {
    std::vector<int> round;
    for (int id : todo)
      if (nodes_[id].state.epoch < until) round.push_back(id);
    if (round.empty()) break;
    train_dealt_epoch(round, loss_of, seed, /*prune_each=*/true);
  }
  phases_["children"] += seconds(t) - (teacher_seconds_ - teachers_before);
}

void SearchContext::train_dealt_epoch(const std::vector<int>& ids, const std::function<LossFn(int)>& loss_of,
                                      std::optional<std::uint64_t> seed, bool prune_each) {
  const auto world = static_cast<std::size_t>(distributed::world());
  auto owner = [&](std::size_t i) { return static_cast<int>(i % world); };
  std::map<int, std::vector<Progress>> ends;
  {
    distributed::Solo alone;
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (owner(i) == distributed::rank()) {
        const int id = ids[i];
        train_epochs(id, nodes_[id].state.epoch + 1, loss_of ? loss_of(id) : LossFn(), seed, /*checkpoint=*/false,
                     &ends[id]);
      }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) share(ids[i], owner(i), ends[ids[i]], prune_each);
}

// Deals a round out as train_dealt_epoch does, after freezing copies of the children as the round
// starts. A replay: a round is done when every child has a checkpoint of `until` or later (the
// round's states load lazily, at the round that needs them); a round a kill cut short is trained
// again from every child's checkpoint of the round's start, which the round's saves keep until
// all of them are written (a child whose start is its inherited state has none, nor needs one).
void SearchContext::train_round(const std::vector<int>& ids, std::int64_t until,
                                const std::function<LossFn(int)>& loss_of, std::uint64_t seed) {
  auto t = Clock::now();
  const double teachers_before = teacher_seconds_;
  const std::int64_t from = until - 1;
  if (!o_.checkpoint_dir.empty()) {
    bool done = true, last = true;
    for (int id : ids) {
      done = done && snapshot_.newest_of(id) >= until;
      last = last && snapshot_.newest_of(id) == until;
    }
    if (done) {
      for (int id : ids)
        if (snapshot_.newest_of(id) == until) load(id, until);
      // A kill between the round's saves and its pruning left older files; they may be pruned
      // only if no later round has begun to save (which still needs this round's states).
      if (last && distributed::leader())
        for (int id : ids) prune_checkpoints(o_.checkpoint_dir, id);
      return;
    }
    for (int id : ids)
      if (nodes_[id].state.epoch != from && snapshot_.has(id, from)) load(id, from);
  }
  for (int id : ids)
    if (nodes_[id].state.epoch != from)
      throw CheckpointError(fmt::format("{}: node {} has no checkpoint of epoch {} to replay its round from",
                                        o_.checkpoint_dir, id, from));
  frozen_.clear();
  for (int id : ids) {
    const SupernetState& s = nodes_[id].state;
    frozen_.emplace(id, make_child(s, s.net->mask(), plan_.supernet, /*restart=*/false, o_.seed));
  }
  train_dealt_epoch(ids, loss_of, seed, /*prune_each=*/false);
  frozen_.clear();
  if (!o_.checkpoint_dir.empty() && distributed::leader())
    for (int id : ids) prune_checkpoints(o_.checkpoint_dir, id);
  phases_["children"] += seconds(t) - (teacher_seconds_ - teachers_before);
}

void SearchContext::say_dealt(const std::vector<int>& ids) {
  const int world = distributed::world();
  if (world == 1 || ids.size() < 2) return;
  std::vector<std::string> ranks;
  for (int r = 0; r < world && r < static_cast<int>(ids.size()); ++r) {
    std::vector<int> mine;
    for (std::size_t i = static_cast<std::size_t>(r); i < ids.size(); i += static_cast<std::size_t>(world))
      mine.push_back(ids[i]);
    ranks.push_back(fmt::format("rank {}: node{} {}", r, mine.size() > 1 ? "s" : "", fmt::join(mine, ", ")));
  }
  log(fmt::format("{} sub-supernets train on different ranks at once ({}), each on whole batches", ids.size(),
                  fmt::join(ranks, "; ")));
}

void SearchContext::share(int id, int owner, const std::vector<Progress>& ends, bool prune) {
  if (!distributed::active()) {
    save(id, prune);
    return;
  }
  SplitNode& n = nodes_[id];
  std::string bytes;
  if (distributed::rank() == owner) {
    const std::string state = state_bytes(n.state);
    const std::vector<std::uint8_t> packed =
        json::to_cbor({{"state", json::binary(std::vector<std::uint8_t>(state.begin(), state.end()))},
                       {"curve", curve_json(id)},
                       {"progress", ends}});
    bytes.assign(packed.begin(), packed.end());
  }
  distributed::broadcast_bytes(bytes, owner);
  if (distributed::rank() != owner) {
    const std::string what = fmt::format("node {}'s state from rank {}", id, owner);
    const json j = json::from_cbor(bytes, true, false);
    if (j.is_discarded() || !j.contains("state") || !j["state"].is_binary())
      throw CheckpointError(fmt::format("{}: damaged in transit", what));
    const auto& state = j["state"].get_binary();
    load_state_bytes(n.state, std::string(state.begin(), state.end()), what);
    n.record.curve = curve_from_json(j["curve"], what);
    // The epochs trained elsewhere, reported as if trained here.
    if (o_.progress)
      for (const json& p : j["progress"]) o_.progress(p.get<Progress>());
  }
  save(id, prune);
}

// How a sub-supernet is judged: DARTS-style methods by their weighted forward pass; path
// sampling by the best of a few sampled architectures. Records the validation accuracy and
// loss; returns the accuracy.
double SearchContext::score(int id, std::int64_t epoch) {
  SplitNode& n = nodes_[id];
  const std::string file = o_.checkpoint_dir.empty()
                               ? std::string()
                               : fmt::format("{}/judged-node-{}-e{}.json", o_.checkpoint_dir, id, epoch);
  if (!file.empty() && snapshot_.judged.count(std::filesystem::path(file).filename().string())) {
    std::ifstream in(file);
    json j = json::parse(in, nullptr, false);
    if (j.is_object() && j["valid_acc"].is_number() && j["valid_loss"].is_number()) {
      n.record.valid_acc = j["valid_acc"].get<double>();
      n.record.valid_loss = j["valid_loss"].get<double>();
      return *n.record.valid_acc;
    }
  }
  auto t = Clock::now();
  Mixing mix =
      method_of(plan_.supernet)
          .selection_mixing(n.state, plan_.supernet, plan_.split, data_, o_.seed + static_cast<std::uint64_t>(id));
  Evaluation e = evaluate(n.state.net, mix, data_.valid, 256, plan_.split.select_images);
  n.record.valid_acc = e.accuracy;
  n.record.valid_loss = e.loss;
  if (!file.empty() && distributed::leader()) write_json(file, {{"valid_acc", e.accuracy}, {"valid_loss", e.loss}});
  phases_["selection"] += seconds(t);
  return e.accuracy;
}

// What the plan's `select` maximises for a scored node.
double SearchContext::merit(int id) const {
  const TreeNode& r = nodes_[id].record;
  return plan_.split.select == ir::Selection::ValidLoss ? -r.valid_loss.value() : r.valid_acc.value();
}

std::int64_t SearchContext::judged_images() const {
  const std::int64_t all = data_.valid.size(), limit = plan_.split.select_images;
  return limit > 0 ? std::min(limit, all) : all;
}

// Marks the best of the scored nodes `ids` as kept and logs the choice with its margin: the
// runner-up, and the standard error of an accuracy measured on the validation images, so a
// reader can tell a clear choice from a coin flip.
int SearchContext::keep_best(const std::vector<int>& ids, const char* what) {
  std::vector<int> order = ids;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return merit(a) > merit(b); });
  const int best = order.front();
  nodes_[best].record.kept = true;
  const double acc = nodes_[best].record.valid_acc.value() / 100;
  const std::int64_t n = judged_images();
  std::string line = fmt::format("{} {} ({:.2f}% {}, loss {:.4f}) of {}", what, best, 100 * acc,
                                 method_of(plan_.supernet).selection_measure(plan_.split),
                                 nodes_[best].record.valid_loss.value(), ids.size());
  if (order.size() > 1) {
    const TreeNode& r = nodes_[order[1]].record;
    line += fmt::format("; runner-up {} at {:.2f}%, loss {:.4f}; standard error of an accuracy on {} images: {:.2f}%",
                        order[1], r.valid_acc.value(), r.valid_loss.value(), n,
                        100 * std::sqrt(acc * (1 - acc) / static_cast<double>(std::max<std::int64_t>(1, n))));
  }
  log(line);
  return best;
}

// Scores `edge` of node `id` by the plan's criterion (gradient matching unless a plugin's) and
// partitions it.
std::pair<Partition, json> SearchContext::match(int id, int site, std::int64_t branches,
                                                const std::vector<std::int64_t>& sizes) {
  auto t = Clock::now();
  GradientMatchOptions g;
  g.batches = plan_.split.batches;
  g.batch = plan_.supernet.batch;
  g.variant = plan_.split.variant;
  g.seed = o_.seed * 31 + static_cast<std::uint64_t>(id) * 1009 + static_cast<std::uint64_t>(site);
  torch::Tensor s;
  if (sites_.elastic()) {  // sema allows gradient matching alone on elastic layers
    s = gradient_match_elastic_scores(nodes_[id].state, plan_.supernet, data_.train, sites_, site, g);
  } else {
    const SplitCriterion* criterion = CriterionRegistry::instance().find(plan_.split.criterion);
    if (!criterion)
      throw std::runtime_error(
          fmt::format("split criterion '{}' is declared but no plugin registered it", plan_.split.criterion));
    s = (*criterion)(nodes_[id].state, plan_.supernet, data_.train, group(), site, g);
  }
  Partition p = best_partition(s, kept(nodes_[id], site), branches, sizes, plan_.split.variant);
  phases_["scores"] += seconds(t);
  json groups = json::array();
  for (const auto& grp : p.groups) {
    json names = json::array();
    for (int k : grp) names.push_back(sites_.value_name(site, k));
    groups.push_back(names);
  }
  std::vector<std::vector<double>> matrix(s.size(0), std::vector<double>(s.size(1)));
  for (std::int64_t i = 0; i < s.size(0); ++i)
    for (std::int64_t j = 0; j < s.size(1); ++j) matrix[i][j] = s[i][j].item<double>();
  return {p, json{{"edge", sites_.name(site)}, {"scores", matrix}, {"groups", groups}, {"cost", p.cost}}};
}

// The children masks that hold some architecture of the space. On a `select` node a child
// that keeps only `none` on an edge may hold none (a node with two inputs must keep both):
// such a child would train a region with nothing to find in it, so it is left out, and said.
std::vector<Mask> SearchContext::holding_masks(int parent, const std::vector<Mask>& masks) {
  std::vector<Mask> out;
  for (const Mask& m : masks) {
    if (auto why = ir::why_empty(*program_, m)) {
      log(fmt::format("node {}: a child is left out because it holds no architecture of the space: {}", parent, *why));
      continue;
    }
    out.push_back(m);
  }
  return out;
}

int SearchContext::add_child(int parent, const Mask& mask, bool restart, const std::string& how, const json& split) {
  auto t = Clock::now();
  int id = static_cast<int>(nodes_.size());
  SupernetState st =
      make_child(nodes_[parent].state, mask, plan_.supernet, restart, o_.seed + static_cast<std::uint64_t>(id));
  nodes_.push_back(SplitNode{std::move(st), {}});
  note(id, parent, how, split);
  phases_["children"] += seconds(t);
  return id;
}

// What frozen model `id` (the parent or a sibling, no gradient) predicts for the batch `x`
// (training images `idx`) on which child `student` takes a step under `mix`. It uses batch
// statistics, as supernets are evaluated and as the HEP-NAS code leaves its frozen NAS-Bench-201
// models, and its running statistics stay as they were. Under path sampling it runs the path
// teacher_path gives. With architecture weights it runs its weighted supernet; the children of
// a hierarchy see the same batches in each epoch and a frozen model does not change during a
// turn, so its logits for a batch are computed once and shared by every child that trains on
// that batch against the same state of it.
torch::Tensor SearchContext::teacher_logits(int id, int student, const torch::Tensor& x, const torch::Tensor& idx,
                                            const Mixing& mix) {
  auto t = Clock::now();
  torch::NoGradGuard no_grad;
  auto frozen = frozen_.find(id);
  SupernetState& s = frozen != frozen_.end() ? frozen->second : nodes_[id].state;
  auto run = [&](const Mixing& m) {
    KeepBuffers keep(s.net);
    s.net->train();
    return s.net->forward(x, m);
  };
  torch::Tensor out;
  const TrainingMethod& method = method_of(plan_.supernet);
  if (method.samples_paths()) {
    out = run(teacher_path(id, student, mix, idx[0].item<std::int64_t>()));
  } else {
    auto key = std::make_tuple(id, s.epoch, nodes_[student].state.epoch, idx[0].item<std::int64_t>());
    auto it = batch_logits_.find(key);
    if (it == batch_logits_.end()) {
      std::mt19937_64 unused(0);  // a weighted method's judging mixing draws nothing
      it = batch_logits_.emplace(key, run(method.judging_mixing(s, plan_.supernet, unused))).first;
    }
    out = it->second;
  }
  teacher_seconds_ += seconds(t);
  phases_["teachers"] = teacher_seconds_;
  return out;
}

// The parent holds the student's region and runs the student's path, distilling the same
// architecture. A sibling holds another region, where the student's path may not be: it runs a
// path of its own, drawn uniformly inside its own mask as its own training draws them, seeded by
// the student's epoch and batch and the sibling, so that a resumed search draws the same. (The
// HEP-NAS code has no path-sampling variant; this is cella's. A sibling used to run the
// student's path with a split edge's candidate swapped for the one of the same rank in its own
// group, a mapping that pulled each architecture towards another one's output.)
Mixing SearchContext::teacher_path(int id, int student, const Mixing& mix, std::int64_t first_image) {
  if (nodes_[student].record.parent == id) return mix;
  const std::int64_t epoch = nodes_[student].state.epoch;
  const std::uint64_t seed = step_seed(o_.seed + static_cast<std::uint64_t>(id), epoch, first_image, 7);
  return method_of(plan_.supernet)
      .step_mixing(nodes_[id].state, plan_.supernet, Step::Weights, seed, schedule_.tau(epoch));
}

void SearchContext::log(const std::string& line) {
  if (o_.log) o_.log(line);
}

// How the log names the plan's split criterion.
std::string SearchContext::criterion_words() const {
  return plan_.split.criterion == "gradient_match" ? "gradient matching"
                                                   : fmt::format("criterion '{}'", plan_.split.criterion);
}

}  // namespace cella::runtime
