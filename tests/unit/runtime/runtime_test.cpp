// Runtime: networks built from the IR (parameter counts against NAS-Bench-201 and the static
// counter, masks, every shipped space), cloning, exact resume, checkpoints and data errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/ir/subspace.h"
#include "compiler/passes/space.h"
#include "compiler/passes/stats.h"
#include "runtime/data/dataset.h"
#include "runtime/device/device.h"
#include "runtime/ops/modules.h"
#include "runtime/plugins/plugins.h"
#include "runtime/supernet/network.h"
#include "runtime/train/method.h"
#include "runtime/train/trainer.h"
#include "tests/unit/helpers.h"
#include "tests/unit/process.h"

namespace cella::runtime {
namespace {

using testing_helpers::tiny_plan;

namespace fs = std::filesystem;

std::shared_ptr<const ir::Program> program(const std::string& space,
                                           std::vector<std::pair<std::string, std::string>> sets = {},
                                           const std::string& data = "") {
  driver::CompileOptions o;
  o.sema.overrides = std::move(sets);
  o.sema.data = data;
  auto c = testing_helpers::compile_space(space, o);
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

// Every architecture of the CIFAR-10 table, built as real LibTorch modules.
TEST(Network, Nb201ParameterCountsMatchPublishedAndStaticCounts) {
  fs::path csv = fs::path(CELLA_NB201_DIR) / "zc_nasbench201_flat.csv";
  if (!fs::exists(csv)) GTEST_SKIP() << csv << " not found";
  auto p = program("nb201.cella", {}, "cifar10");
  int checked = 0;
  for (const auto& f : testing_helpers::csv_rows(csv.string())) {
    if (f[0] != "cifar10") continue;
    auto a = std::get<ir::Arch>(ir::parse_arch(*p, f[3]));
    Network net(p, Mask::of_arch(*p, a), /*supernet=*/false);
    std::int64_t published = std::llround(std::stod(f[7]) * 1e6);
    EXPECT_EQ(net->parameter_count(), published) << f[3];
    EXPECT_EQ(net->parameter_count(), passes::network_stats(*p, &a, 32, true).params) << f[3];
    if (checked % 100 == 0) {
      torch::Tensor out = net->forward(torch::randn({2, 3, 32, 32}), mixing_of(*p, a));
      EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 10}));
    }
    ++checked;
  }
  EXPECT_EQ(checked, 724);
}

// Parameters of the modules that run in `arch` (all of them without one), found through the
// lowered description the network was built from.
std::int64_t running_parameters(const Network& net, const ir::Arch* arch) {
  std::vector<std::string> running;
  for (const lower::Module* m : net->description().modules())
    if (!arch || ir::unit_runs(net->program(), m->unit, *arch)) running.push_back(m->path + ".");
  std::int64_t n = 0;
  for (const auto& kv : net->named_parameters())
    for (const std::string& prefix : running)
      if (kv.key().rfind(prefix, 0) == 0) {
        n += kv.value().numel();
        break;
      }
  return n;
}

// `cella stats` and the LibTorch modules agree on the supernet and on sampled architectures.
void expect_stats_match_modules(const std::shared_ptr<const ir::Program>& p, const std::string& what) {
  Network supernet(p, Mask::full(*p), /*supernet=*/true);
  EXPECT_EQ(supernet->parameter_count(), running_parameters(supernet, nullptr))
      << what << ": a parameter outside every module";
  EXPECT_EQ(supernet->parameter_count(), passes::network_stats(*p, nullptr, 28, false).params) << what << " supernet";
  std::mt19937_64 rng(11);
  for (int i = 0; i < 3; ++i) {
    ir::Arch a = ir::sample(*p, rng);
    Network net(p, Mask::of_arch(*p, a), /*supernet=*/false);
    EXPECT_EQ(running_parameters(net, &a), passes::network_stats(*p, &a, 28, true).params)
        << what << " " << ir::to_text(*p, a);
  }
}

TEST(Network, StatsCountTheParametersOfTheBuiltModules) {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> smaller = {
      {"nasbench101.cella", {{"C", "8"}, {"cells", "1"}}}, {"darts.cella", {{"C", "8"}, {"layers", "5"}}}};
  int spaces = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(CELLA_SOURCE_DIR) / "spaces")) {
    if (entry.path().extension() != ".cella") continue;
    std::string name = entry.path().filename().string();
    std::vector<std::pair<std::string, std::string>> sets;
    for (const auto& [space, s] : smaller)
      if (space == name) sets = s;
    expect_stats_match_modules(program(name, sets), name);
    ++spaces;
  }
  EXPECT_GE(spaces, 4);
  // A two-input cell whose inputs already have its width: the DARTS preprocessing is built all
  // the same (a ReLU-conv1x1-BN per input), and `stats` used to leave it out.
  auto c = testing_helpers::compile(R"(
import std.ops
cell pair {
  inputs 2
  nodes 2
  edges all : [skip_connect, nor_conv_3x3]
  output last
}
network net(C = 8) {
  stem conv(3, out = C) >> bn
  stage pair * 2 width C
  head global_avg_pool >> linear(10)
}
)");
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  expect_stats_match_modules(std::make_shared<const ir::Program>(*c->program), "two-input cell of its width");
}

