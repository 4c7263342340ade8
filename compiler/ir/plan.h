// The search plan: how the supernet is trained, split and retrained (`search NAME on NET { ... }`).
//
// Every setting a plan can take is a row of plan.def (key, type, range, the strategies it
// applies to, its documentation); the plan reader, `--set`, the applicability check and
// `cella settings` (which writes the table in docs/language.md) all read that table. The
// defaults are the member initializers below. Word-valued settings are enums whose words
// plan_words<E>() spells once, for the reader, the IR dump and the runtime alike.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/diag/source.h"

namespace cella::ir {

/// Cosine to min_lr, constant, or exponential decay down to a floor (BigNAS's "exponentially
/// decaying with constant ending").
enum class ScheduleKind { Cosine, Constant, Exponential };
enum class PathMode { Network, Cell };         ///< path sampling: one path per network or per cell
enum class GmVariant { Nb201, Darts };         ///< gradient matching: min cut + one-hot, or min intra + θ
enum class Selection { ValidAcc, ValidLoss };  ///< what picks the kept sub-supernet
enum class Distill { Smd, Parent, Mutual, None };
/// How the children of a hierarchical split take their round-robin epochs: in turn, each against
/// its siblings as they are (some a round further), or all against the siblings as the round
/// found them (which lets them train on different processes at once).
enum class Rounds { Sequential, Simultaneous };
enum class Restart { None, Final, All, First };  ///< at which split points a restart applies
/// How the drop-path probability of a retraining grows (runtime/train/trainer.h, drop_path_probability).
enum class DropPathSchedule { Epoch, StepAndDepth };
/// ProxylessNAS's binary gates: one sampled path (its `full_v2` mode) or two (`two`).
enum class BinaryGates { One, Two };
/// Where the expected-latency term's table comes from: none (no term), timings of every
/// candidate measured on this machine, or multiply-accumulates.
enum class LatencySource { None, Measured, Macs };
/// How `cella specialize` searches (runtime/specialize/tactics.h).
enum class SpecializeTactic { Random, Evolution, Nsga2, Linas };
/// How `cella specialize` draws random architectures (first populations, LINAS's first batch and
/// top-ups): every gene uniformly (DyNAS-T), or uniformly over the space's architectures.
enum class SpecializeInitial { Genes, Architectures };
/// When `split.final_confidence` applies: after the last split point, or in every epoch outside a
/// hierarchical split's children (HEP-NAS's DARTS code: whenever `cur_model_id == -1`).
enum class ConfidenceEpochs { Final, Lineage };
/// The built-in split strategies; `Plugin` is one a plugin added (SplitPlan::plugin names it).
enum class SplitStrategy { None, Exhaustive, GradientMatch, Hierarchical, Plugin };

inline constexpr std::array<std::string_view, 3> kScheduleKindWords{"cosine", "constant", "exponential"};
inline constexpr std::array<std::string_view, 2> kPathModeWords{"network", "cell"};
inline constexpr std::array<std::string_view, 2> kGmVariantWords{"nb201", "darts"};
inline constexpr std::array<std::string_view, 2> kSelectionWords{"valid_acc", "valid_loss"};
inline constexpr std::array<std::string_view, 2> kDropPathScheduleWords{"epoch", "step_and_depth"};
inline constexpr std::array<std::string_view, 2> kBinaryGatesWords{"one", "two"};
inline constexpr std::array<std::string_view, 3> kLatencySourceWords{"none", "measured", "macs"};
inline constexpr std::array<std::string_view, 4> kDistillWords{"smd", "parent", "mutual", "none"};
inline constexpr std::array<std::string_view, 2> kRoundsWords{"sequential", "simultaneous"};
inline constexpr std::array<std::string_view, 4> kRestartWords{"none", "final", "all", "first"};
inline constexpr std::array<std::string_view, 4> kSpecializeTacticWords{"random", "evolution", "nsga2", "linas"};
inline constexpr std::array<std::string_view, 2> kSpecializeInitialWords{"genes", "architectures"};
inline constexpr std::array<std::string_view, 2> kConfidenceEpochsWords{"final", "lineage"};
/// The plan word of each split strategy (`split NAME`): the one spelling the compiler, the IR
/// dump and the runtime's tree.json use.
inline constexpr std::array<std::string_view, 5> kSplitStrategyWords{"none", "exhaustive", "gradient_match",
                                                                     "hierarchical", "plugin"};

// One overload per enum (its argument only picks the overload), so that each enum's words are
// found by plan_words<E>() below.
constexpr std::span<const std::string_view> words_of(ScheduleKind) { return kScheduleKindWords; }
constexpr std::span<const std::string_view> words_of(PathMode) { return kPathModeWords; }
constexpr std::span<const std::string_view> words_of(GmVariant) { return kGmVariantWords; }
constexpr std::span<const std::string_view> words_of(Selection) { return kSelectionWords; }
constexpr std::span<const std::string_view> words_of(DropPathSchedule) { return kDropPathScheduleWords; }
constexpr std::span<const std::string_view> words_of(BinaryGates) { return kBinaryGatesWords; }
constexpr std::span<const std::string_view> words_of(LatencySource) { return kLatencySourceWords; }
constexpr std::span<const std::string_view> words_of(Distill) { return kDistillWords; }
constexpr std::span<const std::string_view> words_of(Rounds) { return kRoundsWords; }
constexpr std::span<const std::string_view> words_of(Restart) { return kRestartWords; }
constexpr std::span<const std::string_view> words_of(SplitStrategy) { return kSplitStrategyWords; }
constexpr std::span<const std::string_view> words_of(SpecializeTactic) { return kSpecializeTacticWords; }
constexpr std::span<const std::string_view> words_of(SpecializeInitial) { return kSpecializeInitialWords; }
constexpr std::span<const std::string_view> words_of(ConfidenceEpochs) { return kConfidenceEpochsWords; }

/// The plan words of enum E, in enumerator order.
template <class E>
constexpr std::span<const std::string_view> plan_words() {
  return words_of(E{});
}
/// The word of a plan enum's value.
template <class E>
constexpr std::string_view name_of(E value) {
  return plan_words<E>()[static_cast<std::size_t>(value)];
}
/// The value a word names, or nullopt.
template <class E>
constexpr std::optional<E> plan_value(std::string_view word) {
  const auto words = plan_words<E>();
  for (std::size_t i = 0; i < words.size(); ++i)
    if (words[i] == word) return static_cast<E>(i);
  return std::nullopt;
}

struct Optimizer {
  std::string kind = "sgd";
  double lr = 0.025;
  double momentum = 0.9;
  double weight_decay = 3e-4;
  bool nesterov = false;
};

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Cosine;
  double min_lr = 0.001;  ///< where a cosine ends; an exponential decay's floor
  double decay = 0.97;    ///< exponential: the learning rate's factor per epoch
};

