// The search driver: exhaustive (Few-Shot NAS), gradient_match (GM-NAS) and hierarchical
// (HEP-NAS) plans over any space, recorded as a split tree.
#include "runtime/search/search.h"

#include "runtime/train/method.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <tuple>

namespace cella::runtime {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string checkpoint_path(const std::string& dir, int id, std::int64_t epoch, const char* ext) {
  return fmt::format("{}/node-{}-e{}.{}", dir, id, epoch, ext);
}

// Node `id`'s checkpoint files in `dir` (`node-<id>-e<epoch>.pt`, `.json`, `.json.tmp`, ...),
// each with its epoch.
std::vector<std::pair<std::int64_t, std::filesystem::path>> checkpoint_files(const std::string& dir, int id) {
  std::vector<std::pair<std::int64_t, std::filesystem::path>> out;
  std::string prefix = fmt::format("node-{}-e", id);
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = f.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string digits = name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size());
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos)
      out.emplace_back(std::stoll(digits), f.path());
  }
  return out;
}

// The epoch of the newest complete checkpoint (a `.pt` file) among `files`, or -1.
std::int64_t newest_of(const std::vector<std::pair<std::int64_t, std::filesystem::path>>& files) {
  std::int64_t newest = -1;
  for (const auto& [epoch, path] : files)
    if (path.extension() == ".pt") newest = std::max(newest, epoch);
  return newest;
}

std::int64_t newest_checkpoint(const std::string& dir, int id) { return newest_of(checkpoint_files(dir, id)); }

// Removes node `id`'s checkpoint files older than its newest checkpoint; returns that epoch.
// A save prunes after writing, so a search killed in between leaves older files behind, which
// the resumed search prunes when it first looks at the node.
std::int64_t prune_checkpoints(const std::string& dir, int id) {
  const auto files = checkpoint_files(dir, id);
  const std::int64_t newest = newest_of(files);
  for (const auto& [epoch, path] : files)
    if (epoch < newest) std::filesystem::remove(path);
  return newest;
}

// The cell group a plan splits (the first group of that cell).
int split_group(const ir::Program& p, const std::string& cell) {
  const ir::Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    if (p.cells[n.cell_groups[g].cell].props().name == cell) return static_cast<int>(g);
  return 0;
}

// How many validation images judge a sub-supernet (at most).
constexpr std::int64_t kSelectionImages = 2000;

struct Node {
  int id = 0, parent = -1, level = 0;
  SupernetState state;
  json record;
};

class Search {
 public:
  Search(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan, const DataSplits& data, const SearchOptions& o)
      : program_(std::move(program)), plan_(plan), data_(data), o_(o) {
    group_ = split_group(*program_, plan_.split.cell);
    // The schedule spans the whole budget: the supernet's epochs plus the last children's.
    supernet_ = plan_.supernet;
    std::int64_t last = plan_.split.at.empty() ? supernet_.epochs : plan_.split.at.back();
    supernet_.epochs = std::max(supernet_.epochs, last + plan_.split.child_epochs);
  }

  SearchResult run() {
    nodes_.push_back(Node{0, -1, 0, make_supernet(program_, Mask::full(*program_), supernet_, o_.seed), {}});
    note(0, "root", {});
    int selected = 0;
    if (plan_.split.strategy == ir::SplitStrategy::None) {
      train(0, plan_.supernet.epochs, {});
    } else if (plan_.split.strategy == ir::SplitStrategy::Hierarchical) {
      selected = hierarchical();
    } else {
      selected = tree_split();
    }
    auto t = Clock::now();
    SearchResult r;
    r.arch = derive(nodes_[selected].state, supernet_, data_, o_.seed, 20, o_.progress);
    r.valid_accuracy = score(selected);
    phases_["derive"] += seconds(t);
    json nodes = json::array();
    for (Node& n : nodes_) {
      n.record["valid_acc"] = n.record.value("valid_acc", json(nullptr));
      n.record["valid_loss"] = n.record.value("valid_loss", json(nullptr));
      nodes.push_back(n.record);
    }
    r.tree = {{"strategy", strategy_name()}, {"cell", plan_.split.cell}, {"nodes", nodes}, {"selected", selected},
              {"arch", ir::to_text(*program_, r.arch)}, {"phases", phases_}};
    return r;
  }

 private:
  static double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