// A plugin primitive counts what its signature's `cost` says, and a stride on it shrinks the
// resolution in `stats` as in the module.
TEST(Network, StatsCountPluginPrimitivesFromTheirSignature) {
  ASSERT_EQ(load_plugin(CELLA_PLUGIN), "");
  driver::CompileOptions o;
  auto c = driver::compile_file(std::string(CELLA_SOURCE_DIR) + "/examples/custom_op_plugin/space.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  auto p = std::make_shared<const ir::Program>(*c->program);
  expect_stats_match_modules(p, "plugin space");
  ir::PrimCall strided;
  strided.prim = "gelu_conv";
  strided.args = {{"k", ir::Scalar{std::int64_t{3}}},
                  {"out", ir::Scalar{std::int64_t{8}}},
                  {"stride", ir::Scalar{std::int64_t{2}}}};
  EXPECT_EQ(ir::out_size(strided, 28), 14);
  EXPECT_EQ(ir::cost(strided, ir::Shape{4, 1, false}, 28).params, 8 * 4 * 3 * 3);
}

// Whether a pooling candidate carries a batch norm is the space's word: NAS-Bench-201's search
// cells have none (it used to be added to every supernet pooling candidate), DARTS' supernet has
// a non-affine one (`search_bn` in std.ops), which its stand-alone network leaves out.
TEST(Network, BatchNormsAfterPoolingAreThoseTheSpaceWrites) {
  auto pool_tensors = [](const Network& net) {
    std::size_t params = 0, buffers = 0;
    for (const auto& kv : net->named_parameters()) params += kv.key().find("pool") != std::string::npos;
    for (const auto& kv : net->named_buffers()) buffers += kv.key().find("pool") != std::string::npos;
    return std::pair{params, buffers};
  };
  auto nb201 = program("nb201.cella", {{"C", "4"}, {"N", "1"}});
  EXPECT_EQ(pool_tensors(Network(nb201, Mask::full(*nb201), true)), (std::pair<std::size_t, std::size_t>{0, 0}));
  auto darts = program("darts.cella", {{"C", "4"}, {"layers", "5"}});
  auto [params, buffers] = pool_tensors(Network(darts, Mask::full(*darts), true));
  EXPECT_EQ(params, 0u);  // non-affine
  // running mean, variance and count of 2 pooling candidates on 14 edges of each of the 5 cells
  EXPECT_EQ(buffers, 3u * 2u * 14u * 5u);
  std::mt19937_64 rng(3);
  ir::Arch a = ir::sample(*darts, Mask::full(*darts), rng);
  Network alone(darts, Mask::of_arch(*darts, a), false);
  EXPECT_EQ(pool_tensors(alone), (std::pair<std::size_t, std::size_t>{0, 0}));
}

TEST(Network, DisabledCandidatesAreNotAllocated) {
  auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}});
  Mask full = Mask::full(*p), narrow = full;
  narrow.cells[0][0] = {false, false, false, true, false};  // edge 1<-0 keeps nor_conv_3x3 only
  narrow.cells[0][3] = {true, true, false, false, false};   // edge 3<-0 keeps none and skip
  Network a(p, full, true), b(p, narrow, true);
  EXPECT_LT(b->parameter_count(), a->parameter_count());
  bool has_1x1_on_edge0 = false;
  for (const auto& kv : b->named_parameters())
    has_1x1_on_edge0 |= kv.key().find("1<-0/nor_conv_1x1") != std::string::npos;
  EXPECT_FALSE(has_1x1_on_edge0);
  for (const auto& kv : a->named_parameters())
    if (kv.key().find("1<-0/nor_conv_3x3") != std::string::npos) return SUCCEED();
  ADD_FAILURE() << "parameter names do not trace back to edges and candidates";
}

// DARTS' evaluation network with its auxiliary head (small here): a stand-alone network in
// training gives the head's logits too, in evaluation and as a supernet it does not, and the
// parameter count leaves the head out as the static count does.
TEST(Network, AuxiliaryHeadRunsInStandAloneTrainingOnly) {
  driver::CompileOptions o;
  o.sema.overrides = {{"C", "4"}, {"layers", "5"}};
  o.sema.data = "cifar10";
  o.sema.network = "darts_eval";
  auto c = testing_helpers::compile_space("darts.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  auto p = std::make_shared<const ir::Program>(*c->program);
  ASSERT_TRUE(p->network->auxiliary);
  std::mt19937_64 rng(3);
  ir::Arch a = ir::sample(*p, rng);
  Network net(p, Mask::of_arch(*p, a), false);
  torch::Tensor x = torch::randn({2, 3, 32, 32});
  net->train();
  auto [logits, aux] = net->forward_with_auxiliary(x, mixing_of(*p, a));
  ASSERT_TRUE(aux.defined());
  EXPECT_EQ(aux.sizes(), logits.sizes());
  EXPECT_DOUBLE_EQ(net->auxiliary_weight(), 0.4);
  net->eval();
  EXPECT_FALSE(net->forward_with_auxiliary(x, mixing_of(*p, a)).second.defined());
  passes::NetworkStats stats = passes::network_stats(*p, &a, 32, true);
  EXPECT_EQ(net->parameter_count(), stats.params);
  std::int64_t all = 0, aux_params = 0;
  for (const auto& kv : net->named_parameters()) {
    all += kv.value().numel();
    if (NetworkImpl::is_auxiliary(kv.key())) aux_params += kv.value().numel();
  }
  EXPECT_EQ(aux_params, stats.aux_params);
  EXPECT_EQ(all, stats.params + stats.aux_params);
  Network supernet(p, Mask::full(*p), true);
  supernet->train();
  EXPECT_FALSE(supernet->forward_with_auxiliary(x, mixing_of(*p, a)).second.defined());
}

TEST(Network, EveryShippedSpaceRunsForwardAndBackward) {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> spaces = {
      {"nb201.cella", {{"C", "4"}, {"N", "1"}}},
      {"darts.cella", {{"C", "4"}, {"layers", "5"}}},
      {"mobilenet.cella", {}},
      {"nasbench101.cella", {{"C", "8"}, {"cells", "1"}}},
      {"nasnet.cella", {{"F", "4"}, {"N", "1"}, {"aux_map", "2"}}},
  };
  for (const auto& [space, sets] : spaces) {
    auto p = program(space, sets);
    std::mt19937_64 rng(5);
    ir::Arch a = ir::sample(*p, rng);
    Network net(p, Mask::full(*p), true);
    std::int64_t ch = p->network->input.channels;
    torch::Tensor out = net->forward(torch::randn({2, ch, 28, 28}), mixing_of(*p, a));
    EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 10})) << space;
    out.sum().backward();
    Network fixed(p, Mask::of_arch(*p, a), false);
    EXPECT_EQ(fixed->forward(torch::randn({2, ch, 28, 28}), mixing_of(*p, a)).size(1), 10) << space;
  }
}