struct ArchOptimizer {
  double lr = 3e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  double weight_decay = 1e-3;
  bool unrolled = false;                        ///< DARTS' second-order gradient (cnn/architect.py `--unrolled`)
  std::int64_t every = 1;                       ///< an architecture step every this many weight steps (ProxylessNAS: 5)
  BinaryGates binary_gates = BinaryGates::One;  ///< ProxylessNAS only
};

/// The expected-latency term of the architecture loss, λ·(E[LAT] − ref)/ref (ProxylessNAS's
/// `add#linear`), with E[LAT] the latency table weighted by the architecture weights.
struct LatencyPlan {
  LatencySource source = LatencySource::None;
  double weight = 0.1;  ///< λ
  double ref = 0;       ///< in the table's unit; 0: E[LAT] of the whole space under uniform weights
};

/// How the weight-sharing supernet is trained.
/// The elastic supernets' training methods (`sampler sandwich`, `sampler progressive_shrinking`;
/// docs/runtime.md, "Elastic supernets").
struct ElasticPlan {
  std::int64_t children = 2;     ///< random children per sandwich step besides the two ends
  double label_smoothing = 0.1;  ///< of the hard-label cross-entropy
  double clip_value = 1.0;       ///< sandwich: gradient values clipped to ±this (0: off)
  double kd_ratio = 1.0;         ///< progressive shrinking: weight of the distillation from the full network
  /// Sandwich: the children learn from the largest child's logits (BigNAS); off, from the labels
  /// (the ablation).
  bool inplace_distillation = true;
  /// Sandwich: γ = 0 in the project batch norm of every residual block at the start (BigNAS).
  bool zero_init_residual = true;
  /// Sandwich: BigNAS's drop-connect on the largest child, the rate of the last block (0: off).
  double drop_connect = 0;
  /// Progressive shrinking: epochs of its six phases (full, kernel, depth 1, depth 2, expand 1,
  /// expand 2), which add up to supernet.epochs.
  std::vector<std::int64_t> phases;
};