  std::string strategy_name() const {
    switch (plan_.split.strategy) {
      case ir::SplitStrategy::Exhaustive: return "exhaustive";
      case ir::SplitStrategy::GradientMatch: return "gradient_match";
      case ir::SplitStrategy::Hierarchical: return "hierarchical";
      default: return "none";
    }
  }

  // How the log names the plan's split criterion.
  std::string criterion_words() const {
    return plan_.split.criterion == "gradient_match" ? "gradient matching" : fmt::format("criterion '{}'", plan_.split.criterion);
  }

  const ir::Cell& cell() const { return program_->cells[program_->network->cell_groups[group_].cell]; }

  std::vector<int> enabled(const Node& n, int e) const { return enabled_candidates(n.state.net->mask().cells[group_][e]); }

  // Node record: its mask on the split cell, and how it was made.
  void note(int id, const std::string& how, json split) {
    Node& n = nodes_[id];
    json mask = json::object(), index = json::array();
    for (int e = 0; e < cell().num_edges(); ++e) {
      std::vector<int> on = enabled(n, e);
      json names = json::array();
      for (int k : on) names.push_back(cell().edge(e).candidates[k].name);
      mask[cell().edge_name(e)] = names;
      index.push_back(on);
    }
    n.record = {{"id", id}, {"parent", n.parent}, {"level", n.level}, {"made_by", how}, {"split", split},
                {"mask", mask}, {"mask_index", index}, {"curve", json::array()}, {"kept", false}};
  }

  std::string ckpt(int id, std::int64_t epoch, const char* ext) const { return checkpoint_path(o_.checkpoint_dir, id, epoch, ext); }

  // A replay of a killed search. Each node keeps only its newest checkpoint. If that is beyond
  // `until`, this training was done and superseded: skip it (whatever used this node's state at
  // this point, a sibling's turn in the same round, is skipped too). Otherwise jump to it.
  bool restore(int id, std::int64_t until) {
    if (o_.checkpoint_dir.empty()) return false;
    std::int64_t e = prune_checkpoints(o_.checkpoint_dir, id);
    if (e > until) return true;
    if (e > nodes_[id].state.epoch) {
      load_state(nodes_[id].state, ckpt(id, e, "pt"));
      std::ifstream in(ckpt(id, e, "json"));
      json curve = json::parse(in, nullptr, false);
      if (curve.is_array()) nodes_[id].record["curve"] = curve;
    }
    return false;
  }

  void save(int id) {
    if (o_.checkpoint_dir.empty()) return;
    std::int64_t e = nodes_[id].state.epoch;
    std::string tmp = ckpt(id, e, "json.tmp");
    { std::ofstream(tmp) << nodes_[id].record["curve"].dump(); }
    std::filesystem::rename(tmp, ckpt(id, e, "json"));
    save_state(nodes_[id].state, ckpt(id, e, "pt"));  // last: its presence means the epoch is complete
    prune_checkpoints(o_.checkpoint_dir, id);
  }

  // Trains node `id` to epoch `until`; the batch order, paths and noise of each step come from
  // `seed` (default: one per node).
  void train(int id, std::int64_t until, const LossFn& loss, std::optional<std::uint64_t> seed = std::nullopt) {
    if (restore(id, until)) return;
    auto t = Clock::now();
    const double teachers_before = teacher_seconds_;  // computed inside the loss, counted apart
    Node& n = nodes_[id];
    double last_loss = 0, last_acc = 0;
    ProgressFn progress = [&](const Progress& p) {
      if (p.epoch_end) {
        last_loss = p.loss;
        last_acc = p.accuracy;
      }
      if (o_.progress) {
        Progress q = p;
        q.phase = id == 0 ? "supernet" : fmt::format("node {}", id);
        q.node = id;
        o_.progress(q);
      }
    };
    train_supernet(n.state, supernet_, data_, seed.value_or(o_.seed + static_cast<std::uint64_t>(id)), until, progress,
                   [&](const SupernetState& s) {
                     nodes_[id].record["curve"].push_back({{"epoch", s.epoch}, {"train_loss", last_loss}, {"train_acc", last_acc}});
                     save(id);
                   },
                   loss);
    phases_[id == 0 ? "supernet" : "children"] += seconds(t) - (teacher_seconds_ - teachers_before);
  }