// NAS-Bench-101's stand-alone cells (vertex channels, projections, truncation, pruning) for many
// sampled architectures: the modules have the parameters `stats` counts, the network runs, and
// the first cell of each stack takes the previous stack's width.
TEST(Network, NasBench101CellsSplitTheirWidthForEverySampledArchitecture) {
  auto p = program("nasbench101.cella", {{"C", "7"}, {"cells", "1"}}, "cifar10");
  std::mt19937_64 rng(11);
  for (int i = 0; i < 40; ++i) {
    ir::Arch a = ir::sample(*p, rng);
    Network net(p, Mask::of_arch(*p, a), /*supernet=*/false);
    EXPECT_EQ(net->parameter_count(), passes::network_stats(*p, &a, 32, true).params) << ir::to_text(*p, a);
    torch::Tensor out = net->forward(torch::randn({2, 3, 32, 32}), mixing_of(*p, a));
    EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 10})) << ir::to_text(*p, a);
    for (const auto& unit : net->description().units)
      if (unit.cell) {
        std::int64_t fan_in = 0;  // the output node's inputs from inner nodes add up to the width
        const ir::Cell& c = p->cells[unit.cell->cell];
        for (int e : c.in_edges(6))
          if (c.source(e) > 0 && unit.cell->edges[e][0]) fan_in += unit.cell->node_channels[c.source(e)];
        if (fan_in > 0) {
          EXPECT_EQ(fan_in, unit.cell->width) << ir::to_text(*p, a);
        }
      }
  }
}

// NASNet's blocks that add or concatenate: the supernet builds every block's projection and runs
// the sampled mode (a pass that leaves the mode open is refused, not guessed); a stand-alone
// network has a projection exactly where its blocks concatenate, as many parameters as `stats`
// counts, and the supernet's outputs with those weights.
TEST(Network, NasnetBlocksRunTheCombinerTheArchitectureChooses) {
  auto p = program("nasnet.cella", {{"F", "4"}, {"N", "1"}, {"aux_map", "2"}});
  Network supernet(p, Mask::full(*p), true);
  int projections = 0;
  for (const auto& unit : supernet->description().units)
    if (unit.cell)
      for (const auto& m : unit.cell->combine) projections += m.has_value();
  EXPECT_EQ(projections, 5 * 5);  // every block of the five cells
  supernet->eval();
  std::mt19937_64 rng(2);
  torch::Tensor x = torch::randn({2, 1, 28, 28});
  int concatenating = 0;
  for (int i = 0; i < 6; ++i) {
    ir::Arch a = ir::sample(*p, rng);
    for (std::size_t g = 0; g < a.cells.size(); ++g)
      for (int v = 2; v <= 6; ++v)
        concatenating +=
            ir::combine_of(p->cells[p->network->cell_groups[g].cell], a.cells[g], v) == ir::Combine::Concat;
    Network net(p, Mask::of_arch(*p, a), /*supernet=*/false);
    EXPECT_EQ(net->parameter_count(), passes::network_stats(*p, &a, 28, true).params) << ir::to_text(*p, a);
    EXPECT_EQ(net->forward(x, mixing_of(*p, a)).sizes(), (std::vector<std::int64_t>{2, 10}));
    torch::NoGradGuard no_grad;
    torch::Tensor ya = supernet->forward(x, mixing_of(*p, a));
    // Another draw of the modes with the same edges computes something else.
    ir::Arch b = a;
    for (auto& ch : b.cells)
      for (int v = 2; v <= 6; ++v) ch.node_combine[v] = 1 - ch.node_combine[v];
    EXPECT_FALSE(torch::allclose(ya, supernet->forward(x, mixing_of(*p, b))));
    Mixing open = mixing_of(*p, a);
    for (auto& cm : open.cells) cm.combine.clear();
    EXPECT_THROW(supernet->forward(x, open), std::logic_error);
  }
  EXPECT_GT(concatenating, 0);
}

// A node whose inputs are all `none` (or absent) contributes zeros of its own shape: in a
// reduction cell that is half the inputs' resolution, also for a node fed only by other nodes.
TEST(Network, AllNoneNodesOfAReductionCellHaveTheReducedShape) {
  auto p = program("darts.cella", {{"C", "4"}, {"layers", "5"}});
  Network net(p, Mask::full(*p), true);
  // Every edge runs `none` but 2<-0 (skip_connect: a factorized reduction in the reduction
  // cell): nodes 3-5, fed by `none` alone, must match node 2's 14x14 to be concatenated.
  Mixing mix;
  for (std::size_t g = 0; g < p->network->cell_groups.size(); ++g) {
    const ir::Cell& c = p->cells[p->network->cell_groups[g].cell];
    CellMix cm;
    for (int e = 0; e < c.num_edges(); ++e) cm.edges.push_back(Mix{{0}, {}});  // none
    cm.edges[c.find_edge(0, 2)] = Mix{{3}, {}};                                // skip_connect
    cm.nodes.assign(c.num_nodes(), Mix{});
    mix.cells.push_back(cm);
  }
  torch::Tensor out;
  ASSERT_NO_THROW(out = net->forward(torch::randn({2, p->network->input.channels, 28, 28}), mix));
  EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 10}));
}

// Path sampling trains and derives inside the declared space: on the DARTS space every node
// keeps exactly two inputs with real operations, in every step, and the derived architecture
// passes the same check `cella eval` and `retrain` apply.
TEST(Train, PathSamplingStaysInsideTheDeclaredSpace) {
  auto p = program("darts.cella", {{"C", "2"}, {"layers", "5"}});
  DataSplits data = load_data("synthetic", "", 64, 0.5, 0);
  ir::SupernetPlan plan = tiny_plan("uniform", 1);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 1);
  int steps = 0;
  train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 1, 1, {}, {},
                 [&](const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor&, const torch::Tensor&,
                     const Mixing& mix) {
                   for (const CellMix& cm : mix.cells) {
                     const ir::Cell& c = p->cells[p->network->cell_groups[0].cell];
                     for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
                       int kept = 0;
                       for (int e : c.in_edges(v)) {
                         if (cm.edges[e].ops.empty()) continue;
                         ++kept;
                         EXPECT_FALSE(c.edge(e).candidates[cm.edges[e].ops[0]].is_zero(1));
                       }
                       EXPECT_EQ(kept, 2) << "node " << v;
                     }
                   }
                   ++steps;
                   return torch::cross_entropy_loss(logits, y);
                 });
  EXPECT_GT(steps, 0);
  ir::Arch a = derive(s, plan, data, 1, 3, {});
  EXPECT_FALSE(ir::check_arch(*p, a)) << *ir::check_arch(*p, a);
}