/// The initial learning rate of progressive shrinking's phase `phase` (0-5) as a fraction of the
/// plan's: OFA's per-task learning rates relative to the elastic-kernel task's (kernel 0.03, depth
/// 2.5e-3 then 7.5e-3, expand 2.5e-3 then 7.5e-3; the full network's own training, 1).
double shrinking_lr_scale(std::size_t phase);

struct SupernetPlan {
  std::int64_t epochs = 50;
  std::int64_t batch = 64;
  Optimizer optimizer;
  LrSchedule schedule;
  double clip = 5.0;
  /// uniform (RSPS/SPOS path sampling), sandwich (BigNAS), darts (first-order), gdas or snas
  /// (Gumbel-softmax), proxyless.
  std::string method = "uniform";
  /// Path sampling only: one path for the whole network, or one per cell.
  PathMode path = PathMode::Network;
  double tau_max = 10.0, tau_min = 0.1;
  ArchOptimizer arch;
  LatencyPlan latency;
  ElasticPlan elastic;
  std::int64_t arch_warmup = 0;  ///< lineage epochs before the architecture weights start to learn
  /// Epochs the first cosine spans (0: up to the first fresh start or the lineage's end);
  /// schedule.h says how phases use it.
  std::int64_t cosine_epochs = 0;
  diag::SourceRange range;
};

/// How the supernet is split into sub-supernets.
struct SplitPlan {
  SplitStrategy strategy = SplitStrategy::None;
  std::string plugin;                     ///< the plugin strategy's name when `strategy` is Plugin
  std::vector<std::int64_t> at;           ///< split points on the plain timeline of supernet.epochs
  std::string cell;                       ///< the cell type whose edges are split
  std::vector<int> edges;                 ///< exhaustive: the edges to split, in order (empty: first edge)
  std::int64_t batches = 100;             ///< gradient-matching minibatches per score
  std::int64_t branches = 2;              ///< groups per split
  std::vector<std::int64_t> group_sizes;  ///< allowed sizes of a partition group (empty: any); plan word `groups`
  GmVariant variant = GmVariant::Nb201;
  std::string criterion = "gradient_match";
  std::int64_t child_epochs = 10;  ///< hierarchical: epochs each child of a split trains before one is kept
  Selection select = Selection::ValidAcc;
  std::int64_t select_images = 0;  ///< validation images a sub-supernet is judged on (0: all)
  /// Path sampling: distinct architectures drawn to judge a sub-supernet by, each tried on
  /// `select_sample_images` validation images (0: all) before the best is judged.
  std::int64_t select_samples = 10;
  std::int64_t select_sample_images = 1000;
  Distill distill = Distill::None;
  Rounds rounds = Rounds::Sequential;      ///< hierarchical: how the children's round-robin epochs see each other
  Restart restart = Restart::None;         ///< children start from fresh weights (and a fresh schedule)
  Restart fresh_schedule = Restart::None;  ///< children keep their weights but restart the schedule
  /// Weight of the confidence term on the architecture weights (HEP-NAS's DARTS code: 1), in the
  /// epochs `confidence_epochs` says.
  double final_confidence = 0;
  ConfidenceEpochs confidence_epochs = ConfidenceEpochs::Final;
  /// Epochs a fresh cosine (a restart or fresh schedule) spans; 0: to the next fresh start or the
  /// lineage's end. GM-NAS's NB201 code gives its leaves a fresh 60-epoch cosine and trains 30.
  std::int64_t fresh_cosine_epochs = 0;
  diag::SourceRange range;
};

struct DataPlan {
  std::string name = "fashion_mnist";
  std::string path;
  std::int64_t subset = 0;     ///< use only this many training images (0: all)
  double train_portion = 0.5;  ///< share of the training set used for weights (rest: validation)
  diag::SourceRange range;
};

