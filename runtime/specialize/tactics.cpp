// Random search, regularized evolution, NSGA-II and LINAS over a space's genomes. pagmo2 runs
// NSGA-II with DyNAS-T's operators as pymoo applies them: genes relaxed to real numbers and
// rounded (pymoo's RoundingRepair), SBX crossover (p 0.9, eta 15) and polynomial mutation (eta
// 20) of 0.02 genes per offspring on average (pymoo's PM(prob=0.02) mutates 2 % of the offspring,
// each gene of those with probability 1/genes: pagmo's per-gene probability 0.02/genes), first
// populations drawn gene by gene (pymoo's IntegerRandomSampling); it picks each LINAS batch from
// the inner population.
#include "runtime/specialize/tactics.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>
#include <pagmo/utils/multi_objective.hpp>
#include <random>
#include <set>

#include "compiler/ir/genome.h"
#include "compiler/ir/subspace.h"
#include "runtime/specialize/pareto.h"
#include "runtime/specialize/predictor.h"

namespace cella::specialize {
namespace {

// Where the infeasible go: behind every feasible point in every objective.
constexpr double kInfeasible = 1e30;
// Tactics give up after this many proposals per budgeted evaluation (a small space whose
// architectures have all been validated).
constexpr int kProposalsPerEvaluation = 100;

struct BudgetSpent {};

int nsga2_population(int population) { return std::max(8, (population + 3) / 4 * 4); }

// A random architecture's genome: each gene drawn uniformly, as DyNAS-T samples (drawn again while
// it breaks a constraint, at most 100 times), or uniformly among the space's architectures.
std::vector<int> random_genome(const History& h, ir::SpecializeInitial initial, std::mt19937_64& rng) {
  if (initial == ir::SpecializeInitial::Genes)
    for (int tries = 0; tries < 100; ++tries) {
      std::vector<int> g;
      for (int c : h.cardinalities()) g.push_back(std::uniform_int_distribution<int>(0, c - 1)(rng));
      if (auto arch = h.decode_valid(g)) return h.encode(*arch);
    }
  return h.encode(ir::sample(h.program(), rng));
}

// DyNAS-T's mutation rate (pymoo's PM(prob=0.02)) as pagmo's per-gene probability: 0.02 genes
// per offspring on average.
double mutation_probability(const History& h) {
  return 0.02 / static_cast<double>(std::max<std::size_t>(1, h.cardinalities().size()));
}

// A first NSGA-II population of `size`, drawn gene by gene; pagmo's own would draw real numbers
// uniformly, whose rounding gives a gene's first and last values half the chance of the others.
pagmo::population first_population(const pagmo::problem& problem, const History& h, int size,
                                   ir::SpecializeInitial initial, unsigned seed) {
  pagmo::population pop{problem, 0u, seed};
  std::mt19937_64 rng(seed);
  for (int i = 0; i < size; ++i) {
    const std::vector<int> g = random_genome(h, initial, rng);
    pop.push_back(pagmo::vector_double(g.begin(), g.end()));
  }
  return pop;
}

// Real et al.'s mutation: one gene, to another of its values.
std::vector<int> mutate(const std::vector<int>& genome, const std::vector<int>& cards, std::mt19937_64& rng) {
  std::vector<int> child = genome;
  if (child.empty()) return child;
  const std::size_t g = std::uniform_int_distribution<std::size_t>(0, child.size() - 1)(rng);
  const int other = std::uniform_int_distribution<int>(0, cards[g] - 2)(rng);
  child[g] = other >= genome[g] ? other + 1 : other;
  return child;
}

std::vector<int> genome_of(const pagmo::vector_double& x) {
  std::vector<int> g;
  for (double v : x) g.push_back(static_cast<int>(std::lround(v)));
  return g;
}

std::pair<pagmo::vector_double, pagmo::vector_double> bounds_of(const std::vector<int>& cards) {
  pagmo::vector_double lo(cards.size(), 0), hi;
  for (int c : cards) hi.push_back(c - 1);
  return {lo, hi};
}

// pagmo needs two objectives at least: a single one is paired with a constant.
pagmo::vector_double for_pagmo(std::vector<double> f) {
  if (f.size() == 1) f.push_back(0);
  return f;
}

// What pagmo's problems over genomes share: integer genes within their cardinalities, and at
// least two objectives (a single one is paired with a constant, for_pagmo).
struct GenomeProblem {
  History* history = nullptr;
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const {
    return bounds_of(history->cardinalities());
  }
  pagmo::vector_double::size_type get_nobj() const {
    return std::max<std::size_t>(history->goal().objectives.size(), 2);
  }
  // Genes are real numbers to pagmo, rounded by genome_of: pagmo's SBX and polynomial mutation
  // apply to real genes only (its integer genes get two-point crossover and uniform mutation,
  // and ignore eta), and pymoo, which DyNAS-T runs, relaxes and rounds them too.
  pagmo::vector_double::size_type get_nix() const { return 0; }
  /// The fitness of a genome outside the space: behind every infeasible architecture too.
  pagmo::vector_double outside() const { return pagmo::vector_double(get_nobj(), 2 * kInfeasible); }
};

// NSGA-II's problem on validated measurements: every new architecture is a budgeted validation.
struct ValidatedProblem : GenomeProblem {
  int budget = 0;
  pagmo::vector_double fitness(const pagmo::vector_double& x) const {
    auto e = history->validate(genome_of(x), budget);
    if (!e) {
      if (history->decode_valid(genome_of(x))) throw BudgetSpent{};
      return outside();
    }
    return for_pagmo(history->penalized(e->measures));
  }
};

// LINAS's inner problem: exact metrics computed, the others predicted; nothing is validated.
struct PredictedProblem : GenomeProblem {
  const std::map<Metric, Predictor>* predictors = nullptr;
  pagmo::vector_double fitness(const pagmo::vector_double& x) const {
    std::vector<int> g = genome_of(x);
    auto arch = history->decode_valid(g);
    if (!arch) return outside();
    Measures m = history->exact(g);
    std::vector<int> canonical = history->encode(*arch);
    for (const auto& [metric, p] : *predictors) m[metric] = p.predict(one_hot(canonical, history->cardinalities()));
    return for_pagmo(history->penalized(m));
  }
};

void random_search(History& h, const TacticOptions& o) {
  std::mt19937_64 rng(o.seed);
  for (long tries = 0; h.size() < o.budget && tries < static_cast<long>(kProposalsPerEvaluation) * o.budget; ++tries)
    h.validate(random_genome(h, o.initial, rng), o.budget);
}

// Real et al. (2019): a population of P, tournaments of S, the best of the tournament mutated,
// the oldest member removed. With several objectives the tournament's best is its first member
// of lowest non-domination rank.
void regularized_evolution(History& h, const TacticOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::deque<Evaluation> population;
  long tries = 0;
  const long max_tries = static_cast<long>(kProposalsPerEvaluation) * o.budget;
  while (static_cast<int>(population.size()) < o.population && h.size() < o.budget && tries++ < max_tries)
    if (auto e = h.validate(random_genome(h, o.initial, rng), o.budget)) population.push_back(*e);
  while (h.size() < o.budget && tries++ < max_tries && !population.empty()) {
    std::vector<std::size_t> picks(population.size());
    for (std::size_t i = 0; i < picks.size(); ++i) picks[i] = i;
    std::shuffle(picks.begin(), picks.end(), rng);
    picks.resize(std::min<std::size_t>(picks.size(), static_cast<std::size_t>(o.sample_size)));
    std::vector<Point> points;
    for (std::size_t i : picks) points.push_back(h.penalized(population[i].measures));
    std::vector<std::size_t> rank = pareto_ranks(points);
    std::size_t best = 0;
    for (std::size_t k = 1; k < picks.size(); ++k)
      if (rank[k] < rank[best]) best = k;
    auto child = h.validate(mutate(population[picks[best]].genome, h.cardinalities(), rng), o.budget);
    if (!child) continue;
    population.push_back(*child);
    population.pop_front();
  }
}

void nsga2_search(History& h, const TacticOptions& o) {
  pagmo::problem problem{ValidatedProblem{{&h}, o.budget}};
  try {
    pagmo::population pop =
        first_population(problem, h, nsga2_population(o.population), o.initial, static_cast<unsigned>(o.seed));
    pagmo::nsga2 algorithm{1, 0.9, 15., mutation_probability(h), 20., static_cast<unsigned>(o.seed)};
    const long generations = static_cast<long>(kProposalsPerEvaluation) * o.budget / nsga2_population(o.population);
    for (long g = 0; g < generations && h.size() < o.budget; ++g) pop = algorithm.evolve(pop);
  } catch (const BudgetSpent&) {}
}

// The next LINAS batch: the inner population's best by non-domination rank, then crowding
// distance, leaving out architectures validated before (DyNAS-T validates the inner population as
// it is, repeats included; here a repeat would cost nothing and teach nothing, and a run could
// stall on a population it has seen). When the predicted front has been validated already, the
// batch is filled with random architectures not validated yet: exploration.
std::vector<std::vector<int>> next_batch(const History& h, const pagmo::population& pop, int size,
                                         ir::SpecializeInitial initial, std::mt19937_64& rng) {
  const std::vector<pagmo::vector_double> f = pop.get_f();
  std::vector<std::vector<int>> batch;
  std::set<std::string> chosen;
  auto take = [&](const std::vector<int>& g) {
    auto arch = h.decode_valid(g);
    if (!arch) return;
    std::string key = ir::to_text(h.program(), *arch);
    if (h.validated(key) || !chosen.insert(key).second) return;
    batch.push_back(g);
  };
  const auto sorted = pagmo::fast_non_dominated_sorting(f);  // kept: the loop reads its fronts
  for (const std::vector<pagmo::pop_size_t>& front : std::get<0>(sorted)) {
    std::vector<pagmo::pop_size_t> order = front;
    if (front.size() > 1) {
      std::vector<pagmo::vector_double> points;
      for (auto i : front) points.push_back(f[i]);
      std::vector<double> crowding = pagmo::crowding_distance(points);
      std::vector<std::size_t> by(front.size());
      for (std::size_t k = 0; k < by.size(); ++k) by[k] = k;
      std::stable_sort(by.begin(), by.end(), [&](std::size_t a, std::size_t b) { return crowding[a] > crowding[b]; });
      for (std::size_t k = 0; k < by.size(); ++k) order[k] = front[by[k]];
    }
    for (auto i : order)
      if (static_cast<int>(batch.size()) < size) take(genome_of(pop.get_x()[i]));
  }
  for (int tries = 0; static_cast<int>(batch.size()) < size && tries < kProposalsPerEvaluation * size; ++tries)
    take(random_genome(h, initial, rng));
  return batch;
}

void linas(History& h, const TacticOptions& o, const std::function<void(const BatchNote&)>& on_batch) {
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> batch;
  for (int i = 0; i < o.population; ++i) batch.push_back(random_genome(h, o.initial, rng));
  const int inner_population = nsga2_population(o.population);
  const unsigned generations = static_cast<unsigned>(std::max(1, o.inner_evaluations / inner_population));
  for (int loop = 0; h.size() < o.budget && loop < kProposalsPerEvaluation * o.budget / o.population + 1; ++loop) {
    for (const auto& g : batch) h.validate(g, o.budget);
    if (h.size() >= o.budget || h.size() < 2) {
      if (h.size() >= o.budget) break;
      for (auto& g : batch) g = random_genome(h, o.initial, rng);
      continue;
    }
    // One predictor per measured (not exact) metric, on everything validated so far.
    std::map<Metric, Predictor> predictors;
    BatchNote note{h.size(), {}};
    for (Metric m : h.goal().needed()) {
      if (info(m).exact) continue;
      std::vector<std::vector<double>> x;
      std::vector<double> y;
      for (const Evaluation& e : h.evaluations()) {
        // A score of -inf (NASWOT of a network that ignores its input) is no target to fit.
        if (!std::isfinite(e.measures[m])) continue;
        x.push_back(one_hot(e.genome, h.cardinalities()));
        y.push_back(e.measures[m]);
      }
      if (y.size() < 2) continue;
      predictors[m].fit(x, y);
      note.predictors.push_back(fmt::format("{}: {}, cross-validated MAPE {:.2f}%", info(m).name,
                                            predictors[m].describe(), predictors[m].cv_mape()));
    }
    if (on_batch) on_batch(note);
    const unsigned seed = static_cast<unsigned>(o.seed + 1000003ull * static_cast<unsigned>(loop + 1));
    pagmo::problem inner{PredictedProblem{{&h}, &predictors}};
    pagmo::population pop = first_population(inner, h, inner_population, o.initial, seed);
    pagmo::nsga2 algorithm{generations, 0.9, 15., mutation_probability(h), 20., seed};
    pop = algorithm.evolve(pop);
    batch = next_batch(h, pop, o.population, o.initial, rng);
  }
}

}  // namespace

const char* tactic_name(Tactic t) { return ir::plan_words<Tactic>()[static_cast<std::size_t>(t)].data(); }

std::optional<Tactic> tactic_named(std::string_view name) { return ir::plan_value<Tactic>(name); }

History::History(const ir::Program& program, Evaluator& evaluator, Goal goal, ir::GenomeOptions genome)
    : program_(program), evaluator_(evaluator), goal_(std::move(goal)), genome_(genome) {
  for (const ir::Gene& g : ir::genes(program, genome_)) cardinalities_.push_back(g.cardinality);
}

void History::seed_with(const std::vector<Evaluation>& earlier) {
  for (const Evaluation& e : earlier) seed_[e.arch] = e;
}

std::optional<Evaluation> History::validate(const std::vector<int>& genome, int limit) {
  auto arch = decode_valid(genome);
  if (!arch) return std::nullopt;
  std::string key = ir::to_text(program_, *arch);
  if (auto it = index_.find(key); it != index_.end()) return done_[it->second];
  if (size() >= limit) return std::nullopt;
  Evaluation e;
  const auto seeded = seed_.find(key);
  if (seeded != seed_.end()) {
    e = seeded->second;
    ++replayed_;
  } else {
    e.measures = evaluator_.measure(*arch);
  }
  e.index = size();
  e.genome = encode(*arch);
  e.arch = key;
  e.feasible = goal_.violation(e.measures) == 0;
  index_[key] = e.index;
  done_.push_back(e);
  if (seeded == seed_.end() && on_new_) on_new_(done_.back());
  return done_.back();
}

bool History::validated(const std::string& arch) const { return index_.count(arch) > 0; }

Measures History::exact(const std::vector<int>& genome) {
  ir::Arch arch = decode(genome);
  std::string key = ir::to_text(program_, arch);
  auto it = exact_.find(key);
  if (it == exact_.end()) it = exact_.emplace(key, evaluator_.exact(arch)).first;
  return it->second;
}

std::vector<double> History::penalized(const Measures& m) const {
  const double v = goal_.violation(m);
  if (v > 0) return std::vector<double>(goal_.objectives.size(), kInfeasible * (1 + v));
  return goal_.minimized(m);
}

void run_tactic(History& history, const TacticOptions& options, const std::function<void(const BatchNote&)>& on_batch) {
  switch (options.tactic) {
    case Tactic::Random: random_search(history, options); break;
    case Tactic::Evolution: regularized_evolution(history, options); break;
    case Tactic::Nsga2: nsga2_search(history, options); break;
    case Tactic::Linas: linas(history, options, on_batch); break;
  }
}

}  // namespace cella::specialize