// A weighted method's evaluation and derivation stay inside the space too: GDAS evaluates its
// strongest architecture, which on DARTS keeps two inputs per node (the per-edge argmax kept all).
TEST(Train, GdasEvaluatesAnArchitectureOfTheSpace) {
  auto p = program("darts.cella", {{"C", "2"}, {"layers", "5"}});
  for (const char* method : {"gdas", "darts"}) {
    SupernetState s = make_supernet(p, Mask::full(*p), tiny_plan(method, 1), 3);
    ir::Arch a = strongest_arch(s);
    EXPECT_FALSE(ir::check_arch(*p, a)) << method << ": " << *ir::check_arch(*p, a);
  }
  SupernetState s = make_supernet(p, Mask::full(*p), tiny_plan("gdas", 1), 3);
  std::mt19937_64 rng(0);
  Mixing mix = method_of(tiny_plan("gdas", 1)).judging_mixing(s, tiny_plan("gdas", 1), rng);
  const ir::Cell& c = p->cells[p->network->cell_groups[0].cell];
  for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
    int kept = 0;
    for (int e : c.in_edges(v)) kept += !mix.cells[0].edges[e].ops.empty();
    EXPECT_EQ(kept, 2) << "node " << v;
  }
}

// Every registered training method is a word the compiler's plan accepts, in the place its kind
// of method takes (methods.def and compiler/sema/search.cpp agree).
TEST(Train, EveryRegisteredMethodIsAPlanWord) {
  const auto names = MethodRegistry::instance().names();  // built-ins first, then any plugin's
  ASSERT_GE(names.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 6),
            (std::vector<std::string>{"uniform", "sandwich", "progressive_shrinking", "darts", "gdas", "snas"}));
  for (const std::string& name : names) {
    const TrainingMethod& m = *MethodRegistry::instance().find(name);
    // The elastic methods train elastic spaces, whole (no split).
    const bool elastic = name == "sandwich" || name == "progressive_shrinking";
    auto p = elastic
                 ? program("ofa_mbv3.cella",
                           {{"supernet.sampler", name}, {"supernet.epochs", "6"}, {"supernet.phases", "[1,1,1,1,1,1]"}})
                 : program("nb201.cella", {{m.samples_paths() ? "supernet.sampler" : "supernet.weights", name}});
    ASSERT_TRUE(p->search);
    EXPECT_EQ(p->search->supernet.method, name);
    EXPECT_EQ(&method_of(p->search->supernet), &m);
  }
}

// PointwiseConv is nn::Conv2d with k=1 on a faster kernel: the same initial weights for the same
// seed, the same outputs and gradients.
TEST(Ops, PointwiseConvComputesWhatConv2dComputes) {
  for (std::int64_t stride : {1, 2})
    for (bool bias : {false, true}) {
      torch::manual_seed(11);
      torch::nn::Conv2d ref(torch::nn::Conv2dOptions(5, 7, 1).stride(stride).bias(bias));
      torch::manual_seed(11);
      PointwiseConv pw(5, 7, stride, bias);
      ASSERT_TRUE(torch::equal(ref->weight, pw->weight));
      if (bias) {
        ASSERT_TRUE(torch::equal(ref->bias, pw->bias));
      }
      torch::Tensor x = torch::randn({3, 5, 9, 9}), x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
      torch::Tensor y1 = ref->forward(x1), y2 = pw->forward(x2);
      ASSERT_EQ(y1.sizes(), y2.sizes());
      EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-6)) << "stride " << stride << " bias " << bias;
      torch::Tensor g = torch::randn_like(y1);
      y1.backward(g);
      y2.backward(g);
      EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad(), 1e-5, 1e-6));
      EXPECT_TRUE(torch::allclose(ref->weight.grad(), pw->weight.grad(), 1e-4, 1e-5));
      if (bias) {
        EXPECT_TRUE(torch::allclose(ref->bias.grad(), pw->bias.grad(), 1e-4, 1e-5));
      }
    }
}

TEST(Network, CloneCopiesWeightsIntoAnIndependentNetwork) {
  auto p = program("darts.cella", {{"C", "4"}, {"layers", "3"}});
  Network a(p, Mask::full(*p), true);
  auto b = std::dynamic_pointer_cast<NetworkImpl>(a->clone());
  ASSERT_TRUE(b);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()]));
  torch::NoGradGuard g;
  pb[pa.begin()->key()].add_(1.0);
  EXPECT_FALSE(torch::equal(pa.begin()->value(), pb[pa.begin()->key()]));
}

TEST(Training, ResumingFromACheckpointReplaysExactly) {
  for (const std::string method : {"uniform", "darts", "gdas"}) {
    auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
    DataSplits data = load_data("synthetic", "", 256, 0.5, 3);
    ir::SupernetPlan plan = tiny_plan(method, 3);
    SupernetState straight = make_supernet(p, Mask::full(*p), plan, 7);
    train_supernet(straight, plan, testing_helpers::schedule_of(plan), data, 7, 3, {}, {});
    std::string ckpt = (fs::temp_directory_path() / ("cella_resume_" + method + ".pt")).string();
    SupernetState first = make_supernet(p, Mask::full(*p), plan, 7);
    train_supernet(first, plan, testing_helpers::schedule_of(plan), data, 7, 2, {},
                   [&](const SupernetState& s) { save_state(s, ckpt); });
    SupernetState resumed = make_supernet(p, Mask::full(*p), plan, 7);
    load_state(resumed, ckpt);
    EXPECT_EQ(resumed.epoch, 2);
    {
      auto f = first.net->named_parameters(), r = resumed.net->named_parameters();
      for (const auto& kv : f)
        ASSERT_TRUE(torch::equal(kv.value(), r[kv.key()])) << "loaded weights differ: " << kv.key();
      auto fb = first.net->named_buffers(), rb = resumed.net->named_buffers();
      for (const auto& kv : fb)
        ASSERT_TRUE(torch::equal(kv.value(), rb[kv.key()])) << "loaded buffers differ: " << kv.key();
      ASSERT_EQ(first.optimizer->state().size(), resumed.optimizer->state().size()) << "optimizer state not restored";
    }
    train_supernet(resumed, plan, testing_helpers::schedule_of(plan), data, 7, 3, {}, {});
    auto a = straight.net->named_parameters(), b = resumed.net->named_parameters();
    for (const auto& kv : a) EXPECT_TRUE(torch::equal(kv.value(), b[kv.key()])) << method << " " << kv.key();
    for (std::size_t i = 0; i < straight.alphas.size(); ++i)
      EXPECT_TRUE(torch::equal(straight.alphas[i], resumed.alphas[i])) << method;
    EXPECT_EQ(derive(straight, plan, data, 7, 5, {}), derive(resumed, plan, data, 7, 5, {})) << method;
    fs::remove(ckpt);
  }
}

