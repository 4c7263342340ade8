// The phases and per-epoch settings of a search plan (schedule.h), and their printout.
#include "compiler/ir/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/ir/ir.h"
#include "compiler/ir/primitives.h"

namespace cella::ir {

double cosine_lr(double lr, double min_lr, std::int64_t epoch, std::int64_t length) {
  if (length <= 0) return lr;
  const double pi = std::acos(-1.0);
  return min_lr + (lr - min_lr) * (1.0 + std::cos(pi * static_cast<double>(epoch) / static_cast<double>(length))) / 2.0;
}

double scheduled_lr(const LrSchedule& schedule, double lr, std::int64_t epoch, std::int64_t length) {
  switch (schedule.kind) {
    case ScheduleKind::Constant: return lr;
    case ScheduleKind::Exponential: return std::max(schedule.min_lr, lr * std::pow(schedule.decay, epoch));
    case ScheduleKind::Cosine: break;
  }
  return cosine_lr(lr, schedule.min_lr, epoch, length);
}

namespace {

// Whether a `none | final | all | first` choice applies to split `level` of `levels`.
bool applies_at(Restart r, std::size_t level, std::size_t levels) {
  return r == Restart::All || (r == Restart::Final && level + 1 == levels) || (r == Restart::First && level == 0);
}

}  // namespace

std::vector<std::vector<int>> split_hierarchies(const Cell& cell) {
  std::vector<std::vector<int>> out;
  for (const auto& h : cell.hierarchies)
    if (std::any_of(h.begin(), h.end(), [&](int e) { return cell.edge(e).candidates.size() >= 2; })) out.push_back(h);
  return out;
}

double shrinking_lr_scale(std::size_t phase) {
  static const double scales[] = {1.0, 1.0, 2.5e-3 / 0.03, 7.5e-3 / 0.03, 2.5e-3 / 0.03, 7.5e-3 / 0.03};
  return phase < 6 ? scales[phase] : 1.0;
}

void Schedule::add(Phase p) {
  if (p.end > p.begin) phases_.push_back(p);
}

Schedule::Schedule(const SearchPlan& plan) {
  const SupernetPlan& sn = plan.supernet;
  const SplitPlan& sp = plan.split;
  lr0_ = sn.optimizer.lr;
  lr_schedule_ = sn.schedule;
  tau_max_ = sn.tau_max;
  tau_min_ = sn.tau_min;
  arch_warmup_ = sn.arch_warmup;
  final_confidence_ = sp.final_confidence;
  confidence_epochs_ = sp.confidence_epochs;
  fresh_length_ = sp.fresh_cosine_epochs;
  const std::int64_t plain = sn.epochs;
  const std::vector<std::int64_t> at = split_points_apply(sp) ? sp.at : std::vector<std::int64_t>{};
  const std::size_t levels = at.size();
  // Only a hierarchical split trains its children in a phase of their own before keeping one.
  const std::int64_t c = sp.strategy == SplitStrategy::Hierarchical ? sp.child_epochs : 0;
  if (sn.method == "progressive_shrinking" && sn.elastic.phases.size() == 6 && levels == 0) {
    // OFA's tasks: each phase a fresh optimizer and a cosine of its own from its learning rate.
    std::int64_t begin = 0;
    for (std::size_t k = 0; k < 6; ++k) {
      const std::int64_t end = begin + sn.elastic.phases[k];
      Phase ph{PhaseKind::Supernet, -1, begin, end, k > 0 && begin > 0};
      ph.lr_scale = shrinking_lr_scale(k);
      ph.shrinking = static_cast<int>(k);
      add(ph);
      begin = end;
    }
  } else {
    add({PhaseKind::Supernet, -1, 0, levels ? at[0] : plain});
  }
  for (std::size_t k = 0; k < levels; ++k) {
    const auto done = static_cast<std::int64_t>(k) * c;  // children's epochs before this split
    const std::int64_t s = at[k] + done;
    bool reinit = applies_at(sp.restart, k, levels);
    bool fresh = reinit || applies_at(sp.fresh_schedule, k, levels);
    split_epochs_.push_back(s);
    children_ends_.push_back(s + c);
    reinit_.push_back(reinit);
    if (c > 0) {
      add({PhaseKind::Children, static_cast<int>(k), s, s + c, fresh, reinit, sp.distill != Distill::None});
      fresh = reinit = false;  // the kept child goes on from its own training
    }
    const bool last = k + 1 == levels;
    const std::int64_t next = (last ? plain : at[k + 1]) + done + c;
    add({last ? PhaseKind::Final : PhaseKind::Between, static_cast<int>(k), s + c, next, fresh, reinit, false});
  }
  total_ = plain + static_cast<std::int64_t>(levels) * c;
  first_length_ = sn.cosine_epochs > 0 ? sn.cosine_epochs : first_fresh();
}

Schedule Schedule::supernet_only(const SearchPlan& plan, std::int64_t epochs) {
  SearchPlan p = plan;
  p.split = SplitPlan{};
  p.supernet.epochs = epochs;
  return Schedule(p);
}

std::int64_t Schedule::split_epoch(std::size_t level) const {
  if (level >= split_epochs_.size()) throw std::out_of_range("Schedule::split_epoch: no such split");
  return split_epochs_[level];
}

std::int64_t Schedule::children_end(std::size_t level) const {
  if (level >= children_ends_.size()) throw std::out_of_range("Schedule::children_end: no such split");
  return children_ends_[level];
}

bool Schedule::reinit(std::size_t level) const {
  if (level >= reinit_.size()) throw std::out_of_range("Schedule::reinit: no such split");
  return reinit_[level];
}

std::int64_t Schedule::first_fresh() const {
  for (const Phase& p : phases_)
    if (p.fresh) return p.begin;
  return total_;
}

const Phase& Schedule::phase_at(std::int64_t epoch) const {
  for (const Phase& p : phases_)
    if (epoch < p.end) return p;
  return phases_.back();
}

Segment Schedule::segment_at(std::int64_t epoch) const {
  std::int64_t begin = 0;
  for (const Phase& p : phases_)
    if (p.fresh && p.begin <= epoch) begin = p.begin;
  if (begin == 0) return {0, first_length_};
  std::int64_t end = total_;
  for (const Phase& p : phases_)
    if (p.fresh && p.begin > begin) {
      end = p.begin;
      break;
    }
  return {begin, fresh_length_ > 0 ? fresh_length_ : end - begin};
}

double Schedule::arch_confidence(std::int64_t epoch) const {
  if (final_confidence_ == 0 || epoch < 0 || epoch >= total_) return 0;
  const Phase& p = phase_at(epoch);
  if (confidence_epochs_ == ConfidenceEpochs::Lineage) return p.kind != PhaseKind::Children ? final_confidence_ : 0;
  return p.kind == PhaseKind::Final && p.level >= 0 ? final_confidence_ : 0;
}

bool Schedule::fresh_at(std::int64_t epoch) const {
  return std::any_of(phases_.begin(), phases_.end(), [&](const Phase& p) { return p.fresh && p.begin == epoch; });
}

double Schedule::lr(std::int64_t epoch) const {
  // A phase that starts at a fraction of the plan's rate (progressive shrinking's) ends at the
  // same fraction of its floor: with the floor absolute, a phase whose start lies below it
  // would see its rate rise (OFA's cosine ends at 0 in every phase).
  const double scale = phases_.empty() ? 1.0 : phase_at(epoch).lr_scale;
  LrSchedule scaled = lr_schedule_;
  scaled.min_lr *= scale;
  Segment s = segment_at(epoch);
  return scheduled_lr(scaled, lr0_ * scale, epoch - s.begin, s.length);
}

double Schedule::tau(std::int64_t epoch) const {
  Segment s = segment_at(epoch);
  if (s.length <= 1) return tau_min_;
  double x = std::min(1.0, static_cast<double>(epoch - s.begin) / static_cast<double>(s.length - 1));
  return tau_max_ - (tau_max_ - tau_min_) * x;
}

// --- the printout ------------------------------------------------------------------------------

namespace {

std::string plural(std::int64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// What trains in each phase of the plan's strategy, for the printout: how many sub-supernets
// there are at each split level (at most: a child that holds no architecture is left out).
class Trainees {
 public:
  Trainees(const Program& program, const SearchPlan& plan) : plan_(plan) {
    const SplitPlan& sp = plan.split;
    for (const Cell& c : program.cells)
      if (c.props().name == sp.cell) cell_ = &c;
    if (!cell_) return;
    if (sp.strategy == SplitStrategy::Hierarchical)
      for (const auto& h : split_hierarchies(*cell_)) {
        int edges = 0;
        for (int e : h) edges += cell_->edge(e).candidates.size() >= 2;
        hierarchies_.push_back({h, edges});
      }
  }

  std::string operator()(const Phase& p) const {
    const SplitPlan& sp = plan_.split;
    if (p.kind == PhaseKind::Supernet) return "the supernet";
    const auto k = static_cast<std::size_t>(p.level);
    switch (sp.strategy) {
      case SplitStrategy::None: return "the supernet";
      case SplitStrategy::Plugin: return fmt::format("the sub-supernets of split strategy '{}'", sp.plugin);
      case SplitStrategy::Hierarchical: {
        if (p.kind != PhaseKind::Children) return "the kept sub-supernet";
        if (k >= hierarchies_.size()) return "children";
        const auto& [edges, splittable] = hierarchies_[k];
        const std::int64_t n = std::int64_t{1} << splittable;
        return fmt::format("up to {} children (hierarchy into node {}: {}), one epoch each in turn", n,
                           node_name(edges), plural(splittable, "edge cut in two", "edges cut in two"));
      }
      case SplitStrategy::Exhaustive: {
        std::int64_t n = 1;
        for (std::size_t j = 0; j <= k && j < sp.edges.size(); ++j)
          n *= static_cast<std::int64_t>(cell_ ? cell_->edge(sp.edges[j]).candidates.size() : 1);
        return fmt::format("up to {} sub-supernets", n);
      }
      case SplitStrategy::GradientMatch: {
        std::int64_t n = 1;
        for (std::size_t j = 0; j <= k; ++j) n *= sp.branches;
        return fmt::format("up to {} sub-supernets", n);
      }
    }
    return "";
  }

 private:
  std::string node_name(const std::vector<int>& edges) const {
    return edges.empty() || !cell_
               ? "?"
               : cell_->edge_name(edges.front()).substr(0, cell_->edge_name(edges.front()).find("<-"));
  }

  const SearchPlan& plan_;
  const Cell* cell_ = nullptr;
  std::vector<std::pair<std::vector<int>, int>> hierarchies_;  ///< edges, how many of them have a choice
};

std::string phase_name(const Phase& p) {
  static const char* const shrinking[] = {"full network",    "elastic kernel",   "elastic depth 1",
                                          "elastic depth 2", "elastic expand 1", "elastic expand 2"};
  if (p.shrinking >= 0 && p.shrinking < 6) return shrinking[p.shrinking];
  switch (p.kind) {
    case PhaseKind::Supernet: return "supernet";
    case PhaseKind::Children: return fmt::format("split {}: children", p.level + 1);
    case PhaseKind::Between: return fmt::format("after split {}", p.level + 1);
    case PhaseKind::Final: return p.level < 0 ? "supernet" : fmt::format("after split {} (last)", p.level + 1);
  }
  return "";
}

}  // namespace

std::string schedule_text(const Program& program) { return schedule_text(program, plan_of(program)); }

std::string schedule_text(const Program& program, const SearchPlan& plan) {
  const Schedule s(plan);
  const SupernetPlan& sn = plan.supernet;
  const bool weights = is_weights_method(sn.method);
  std::string out =
      fmt::format("search '{}': split {}, {} {}; learning rate {} from {}{}\n", plan.name, strategy_word(plan.split),
                  weights ? "weights" : "sampler", sn.method, name_of(sn.schedule.kind), sn.optimizer.lr,
                  sn.schedule.kind == ScheduleKind::Cosine ? fmt::format(" to {}", sn.schedule.min_lr)
                  : sn.schedule.kind == ScheduleKind::Exponential
                      ? fmt::format(" times {} per epoch, down to {}", sn.schedule.decay, sn.schedule.min_lr)
                      : "");
  out += fmt::format("{} per lineage (root to leaf)", plural(s.total(), "epoch", "epochs"));
  if (sn.schedule.kind == ScheduleKind::Cosine) {
    Segment first = s.segment_at(0);
    out += fmt::format("; the first cosine spans {}", plural(first.length, "epoch", "epochs"));
    if (first.length < s.first_fresh())
      out += fmt::format(
          ", and the learning rate rises again after epoch {} (as PyTorch's CosineAnnealingLR past its end)",
          first.length);
  }
  if (plan.split.fresh_cosine_epochs > 0)
    out += fmt::format("; a fresh cosine spans {}", plural(plan.split.fresh_cosine_epochs, "epoch", "epochs"));
  if (weights && plan.split.final_confidence > 0)
    out += fmt::format("; arch on+c: the architecture loss adds the confidence term (weight {})",
                       plan.split.final_confidence);
  out += "\n\n";
  const Trainees trainees(program, plan);
  out += fmt::format("{:>5}  {:<24} {:>9}  {:<4} {:<7} {}\n", "epoch", "phase", "lr", "arch", "distill", "trains");
  for (const Phase& p : s.phases()) {
    if (p.fresh || p.reinit)
      out += fmt::format("{:>5}  {}\n", "",
                         p.reinit ? "-- fresh weights, optimizer state and cosine"
                                  : "-- fresh optimizer state and cosine, inherited weights");
    for (std::int64_t e = p.begin; e < p.end; ++e) {
      const char* arch = !weights ? "-" : !s.arch_steps(e) ? "off" : s.arch_confidence(e) > 0 ? "on+c" : "on";
      std::string distill = p.distill ? std::string(name_of(plan.split.distill)) : "-";
      out += fmt::format("{:>5}  {:<24} {:>9.6f}  {:<4} {:<7} {}\n", e + 1, phase_name(p), s.lr(e), arch, distill,
                         e == p.begin ? trainees(p) : "\"");
    }
  }
  return out;
}

}  // namespace cella::ir