  // How a (leaf) sub-supernet is judged: DARTS-style methods by their weighted forward pass;
  // path sampling by the best of a few sampled architectures. Records the validation accuracy
  // and loss; returns the accuracy.
  double score(int id) {
    auto t = Clock::now();
    Node& n = nodes_[id];
    Mixing mix = method_of(supernet_).selection_mixing(n.state, supernet_, data_, o_.seed + static_cast<std::uint64_t>(id));
    Evaluation e = evaluate(n.state.net, mix, data_.valid, 256, kSelectionImages);
    n.record["valid_acc"] = e.accuracy;
    n.record["valid_loss"] = e.loss;
    phases_["selection"] += seconds(t);
    return e.accuracy;
  }

  // What the plan's `select` maximises for a scored node.
  double merit(int id) const {
    const json& r = nodes_[id].record;
    return plan_.split.select == "valid_loss" ? -r["valid_loss"].get<double>() : r["valid_acc"].get<double>();
  }

  // Marks the best of the scored nodes `ids` as kept and logs the choice with its margin: the
  // runner-up, and the standard error of an accuracy measured on the validation images, so a
  // reader can tell a clear choice from a coin flip.
  int keep_best(const std::vector<int>& ids, const char* what) {
    std::vector<int> order = ids;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return merit(a) > merit(b); });
    const int best = order.front();
    nodes_[best].record["kept"] = true;
    const double acc = nodes_[best].record["valid_acc"].get<double>() / 100;
    const auto n = std::min<std::int64_t>(kSelectionImages, data_.valid.size());
    std::string line = fmt::format("{} {} ({:.2f}% validation accuracy, loss {:.4f}) of {}", what, best, 100 * acc,
                                   nodes_[best].record["valid_loss"].get<double>(), ids.size());
    if (order.size() > 1) {
      const json& r = nodes_[order[1]].record;
      line += fmt::format("; runner-up {} at {:.2f}%, loss {:.4f}; standard error of an accuracy on {} images: {:.2f}%", order[1],
                          r["valid_acc"].get<double>(), r["valid_loss"].get<double>(), n,
                          100 * std::sqrt(acc * (1 - acc) / static_cast<double>(std::max<std::int64_t>(1, n))));
    }
    log(line);
    return best;
  }

  // Scores `edge` of node `id` by the plan's criterion (gradient matching unless a plugin's) and
  // partitions it.
  std::pair<Partition, json> match(int id, int edge, std::int64_t branches, const std::vector<std::int64_t>& sizes) {
    auto t = Clock::now();
    GradientMatchOptions g;
    g.batches = plan_.split.batches;
    g.batch = supernet_.batch;
    g.variant = plan_.split.variant;
    g.seed = o_.seed * 31 + static_cast<std::uint64_t>(id) * 1009 + static_cast<std::uint64_t>(edge);
    const SplitCriterion* criterion = CriterionRegistry::instance().find(plan_.split.criterion);
    if (!criterion)
      throw std::runtime_error(fmt::format("split criterion '{}' is declared but no plugin registered it", plan_.split.criterion));
    torch::Tensor s = (*criterion)(nodes_[id].state, supernet_, data_.train, group_, edge, g);
    Partition p = best_partition(s, enabled(nodes_[id], edge), branches, sizes, plan_.split.variant);
    phases_["scores"] += seconds(t);
    json groups = json::array();
    for (const auto& grp : p.groups) {
      json names = json::array();
      for (int k : grp) names.push_back(cell().edge(edge).candidates[k].name);
      groups.push_back(names);
    }
    std::vector<std::vector<double>> matrix(s.size(0), std::vector<double>(s.size(1)));
    for (std::int64_t i = 0; i < s.size(0); ++i)
      for (std::int64_t j = 0; j < s.size(1); ++j) matrix[i][j] = s[i][j].item<double>();
    return {p, json{{"edge", cell().edge_name(edge)}, {"scores", matrix}, {"groups", groups}, {"cost", p.cost}}};
  }

  // The children masks that hold some architecture of the space. On a `select` node a child
  // that keeps only `none` on an edge may hold none (a node with two inputs must keep both):
  // such a child would train a region with nothing to find in it, so it is left out, and said.
  std::vector<Mask> holding_masks(int parent, const std::vector<Mask>& masks) {
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

  int add_child(int parent, const Mask& mask, bool restart, const std::string& how, const json& split) {
    auto t = Clock::now();
    int id = static_cast<int>(nodes_.size());
    SupernetState st = make_child(nodes_[parent].state, mask, supernet_, restart, o_.seed + static_cast<std::uint64_t>(id));
    nodes_.push_back(Node{id, parent, nodes_[parent].level + 1, std::move(st), {}});
    note(id, how, split);
    phases_["children"] += seconds(t);
    return id;
  }

  // Exhaustive and gradient matching: every node of a level is split at each split point; the
  // leaves train on, and the best leaf is selected.
  int tree_split() {
    const ir::SplitPlan& sp = plan_.split;
    std::vector<int> level{0};
    for (std::size_t k = 0; k < sp.at.size(); ++k) {
      std::vector<int> next;
      bool last = k + 1 == sp.at.size();
      bool restart = sp.restart == "all" || (sp.restart == "final" && last);
      for (int id : level) {
        train(id, sp.at[k], {});
        std::vector<Mask> children;
        json split;
        if (sp.strategy == ir::SplitStrategy::Exhaustive) {
          int e = sp.edges[k];
          children = holding_masks(id, exhaustive_children(nodes_[id].state.net->mask(), group_, e));
          split = {{"edge", cell().edge_name(e)}};
          log(fmt::format("node {}: exhaustive split of edge {} into {} sub-supernets", id, cell().edge_name(e), children.size()));
        } else {
          // The unsplit edge whose best partition costs least.
          std::optional<std::pair<Partition, json>> best;
          int best_edge = -1;
          for (int e = 0; e < cell().num_edges(); ++e) {
            const auto on = static_cast<std::int64_t>(enabled(nodes_[id], e).size());
            if (on != static_cast<std::int64_t>(cell().edge(e).candidates.size()) || on < sp.branches) continue;
            auto m = match(id, e, sp.branches, sp.groups);
            if (m.first.groups.empty()) continue;
            if (!best || m.first.cost < best->first.cost) {
              best = m;
              best_edge = e;
            }
          }
          if (!best) {
            log(fmt::format("node {}: no edge left to split", id));
            next.push_back(id);
            continue;
          }
          children = holding_masks(id, partition_children(nodes_[id].state.net->mask(), group_, best_edge, best->first));
          split = best->second;
          log(fmt::format("node {}: edge {} split by {} into {}", id, cell().edge_name(best_edge), criterion_words(), split["groups"].dump()));
        }
        for (const Mask& m : children) next.push_back(add_child(id, m, restart, strategy_name(), split));
      }
      level = next;
    }
    for (int id : level) {
      train(id, nodes_[id].state.epoch + sp.child_epochs, {});
      score(id);
      nodes_[id].record["leaf"] = true;
    }
    return keep_best(level, "selected leaf");
  }

  // HEP-NAS: at each split point, split every edge of the next hierarchy in two on the same
  // parent, train all combinations round-robin with distillation, keep the best, continue in it.
  int hierarchical() {
    const ir::SplitPlan& sp = plan_.split;
    std::vector<std::vector<int>> hierarchies;
    for (const auto& h : cell().hierarchies) {
      bool any = false;
      for (int e : h) any = any || cell().edge(e).candidates.size() >= 2;
      if (any) hierarchies.push_back(h);
    }
    int current = 0;
    for (std::size_t k = 0; k < sp.at.size() && k < hierarchies.size(); ++k) {
      train(current, sp.at[k], {});
      std::vector<int> edges;
      std::vector<Partition> parts;
      json split = json::array();
      for (int e : hierarchies[k]) {
        std::vector<int> cands = enabled(nodes_[current], e);
        if (cands.size() < 2) continue;
        auto m = match(current, e, 2, {});
        edges.push_back(e);
        parts.push_back(m.first);
        split.push_back(m.second);
      }
      std::vector<Mask> masks = holding_masks(current, hierarchy_children(nodes_[current].state.net->mask(), group_, edges, parts));
      std::vector<int> kids;
      for (const Mask& m : masks) kids.push_back(add_child(current, m, false, "hierarchical", split));
      log(fmt::format("node {}: hierarchy {} ({} edges) split into {} sub-supernets", current, k, edges.size(), kids.size()));
      // Round-robin, one epoch at a time; the parent and the siblings are frozen teachers.
      const std::int64_t start = nodes_[current].state.epoch;  // targets do not depend on skipped (replayed) turns
      // Siblings train on the same batches (so the teachers' logits of a batch are shared).
      const std::uint64_t kids_seed = o_.seed + 7919 * static_cast<std::uint64_t>(current + 1);
      batch_logits_.clear();
      for (std::int64_t ep = 0; ep < sp.child_epochs; ++ep) {
        for (int id : kids) {
          LossFn loss = [&, id](const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor& x,
                                const torch::Tensor& idx, const Mixing& mix) {
            if (sp.distill == "none") return torch::cross_entropy_loss(logits, y);
            auto frozen = [&](int j) { return teacher_logits(j, id, x, idx, mix); };
            torch::Tensor t;
            std::vector<torch::Tensor> sibs;
            if (sp.distill == "smd" || sp.distill == "parent") t = frozen(current);
            if (sp.distill == "smd" || sp.distill == "mutual")
              for (int j : kids)
                if (j != id) sibs.push_back(frozen(j));
            return distillation_loss(logits, y, t, sibs, sp.distill);
          };
          train(id, start + ep + 1, loss, kids_seed);
        }
      }
      for (int id : kids) score(id);
      current = keep_best(kids, "kept node");
    }
    nodes_[current].record["leaf"] = true;
    return current;
  }

  // What frozen model `id` (the parent or a sibling, no gradient) predicts for the batch `x`
  // (training images `idx`) on which child `student` takes a step under `mix`. It uses batch
  // statistics, as supernets are evaluated and as the HEP-NAS code leaves its frozen NAS-Bench-201
  // models, and its running statistics stay as they were. Under path sampling it runs the
  // student's path (path_for). With architecture weights it runs its weighted supernet; the
  // children of a hierarchy see the same batches in each epoch and a frozen model does not change
  // during a turn, so its logits for a batch are computed once and shared by every child that
  // trains on that batch against the same state of it.
  torch::Tensor teacher_logits(int id, int student, const torch::Tensor& x, const torch::Tensor& idx, const Mixing& mix) {
    auto t = Clock::now();
    torch::NoGradGuard no_grad;
    SupernetState& s = nodes_[id].state;
    auto run = [&](const Mixing& m) {
      KeepBuffers keep(s.net);
      s.net->train();
      return s.net->forward(x, m);
    };
    torch::Tensor out;
    const TrainingMethod& method = method_of(supernet_);
    if (method.samples_paths()) {
      out = run(path_for(id, student, mix));
    } else {
      auto key = std::make_tuple(id, s.epoch, nodes_[student].state.epoch, idx[0].item<std::int64_t>());
      auto it = batch_logits_.find(key);
      if (it == batch_logits_.end()) {
        std::mt19937_64 unused(0);  // a weighted method's judging mixing draws nothing
        it = batch_logits_.emplace(key, run(method.judging_mixing(s, supernet_, unused))).first;
      }
      out = it->second;
    }
    teacher_seconds_ += seconds(t);
    phases_["teachers"] = teacher_seconds_;
    return out;
  }

  // The student's path for frozen model `id`: the parent holds the student's region and runs it
  // as it is; a sibling keeps the student's choice where its mask has it and, on an edge split
  // apart, takes the candidate at the same rank in its own group.
  Mixing path_for(int id, int student, const Mixing& mix) {
    const Mask& to = nodes_[id].state.net->mask();
    const Mask& from = nodes_[student].state.net->mask();
    auto map = [&](CellMix& cm) {
      for (std::size_t e = 0; e < cm.edges.size(); ++e) {
        std::vector<int>& ops = cm.edges[e].ops;
        if (ops.size() != 1 || to.cells[group_][e][ops[0]]) continue;
        std::vector<int> mine = enabled_candidates(from.cells[group_][e]), theirs = enabled_candidates(to.cells[group_][e]);
        auto rank = static_cast<std::size_t>(std::find(mine.begin(), mine.end(), ops[0]) - mine.begin());
        ops = {theirs[rank % theirs.size()]};
      }
    };
    Mixing out = mix;
    map(out.cells[group_]);
    for (auto& [unit, cm] : out.per_unit)
      if (program_->network->units[unit].group == group_) map(cm);
    return out;
  }

  void log(const std::string& line) {
    if (o_.log) o_.log(line);
  }

  std::shared_ptr<const ir::Program> program_;
  ir::SearchPlan plan_;
  const DataSplits& data_;
  SearchOptions o_;
  ir::SupernetPlan supernet_;
  int group_ = 0;
  std::vector<Node> nodes_;
  /// (frozen node, its epoch, the student's epoch, the batch's first image) -> logits; one hierarchy
  std::map<std::tuple<int, std::int64_t, std::int64_t, std::int64_t>, torch::Tensor> batch_logits_;
  std::map<std::string, double> phases_;
  double teacher_seconds_ = 0;
};

}  // namespace