// The CUDA side of `--device` (runtime/device): these run where there is a CUDA device
// (scripts/gpu-check.sh) and skip elsewhere. Networks are built on the CPU and moved, α drawn on
// the CPU, paths and Gumbel noise drawn by CPU generators: the same seed gives the same start
// and the same paths on both devices, training agrees to float tolerance, a CUDA run replays
// exactly, and a checkpoint saved on CUDA resumes on either device.
class OnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      device_ = parse_device("cuda");
    } catch (const DeviceError& e) {
      GTEST_SKIP() << e.what();
    }
  }
  void TearDown() override { use_device(c10::Device(c10::kCPU)); }
  // A short DARTS or GDAS run of the tiny NB201 supernet on `device`, seeded as the tests say.
  SupernetState trained(const std::string& method, c10::Device device, std::int64_t epochs,
                        const std::function<void(const SupernetState&)>& on_epoch = {}) {
    use_device(device);
    auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
    DataSplits data = load_data("synthetic", "", 256, 0.5, 3);
    ir::SupernetPlan plan = tiny_plan(method, 3);
    SupernetState s = make_supernet(p, Mask::full(*p), plan, 7);
    train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 7, epochs, {}, on_epoch);
    return s;
  }
  c10::Device device_{c10::kCPU};
};

TEST_F(OnCuda, TheSameSeedStartsAndTrainsAlikeOnBothDevices) {
  for (const std::string method : {"darts", "gdas", "uniform"}) {
    SupernetState cpu = trained(method, c10::Device(c10::kCPU), 0), gpu = trained(method, device_, 0);
    auto c = cpu.net->named_parameters(), g = gpu.net->named_parameters();
    for (const auto& kv : c) {
      ASSERT_TRUE(g[kv.key()].is_cuda()) << kv.key();
      EXPECT_TRUE(torch::equal(kv.value(), g[kv.key()].cpu())) << method << " " << kv.key();
    }
    cpu = trained(method, c10::Device(c10::kCPU), 2);
    gpu = trained(method, device_, 2);
    c = cpu.net->named_parameters();
    g = gpu.net->named_parameters();
    for (const auto& kv : c)
      EXPECT_TRUE(torch::allclose(kv.value(), g[kv.key()].cpu(), 1e-3, 1e-4)) << method << " " << kv.key();
    for (std::size_t i = 0; i < cpu.alphas.size(); ++i)
      EXPECT_TRUE(torch::allclose(cpu.alphas[i], gpu.alphas[i].cpu(), 1e-3, 1e-4)) << method;
  }
}

TEST_F(OnCuda, ARunReplaysExactlyAndItsCheckpointsMoveBetweenDevices) {
  const std::string ckpt = (fs::temp_directory_path() / "cella_cuda_resume.pt").string();
  SupernetState a = trained("darts", device_, 3);
  SupernetState b = trained("darts", device_, 2, [&](const SupernetState& s) { save_state(s, ckpt); });
  for (c10::Device to : {device_, c10::Device(c10::kCPU)}) {
    use_device(to);
    auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
    DataSplits data = load_data("synthetic", "", 256, 0.5, 3);
    ir::SupernetPlan plan = tiny_plan("darts", 3);
    SupernetState resumed = make_supernet(p, Mask::full(*p), plan, 7);
    load_state(resumed, ckpt);
    EXPECT_EQ(resumed.epoch, 2);
    train_supernet(resumed, plan, testing_helpers::schedule_of(plan), data, 7, 3, {}, {});
    auto x = a.net->named_parameters(), y = resumed.net->named_parameters();
    for (const auto& kv : x) {
      if (to.is_cuda())
        EXPECT_TRUE(torch::equal(kv.value(), y[kv.key()])) << "resumed on CUDA: " << kv.key();
      else
        EXPECT_TRUE(torch::allclose(kv.value().cpu(), y[kv.key()], 1e-3, 1e-4)) << "resumed on the CPU: " << kv.key();
    }
  }
  fs::remove(ckpt);
}

TEST(Training, PathSamplingLearnsASyntheticTask) {
  auto p = program("nb201.cella", {{"C", "8"}, {"N", "1"}}, "synthetic");
  DataSplits data = load_data("synthetic", "", 1024, 0.5, 1);
  ir::SupernetPlan plan = tiny_plan("uniform", 4);
  plan.optimizer.lr = 0.05;
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 1);
  std::mt19937_64 rng(0);
  double before = evaluate(s.net, method_of(plan).judging_mixing(s, plan, rng), data.valid, 128).accuracy;
  train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 1, 4, {}, {});
  ir::Arch a = derive(s, plan, data, 1, 5, {});
  EXPECT_FALSE(ir::check_arch(*p, a));
  double after = evaluate(s.net, mixing_of(*p, a), data.valid, 128).accuracy;
  EXPECT_GT(after, 30.0) << "before training: " << before;
}

TEST(Training, DartsDerivationKeepsTwoRealInputsPerNode) {
  auto p = program("darts.cella", {{"C", "4"}, {"layers", "3"}}, "synthetic");
  DataSplits data = load_data("synthetic", "", 128, 0.5, 2);
  ir::SupernetPlan plan = tiny_plan("darts", 1);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 2);
  train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 2, 1, {}, {});
  ir::Arch a = derive(s, plan, data, 2, 0, {});
  EXPECT_FALSE(ir::check_arch(*p, a)) << *ir::check_arch(*p, a);
}