struct RetrainPlan {
  bool enabled = false;
  std::int64_t epochs = 10;
  std::int64_t batch = 96;
  Optimizer optimizer;
  LrSchedule schedule;
  double drop_path = 0;  ///< the largest probability of dropping an operation's output (0: off)
  DropPathSchedule drop_path_schedule = DropPathSchedule::Epoch;
  std::int64_t crop_padding = 0;  ///< random crops of the image padded this much (0: off)
  bool flip = false;              ///< random horizontal flips
  std::int64_t cutout = 0;        ///< Cutout's square side (0: off)
};

/// `specialize { ... }`: the hardware-aware subnet search of `cella specialize` (DyNAS-T), with
/// DyNAS-T's defaults; the command's options override each setting.
struct SpecializePlan {
  std::vector<std::string> objectives{"accuracy", "macs"};  ///< metric names (metrics.h)
  std::vector<std::string> constraints;                     ///< as ir::parse_constraint reads them: "latency <= 5"
  SpecializeTactic tactic = SpecializeTactic::Linas;
  std::int64_t budget = 250;
  std::int64_t population = 50;
  std::int64_t sample_size = 10;
  /// 0: DyNAS-T's for the space, 20,000 with elastic layers (its OFA-MobileNetV3 figure), else
  /// 5,000 (specialize_inner_evaluations).
  std::int64_t inner_evaluations = 0;
  std::int64_t latency_batch = 1;
  SpecializeInitial initial = SpecializeInitial::Genes;
  /// The input resolution (pixels) every architecture is measured at; 0: the network's largest
  /// (DyNAS-T evaluates OFA at 224). Ignored with search_resolution.
  std::int64_t resolution = 0;
  bool search_resolution = false;  ///< a gene for the resolution (OFA's own evolution searches it)
};

struct SearchPlan {
  std::string name;
  DataPlan data;
  std::int64_t seed = 0;
  SupernetPlan supernet;
  SplitPlan split;
  RetrainPlan retrain;
  SpecializePlan specialize;
  /// `smoke { C 4 }`: network parameters that `--smoke` sets (before the command line's `--set`),
  /// as `--set` texts.
  std::vector<std::pair<std::string, std::string>> smoke;
  diag::SourceRange range;
};

/// One row of plan.def, as `cella settings` and the applicability check read it.
struct PlanSetting {
  std::string_view key;         ///< dotted path: `supernet.epochs`
  std::string values;           ///< what it takes: `integer, 1 to 100000`, the enum's words, ...
  std::string default_text;     ///< its default, from a default-constructed SearchPlan ("" for none)
  std::string_view strategies;  ///< the split strategies it applies to, space-separated ("" for all)
  std::string_view doc;
  bool block = false;  ///< a block of other settings (`supernet { ... }`)
};

/// The word that names the plan's strategy: a plugin strategy's own name, else plan_words.
std::string strategy_word(const SplitPlan& split);
/// Whether `split.at` takes effect: the points of a split strategy, or under `split none` the
/// points where `fresh_schedule` or `restart` starts a new schedule (otherwise they mean nothing).
bool split_points_apply(const SplitPlan& split);

struct Program;
/// The program's plan, or the default plan when the file has no search block.
SearchPlan plan_of(const Program& program);
/// What `inner_evaluations` 0 stands for on `program`'s space (DyNAS-T's figures).
std::int64_t specialize_inner_evaluations(const SpecializePlan& plan, const Program& program);

/// One row of datasets.def.
struct DataSet {
  std::string_view name;
  std::int64_t channels = 1, size = 28, classes = 10;
  double mean = 0, std = 1;      ///< normalisation of a single-channel set
  std::string_view default_dir;  ///< "" when the user must give a directory
  std::string_view format;       ///< which runtime loader reads it: idx, cifar, synthetic
  std::string_view doc;
};

/// Every row of datasets.def, in its order.
std::span<const DataSet> data_sets();
/// The row of a data set, or nullptr.
const DataSet* find_data_set(std::string_view name);
/// The names of the data sets, for diagnostics.
const std::vector<std::string>& data_set_names();

/// Every row of plan.def, in its order.
std::span<const PlanSetting> plan_settings();
/// The row of a key, or nullptr.
const PlanSetting* find_plan_setting(std::string_view key);
/// Whether a setting may be written in a plan that splits with `strategy`.
bool applies_to(const PlanSetting& setting, SplitStrategy strategy);
/// The settings and data-set tables of docs/language.md (`cella settings`).
std::string plan_settings_markdown();

}  // namespace cella::ir