SearchResult run_search(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan, const DataSplits& data,
                        const SearchOptions& options) {
  return Search(std::move(program), plan, data, options).run();
}

namespace {

// Node `id`'s mask: the whole supernet but the split cell group, restricted as the tree says.
Mask node_mask(const ir::Program& program, const nlohmann::json& tree, int id) {
  Mask m = Mask::full(program);
  int g = split_group(program, tree.at("cell").get<std::string>());
  const nlohmann::json& index = tree.at("nodes").at(id).at("mask_index");
  for (std::size_t e = 0; e < m.cells[g].size() && e < index.size(); ++e) {
    std::vector<bool> row(m.cells[g][e].size(), false);
    for (int k : index[e].get<std::vector<int>>())
      if (k >= 0 && k < static_cast<int>(row.size())) row[k] = true;
    m.cells[g][e] = row;
  }
  return m;
}

}  // namespace

bool node_holds(const ir::Program& program, const nlohmann::json& tree, int id, const ir::Arch& arch) {
  return ir::holds(program, node_mask(program, tree, id), arch);
}

int owning_node(const ir::Program& program, const nlohmann::json& tree, const ir::Arch& arch) {
  const int g = split_group(program, tree.at("cell").get<std::string>());
  const ir::Cell& cell = program.cells[program.network->cell_groups[g].cell];
  // Among equally deep holders, an edge the architecture leaves out is best judged by the
  // sub-supernet that keeps `none` there: leaving an edge out computes what `none` does.
  auto zero_matches = [&](const ir::Mask& m) {
    int n = 0;
    for (int e = 0; e < cell.num_edges(); ++e) {
      if (arch.cells[g].edge_op[e] >= 0) continue;
      for (std::size_t k = 0; k < m.cells[g][e].size(); ++k)
        if (m.cells[g][e][k] && cell.edge(e).candidates[k].is_zero(1)) {
          ++n;
          break;
        }
    }
    return n;
  };
  int best = 0, best_level = -1, best_zeros = -1;
  for (const auto& n : tree.at("nodes")) {
    const int id = n.at("id").get<int>(), level = n.at("level").get<int>();
    ir::Mask m = node_mask(program, tree, id);
    if (level < best_level || !ir::holds(program, m, arch)) continue;
    const int zeros = zero_matches(m);
    if (level > best_level || zeros > best_zeros) {
      best = id;
      best_level = level;
      best_zeros = zeros;
    }
  }
  return best;
}