// HEP-NAS's confidence term, against a hand computation on a supernet with a restricted edge:
// per cell type, the mean over α's entries of −log of each edge's largest masked-softmax weight.
TEST(Training, ConfidenceLossIsTheMeanNegativeLogOfTheLargestWeight) {
  auto p = program("darts.cella", {{"C", "2"}, {"layers", "3"}}, "synthetic");
  Mask mask = Mask::full(*p);
  for (std::size_t k = 0; k < mask.cells[0][0].size(); ++k) mask.cells[0][0][k] = k == 1 || k == 2;
  SupernetState s = make_supernet(p, mask, tiny_plan("darts", 1), 3);
  torch::Generator gen = at::detail::createCPUGenerator(7);
  {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& a : s.alphas) a.copy_(torch::randn(a.sizes(), gen));
  }
  double expected = 0;
  for (std::size_t g = 0; g < s.alphas.size(); ++g) {
    auto a = s.alphas[g].accessor<float, 2>();
    double sum = 0;
    for (std::int64_t e = 0; e < a.size(0); ++e) {
      double z = 0, top = -1e30;
      for (std::int64_t k = 0; k < a.size(1); ++k)
        if (mask.cells[g][e][k]) {
          z += std::exp(a[e][k]);
          top = std::max<double>(top, a[e][k]);
        }
      sum += -std::log(std::exp(top) / z);
    }
    expected += sum / static_cast<double>(s.alphas[g].numel());
  }
  torch::Tensor loss = confidence_loss(s);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-5);
  loss.backward();
  EXPECT_GT(s.alphas[0].grad().abs().sum().item<double>(), 0);
}

// The trainer adds the term to the architecture loss in the final phase only: two supernets
// trained alike, one with the term, have the same α before the last split point and differ after
// it, where the one with the term has sharper (more confident) weights.
TEST(Training, TheConfidenceTermSharpensArchitectureWeightsInTheFinalPhase) {
  auto p = program("darts.cella", {{"C", "2"}, {"layers", "3"}}, "synthetic");
  DataSplits data = load_data("synthetic", "", 64, 0.5, 2);
  ir::SearchPlan plan;
  plan.supernet = tiny_plan("darts", 2);
  plan.split.at = {1};
  plan.split.fresh_schedule = ir::Restart::Final;
  auto run = [&](double weight, std::int64_t until) {
    plan.split.final_confidence = weight;
    SupernetState s = make_supernet(p, Mask::full(*p), plan.supernet, 4);
    train_supernet(s, plan.supernet, ir::Schedule(plan), data, 4, until, {}, {});
    return s;
  };
  SupernetState plain1 = run(0, 1), sharp1 = run(50, 1);
  for (std::size_t g = 0; g < plain1.alphas.size(); ++g) EXPECT_TRUE(torch::equal(plain1.alphas[g], sharp1.alphas[g]));
  SupernetState plain2 = run(0, 2), sharp2 = run(50, 2);
  EXPECT_FALSE(torch::equal(plain2.alphas[0], sharp2.alphas[0]));
  EXPECT_LT(confidence_loss(sharp2).item<double>(), confidence_loss(plain2).item<double>());
}

// Second-order DARTS (cnn/architect.py `--unrolled`). The weights one step ahead are exactly what
// the optimizer's next step makes of a gradient, with its momentum state and weight decay, and
// with Nesterov.
TEST(Training, UnrolledStepAheadIsTheOptimizersNextStep) {
  auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
  DataSplits data = load_data("synthetic", "", 64, 0.5, 5);
  ir::SupernetPlan plan = tiny_plan("darts", 1);
  for (bool nesterov : {false, true}) {
    SupernetState s = make_supernet(p, Mask::full(*p), plan, 5);
    train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 5, 1, {}, {});  // momentum buffers exist
    auto& options = static_cast<torch::optim::SGDOptions&>(s.optimizer->param_groups().front().options());
    options.nesterov(nesterov).lr(0.05);
    std::vector<torch::Tensor> params = s.net->unique_parameters(), grads;
    torch::manual_seed(6);
    for (const torch::Tensor& w : params) grads.push_back(torch::randn_like(w));
    std::vector<torch::Tensor> ahead = one_step_ahead(s, params, grads, 0.05);
    for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i].clone();
    s.optimizer->step();
    for (std::size_t i = 0; i < params.size(); ++i)
      ASSERT_TRUE(torch::allclose(params[i], ahead[i], 1e-6, 1e-7)) << "parameter " << i << " nesterov " << nesterov;
  }
}

// The finite-difference product against the exact one (double backward), in float64, on a
// space without ReLU: across a ReLU's kink a finite difference measures something else than the
// derivative autograd takes (on NB201 itself first derivatives already disagree by 1% at a
// step of 1e-6), which would test the kinks rather than the code.
TEST(Training, FiniteDifferenceHessianVectorProductMatchesDoubleBackward) {
  driver::CompileOptions o;
  o.sema.data = "synthetic";
  auto c = testing_helpers::compile(R"(
import std.ops
op conv_bn_3x3 = conv(3, pad = 1) >> bn
op conv_bn_1x1 = conv(1) >> bn
opset smooth = [none, skip_connect, conv_bn_1x1, conv_bn_3x3, avg_pool_3x3]
cell c { inputs 1; nodes 3; edges all : smooth; output last }
network net(C = 4) {
  stem conv(3, out = C, pad = 1) >> bn
  stage c * 2 width C
  head global_avg_pool >> linear(10)
}
)",
                                    o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  auto p = std::make_shared<const ir::Program>(*c->program);
  ir::SupernetPlan plan = tiny_plan("darts", 1);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 7);
  s.net->to(torch::kDouble);
  for (torch::Tensor& a : s.alphas)
    a = (a.detach().to(torch::kDouble) + 0.3 * torch::randn_like(a, torch::kDouble)).requires_grad_();
  s.net->train();
  const ir::DataSet* shape = ir::find_data_set("synthetic");
  torch::manual_seed(8);
  torch::Tensor x = torch::randn({8, p->network->input.channels, shape->size, shape->size}, torch::kDouble);
  torch::Tensor y = torch::randint(0, 10, {8}, torch::kLong);
  std::vector<torch::Tensor> params = s.net->unique_parameters(), v;
  for (const torch::Tensor& w : params) v.push_back(torch::randn_like(w));
  auto mixing = [&] { return method_of(plan).step_mixing(s, plan, Step::Architecture, 0, 1.0); };
  // Exact: ∇_α (∇_w L · v).
  torch::Tensor loss = torch::cross_entropy_loss(s.net->forward(x, mixing()), y);
  auto gw = torch::autograd::grad({loss}, params, {}, true, true, true);
  torch::Tensor dot = torch::zeros({}, torch::kDouble);
  for (std::size_t i = 0; i < gw.size(); ++i)
    if (gw[i].defined()) dot = dot + (gw[i] * v[i]).sum();
  auto exact = torch::autograd::grad({dot}, s.alphas, {}, false, false, true);
  std::vector<torch::Tensor> w_before;
  for (const torch::Tensor& w : params) w_before.push_back(w.detach().clone());
  std::vector<torch::Tensor> estimate = mixed_hessian_vector_product(s, params, v, x, y, mixing);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], w_before[i])) << "w restored";
  double err = 0, norm = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    err += (estimate[i] - exact[i]).pow(2).sum().item<double>();
    norm += exact[i].pow(2).sum().item<double>();
  }
  ASSERT_GT(norm, 0);
  EXPECT_LT(std::sqrt(err / norm), 1e-3) << "relative error of the finite difference";
}

