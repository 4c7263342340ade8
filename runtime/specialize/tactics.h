// The search tactics of a hardware-aware specialisation (DyNAS-T, algorithms-wave2.md section 4):
// random sampling, regularized (aging) evolution, NSGA-II on validated measurements, and LINAS
// (NSGA-II on predictors between batches of validations). Each proposes architectures as
// genomes (compiler/ir/genome.h); a History validates them once each through the Evaluator and
// keeps them in order. The budget counts distinct validated architectures: a repeated proposal
// costs nothing (DyNAS-T re-validates them, trap 2 of section 4.5).
//
// Resuming: a History can be seeded with the evaluations of a killed run. Tactics are
// deterministic given their seed and the measures they receive, so rerunning one proposes the
// same architectures in the same order; those already measured are taken from the seed instead of
// being measured again, and the run continues exactly where it stopped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/genome.h"
#include "compiler/ir/ir.h"
#include "compiler/ir/plan.h"
#include "runtime/specialize/objectives.h"

namespace cella::specialize {

/// The tactics, as a plan's `specialize { tactic ... }` names them.
using Tactic = ir::SpecializeTactic;
const char* tactic_name(Tactic t);
std::optional<Tactic> tactic_named(std::string_view name);

/// The defaults are ir::SpecializePlan's (DyNAS-T's).
struct TacticOptions {
  Tactic tactic = Tactic::Linas;
  int budget = 250;      ///< distinct architectures to validate (DyNAS-T's CLI default)
  int population = 50;   ///< DyNAS-T's; NSGA-II runs pagmo's with the next multiple of 4
  int sample_size = 10;  ///< regularized evolution's tournament
  /// LINAS: evaluations of the predictors per inner NSGA-II run (generations = this / population;
  /// DyNAS-T uses 20,000 for OFA MobileNetV3, 5,000 for OFA ResNet-50: ir::SpecializePlan)
  int inner_evaluations = 5000;
  /// How random architectures are drawn: each gene uniformly (DyNAS-T) or uniformly over the
  /// space's architectures.
  ir::SpecializeInitial initial = ir::SpecializeInitial::Genes;
  std::uint64_t seed = 0;
};

/// Validated architectures in validation order, with the cache that makes repeats free.
class History {
 public:
  /// `genome` says what the genomes leave out (a resolution fixed for every architecture).
  History(const ir::Program& program, Evaluator& evaluator, Goal goal, ir::GenomeOptions genome = {});

  /// Evaluations of an earlier run of the same search, given back instead of measuring again.
  void seed_with(const std::vector<Evaluation>& earlier);
  /// Called once for each newly validated architecture (not for repeats), for the run's files.
  void on_new(std::function<void(const Evaluation&)> fn) { on_new_ = std::move(fn); }

  /// The evaluation of the genome's architecture, validated now if it was not before; nullopt
  /// for a genome outside the space (a broken constraint) and, when `limit` new validations have
  /// been made, for an architecture not validated yet.
  std::optional<Evaluation> validate(const std::vector<int>& genome, int limit);
  /// Whether the architecture (its text form) has been validated in this run.
  bool validated(const std::string& arch) const;
  /// The exact metrics of a genome (no validation), for predictors' inner loops.
  Measures exact(const std::vector<int>& genome);

  const std::vector<Evaluation>& evaluations() const { return done_; }
  int size() const { return static_cast<int>(done_.size()); }
  /// How many evaluations came from the seed (a resumed run).
  int replayed() const { return replayed_; }
  const Goal& goal() const { return goal_; }
  const ir::Program& program() const { return program_; }
  const std::vector<int>& cardinalities() const { return cardinalities_; }
  /// The genome forms of this search (compiler/ir/genome.h with its options).
  std::vector<int> encode(const ir::Arch& arch) const { return ir::encode(program_, arch, genome_); }
  ir::Arch decode(const std::vector<int>& genome) const { return ir::decode(program_, genome, genome_); }
  std::optional<ir::Arch> decode_valid(const std::vector<int>& genome) const {
    return ir::decode_valid(program_, genome, genome_);
  }

  /// The minimisation vector of an evaluation, with infeasible ones pushed behind every
  /// feasible one (ordered by how far they are outside the constraints).
  std::vector<double> penalized(const Measures& m) const;

 private:
  const ir::Program& program_;
  Evaluator& evaluator_;
  Goal goal_;
  ir::GenomeOptions genome_;
  std::vector<int> cardinalities_;
  std::vector<Evaluation> done_;
  std::map<std::string, int> index_;  // arch text -> position in done_
  std::map<std::string, Evaluation> seed_;
  std::map<std::string, Measures> exact_;  // arch text -> exact metrics, for the inner loops
  int replayed_ = 0;
  std::function<void(const Evaluation&)> on_new_;
};

/// What LINAS reports after each batch: the predictors it fitted.
struct BatchNote {
  int validated = 0;                    ///< evaluations so far
  std::vector<std::string> predictors;  ///< "accuracy: svr(C=12), cv MAPE 1.3%"
};

/// Runs the tactic until the budget is spent (or the space is exhausted).
void run_tactic(History& history, const TacticOptions& options,
                const std::function<void(const BatchNote&)>& on_batch = {});

}  // namespace cella::specialize