SupernetState load_node(std::shared_ptr<const ir::Program> program, const ir::SupernetPlan& plan, const nlohmann::json& tree,
                        int id, const std::string& dir) {
  std::int64_t e = newest_checkpoint(dir, id);
  if (e < 0) throw std::runtime_error(fmt::format("{}: no checkpoint of sub-supernet {} (node-{}-e<epoch>.pt)", dir, id, id));
  SupernetState s = make_supernet(program, node_mask(*program, tree, id), plan, 0);
  load_state(s, checkpoint_path(dir, id, e, "pt"));
  return s;
}

bool has_node_checkpoint(const std::string& dir, int id) { return newest_checkpoint(dir, id) >= 0; }

std::string tree_dot(const nlohmann::json& tree) {
  std::string out = "digraph split_tree {\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& n : tree["nodes"]) {
    std::string label = fmt::format("node {}", n["id"].get<int>());
    if (n["valid_acc"].is_number()) label += fmt::format("\\nvalid {:.2f}%", n["valid_acc"].get<double>());
    for (const auto& [edge, cands] : n["mask"].items())
      if (cands.size() > 0 && n["parent"].get<int>() >= 0) {
        const auto& parent_mask = tree["nodes"][n["parent"].get<int>()]["mask"][edge];
        if (parent_mask.size() != cands.size()) {
          std::string names;
          for (const auto& c : cands) names += (names.empty() ? "" : ", ") + c.get<std::string>();
          label += fmt::format("\\n{}: {}", edge, names);
        }
      }
    bool kept = n.value("kept", false) || tree["selected"] == n["id"];
    out += fmt::format("  n{} [label=\"{}\"{}];\n", n["id"].get<int>(), label, kept ? ", style=bold, color=darkgreen" : "");
    if (n["parent"].get<int>() >= 0) out += fmt::format("  n{} -> n{};\n", n["parent"].get<int>(), n["id"].get<int>());
  }
  return out + "}\n";
}

}  // namespace cella::runtime