// With a vanishing step the unrolled gradient is the first-order one; with a real step it is not.
TEST(Training, UnrolledGradientIsFirstOrderAtAZeroStep) {
  auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
  DataSplits data = load_data("synthetic", "", 64, 0.5, 9);
  ir::SupernetPlan plan = tiny_plan("darts", 1);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 9);
  train_supernet(s, plan, testing_helpers::schedule_of(plan), data, 9, 1, {}, {});
  torch::Tensor x = data.train.images.narrow(0, 0, 16), y = data.train.labels.narrow(0, 0, 16);
  torch::Tensor xv = data.valid.images.narrow(0, 0, 16), yv = data.valid.labels.narrow(0, 0, 16);
  std::vector<torch::Tensor> params = s.net->unique_parameters();
  auto mixing = [&] { return method_of(plan).step_mixing(s, plan, Step::Architecture, 0, 1.0); };
  std::vector<torch::Tensor> first_order;
  {
    KeepBuffers keep(s.net);
    first_order = torch::autograd::grad({torch::cross_entropy_loss(s.net->forward(xv, mixing()), yv)}, s.alphas);
  }
  auto unrolled = [&](double eta) {
    for (torch::Tensor& a : s.alphas) a.mutable_grad().reset();
    unrolled_arch_gradient(s, params, x, y, xv, yv, eta, mixing);
    return s.alphas[0].grad().clone();
  };
  EXPECT_TRUE(torch::allclose(unrolled(0), first_order[0], 1e-5, 1e-7));
  EXPECT_FALSE(torch::allclose(unrolled(0.5), first_order[0], 1e-3, 1e-5));
}

// Drop path's probability: DARTS' p·epoch/epochs in every cell; NASNet's ScheduledDropPath
// (keep₀ 0.6 on CIFAR, 20 cells), rising with the cell's position and the training step.
TEST(Training, DropPathProbabilityFollowsDartsAndNasnetSchedules) {
  using ir::DropPathSchedule;
  EXPECT_DOUBLE_EQ(drop_path_probability(DropPathSchedule::Epoch, 0.2, 5, 20, 0, 600, 0, 1000), 0.0);
  EXPECT_DOUBLE_EQ(drop_path_probability(DropPathSchedule::Epoch, 0.2, 0, 20, 300, 600, 500, 1000), 0.1);
  EXPECT_DOUBLE_EQ(drop_path_probability(DropPathSchedule::Epoch, 0.2, 19, 20, 300, 600, 500, 1000), 0.1);
  // The last cell at the end of training: 1 − keep₀.
  EXPECT_NEAR(drop_path_probability(DropPathSchedule::StepAndDepth, 0.4, 19, 20, 599, 600, 1000, 1000), 0.4, 1e-12);
  // Cell 9 (10/20 of the depth) half-way: 0.5 · 0.5 · 0.4.
  EXPECT_NEAR(drop_path_probability(DropPathSchedule::StepAndDepth, 0.4, 9, 20, 300, 600, 500, 1000), 0.1, 1e-12);
  // The first cell at step 0: nothing dropped; past the last step the ratio stays at 1.
  EXPECT_DOUBLE_EQ(drop_path_probability(DropPathSchedule::StepAndDepth, 0.4, 0, 20, 0, 600, 0, 1000), 0.0);
  EXPECT_NEAR(drop_path_probability(DropPathSchedule::StepAndDepth, 0.4, 0, 20, 0, 600, 5000, 1000), 0.02, 1e-12);
}

// Drop path drops operations' outputs in training only, never an identity's; a retraining with it
// (and the augmentations) runs.
TEST(Training, DropPathDropsOperationsNotIdentitiesInTrainingOnly) {
  auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}}, "synthetic");
  auto outputs = [&](const std::string& text, double prob, bool training) {
    ir::Arch a = std::get<ir::Arch>(ir::parse_arch(*p, text));
    torch::manual_seed(11);
    Network net(p, Mask::of_arch(*p, a), false);
    training ? net->train() : net->eval();
    const ir::DataSet* shape = ir::find_data_set("synthetic");
    torch::Tensor x = torch::randn({16, p->network->input.channels, shape->size, shape->size});
    net->set_drop_path(std::vector<double>(static_cast<std::size_t>(net->cell_count()), prob));
    torch::NoGradGuard no_grad;
    return net->forward(x, mixing_of(*p, a));
  };
  const std::string convs =
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
  const std::string skips =
      "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
  EXPECT_FALSE(torch::allclose(outputs(convs, 0.5, true), outputs(convs, 0, true)));
  EXPECT_TRUE(torch::allclose(outputs(convs, 0.5, false), outputs(convs, 0, false)));
  EXPECT_TRUE(torch::allclose(outputs(skips, 0.5, true), outputs(skips, 0, true)));
  ir::RetrainPlan plan;
  plan.epochs = 2;
  plan.batch = 32;
  plan.drop_path = 0.3;
  plan.drop_path_schedule = ir::DropPathSchedule::StepAndDepth;
  plan.crop_padding = 2;
  plan.flip = true;
  plan.cutout = 4;
  DataSplits data = load_data("synthetic", "", 64, 0.5, 12);
  RetrainResult r = retrain(p, std::get<ir::Arch>(ir::parse_arch(*p, convs)), plan, data, 12, {});
  EXPECT_GE(r.test_accuracy, 0.0);
}

// Retraining's augmentations, one at a time on images of distinct pixels, then all together
// twice from the same seed.
TEST(Data, CropFlipAndCutoutAugmentImagesAsTorchvisionAndDarts) {
  const std::int64_t n = 64, h = 8, w = 8;
  torch::Tensor batch = torch::arange(n * h * w, torch::kFloat).view({n, 1, h, w}) + 1;  // no pixel is 0
  torch::Tensor fill = torch::full({1}, -5.0);
  auto run = [&](const Augmentation& a, std::uint64_t seed) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    return augment(batch, a, fill, gen);
  };
  // Crop: each image is a window of the image padded by 2 with the fill.
  torch::Tensor cropped = run({2, false, 0}, 1);
  int shifted = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    torch::Tensor padded = torch::full({1, h + 4, w + 4}, -5.0);
    padded.narrow(1, 2, h).narrow(2, 2, w).copy_(batch[i]);
    bool found = false;
    for (std::int64_t dy = 0; dy <= 4 && !found; ++dy)
      for (std::int64_t dx = 0; dx <= 4 && !found; ++dx)
        found = torch::equal(cropped[i], padded.narrow(1, dy, h).narrow(2, dx, w));
    EXPECT_TRUE(found) << "image " << i;
    shifted += !torch::equal(cropped[i], batch[i]);
  }
  EXPECT_GT(shifted, n / 2);
  // Flip: each image is itself or its mirror, both happen.
  torch::Tensor flipped = run({0, true, 0}, 2);
  int mirrors = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    bool same = torch::equal(flipped[i], batch[i]), mirror = torch::equal(flipped[i], batch[i].flip({2}));
    EXPECT_TRUE(same || mirror) << "image " << i;
    mirrors += mirror;
  }
  EXPECT_GT(mirrors, 0);
  EXPECT_LT(mirrors, n);
  // Cutout 4: a zeroed rectangle of at most 4x4 (2x2 at a corner), the rest untouched.
  torch::Tensor cut = run({0, false, 4}, 3);
  for (std::int64_t i = 0; i < n; ++i) {
    torch::Tensor zero = cut[i][0].eq(0);
    const std::int64_t zeros = zero.sum().item<std::int64_t>();
    EXPECT_GE(zeros, 4) << "image " << i;
    EXPECT_LE(zeros, 16) << "image " << i;
    torch::Tensor rows = zero.any(1), cols = zero.any(0);
    EXPECT_EQ(zeros, rows.sum().item<std::int64_t>() * cols.sum().item<std::int64_t>()) << "a rectangle";
    EXPECT_TRUE(torch::equal(cut[i][0].masked_select(~zero), batch[i][0].masked_select(~zero)));
  }
  EXPECT_TRUE(torch::equal(run({2, true, 4}, 9), run({2, true, 4}, 9)));
  EXPECT_FALSE(torch::equal(run({2, true, 4}, 9), run({2, true, 4}, 10)));
  EXPECT_TRUE(torch::equal(batch, torch::arange(n * h * w, torch::kFloat).view({n, 1, h, w}) + 1)) << "untouched";
}

TEST(Training, CosineScheduleIsPeriodicPastItsEnd) {
  ir::Optimizer o;
  ir::LrSchedule c;
  EXPECT_DOUBLE_EQ(learning_rate(o, c, 0, 30), 0.025);
  EXPECT_NEAR(learning_rate(o, c, 30, 30), 0.001, 1e-12);
  EXPECT_NEAR(learning_rate(o, c, 60, 30), 0.025, 1e-12);  // as PyTorch's CosineAnnealingLR
}

TEST(Checkpoint, BadFilesGetOneLineErrors) {
  auto p = program("nb201.cella", {{"C", "4"}, {"N", "1"}});
  ir::SupernetPlan plan = tiny_plan("uniform", 1);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 0);
  std::string junk = (fs::temp_directory_path() / "cella_junk.pt").string();
  std::ofstream(junk) << "not a checkpoint";
  try {
    load_state(s, junk);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a cella checkpoint"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  std::string other = (fs::temp_directory_path() / "cella_other.pt").string();
  auto q = program("nb201.cella", {{"C", "8"}, {"N", "1"}});
  save_state(make_supernet(q, Mask::full(*q), plan, 0), other);
  EXPECT_THROW(load_state(s, other), std::runtime_error);
  EXPECT_THROW(load_state(s, "/nonexistent/ckpt.pt"), std::runtime_error);
  fs::remove(junk);
  fs::remove(other);
}

TEST(Data, MissingAndCorruptFilesNameTheFile) {
  fs::path dir = fs::temp_directory_path() / "cella_bad_data";
  fs::create_directories(dir);
  auto error_loading = [&] {
    try {
      load_data("fashion_mnist", dir.string(), 0, 0.5, 0);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no DataError");
  };
  EXPECT_NE(error_loading().find("train-images-idx3-ubyte.gz: no such file"), std::string::npos) << error_loading();
  std::ofstream(dir / "train-images-idx3-ubyte.gz") << "garbage, not gzip and not IDX";
  EXPECT_NE(error_loading().find("train-images-idx3-ubyte.gz:"), std::string::npos) << error_loading();
  std::ofstream(dir / "data_batch_1.bin") << "short";
  EXPECT_THROW(load_data("cifar10", dir.string(), 0, 0.5, 0), DataError);
  fs::remove_all(dir);
}

TEST(Data, FashionMnistFromTheDebianPackage) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) GTEST_SKIP();
  DataSplits d = load_data("fashion_mnist", "", 1000, 0.5, 0);
  EXPECT_EQ(d.train.size() + d.valid.size(), 1000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.train.images.sizes(), (std::vector<std::int64_t>{500, 1, 28, 28}));
  DataSplits again = load_data("fashion_mnist", "", 1000, 0.5, 0);
  EXPECT_TRUE(torch::equal(d.train.labels, again.train.labels));  // the split depends on the seed only
}

}  // namespace
}  // namespace cella::runtime
