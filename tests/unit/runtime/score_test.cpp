// Training-free scores (runtime/score): each measure against a hand computation on a network
// small enough to write out (stem 1x1 conv, one edge ReLU-conv1x1-BN, pooling, linear), then
// determinism, every shipped space, and `cella score` on the command line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/score/measures.h"
#include "runtime/score/proxies.h"
#include "tests/unit/helpers.h"
#include "tests/unit/process.h"

namespace cella::runtime::score {
namespace {

namespace fs = std::filesystem;
using testing_helpers::run_cella;

const char* kTiny = R"(
import std.ops
cell c {
  inputs 1
  nodes 1
  edges all : [nor_conv_1x1, none]
  output last
}
network tiny(C = 3) {
  stem conv(1, out = C)
  stage c * 1 width C
  head global_avg_pool >> linear(2)
}
)";

struct Tiny {
  std::shared_ptr<const ir::Program> program;
  ir::Arch arch;
  Network net{nullptr};
  Mixing mix;
  // Copies of its weights: stem [3,1,1,1], edge conv [3,3,1,1], classifier [2,3] and its bias.
  torch::Tensor w1, w2, l, b;
};

Tiny tiny(std::uint64_t seed = 7) {
  auto c = testing_helpers::compile(kTiny);
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  Tiny t;
  t.program = std::make_shared<const ir::Program>(*c->program);
  t.arch = std::get<ir::Arch>(ir::parse_arch(*t.program, "|nor_conv_1x1~0|"));
  torch::manual_seed(seed);
  t.net = Network(t.program, Mask::of_arch(*t.program, t.arch), /*supernet=*/false);
  t.net->train();
  t.mix = mixing_of(*t.program, t.arch);
  for (const torch::Tensor& p : t.net->parameters()) {
    if (!p.defined()) continue;
    const auto s = p.sizes().vec();
    if (s == std::vector<std::int64_t>{3, 1, 1, 1}) t.w1 = p.detach().clone();
    if (s == std::vector<std::int64_t>{3, 3, 1, 1}) t.w2 = p.detach().clone();
    if (s == std::vector<std::int64_t>{2, 3}) t.l = p.detach().clone();
    if (s == std::vector<std::int64_t>{2}) t.b = p.detach().clone();
  }
  EXPECT_TRUE(t.w1.defined() && t.w2.defined() && t.l.defined() && t.b.defined());
  return t;
}

// The tiny network written out, batch norm in training mode with its fresh scale 1 and shift 0.
torch::Tensor conv_part(const Tiny& t, const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& w2) {
  return torch::conv2d(torch::relu(torch::conv2d(x, w1)), w2);
}
torch::Tensor by_hand(const Tiny& t, const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& w2,
                      const torch::Tensor& l) {
  torch::Tensor y = torch::batch_norm(conv_part(t, x, w1, w2), {}, {}, {}, {}, true, 0.1, 1e-5, false);
  return torch::linear(y.mean({2, 3}), l, t.b);
}

torch::Tensor images(std::int64_t n, std::uint64_t seed = 3) {
  torch::manual_seed(seed);
  return torch::randn({n, 1, 4, 4});
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(1e-300, std::fabs(b)); }

TEST(Score, ParamsAndMacsCountTheTinyNetwork) {
  Tiny t = tiny();
  Input in;
  in.channels = 1;
  in.size = 4;
  // stem 3, edge conv 9, batch norm 3 + 3, classifier 6 + 2
  EXPECT_EQ(score(Proxy::Params, t.program, t.arch, in), 26);
  // per pixel 3 + 9 multiply-accumulates on 16 pixels, and 6 in the classifier
  EXPECT_EQ(score(Proxy::Macs, t.program, t.arch, in), 12 * 16 + 6);
}

// With absolute weights, batch norms as identities and ones in, every ReLU passes its input and
// the sum of the outputs is R = 1ᵀ|L||W2||W1|1 + 1ᵀ|b|, linear in each weight matrix: the
// synaptic flow of each of the three layers is R - 1ᵀ|b|.
TEST(Score, SynflowIsThreeTimesThePathSumOfTheTinyNetwork) {
  Tiny t = tiny();
  const torch::Tensor path =
      t.l.abs()
          .to(torch::kDouble)
          .matmul(t.w2.abs().reshape({3, 3}).to(torch::kDouble).matmul(t.w1.abs().reshape({3, 1}).to(torch::kDouble)));
  const double expected = 3 * path.sum().item<double>();
  EXPECT_LT(rel(synflow(t.net, t.mix, 1, 4), expected), 1e-12);
}

TEST(Score, SnipAndGraspEqualTheirFormulasOnTheTinyNetwork) {
  Tiny t = tiny();
  const torch::Tensor x = images(6);
  const torch::Tensor y = torch::tensor({0, 1, 1, 0, 1, 0}, torch::kLong);
  std::vector<torch::Tensor> w = {t.w1.clone().requires_grad_(), t.w2.clone().requires_grad_(),
                                  t.l.clone().requires_grad_()};
  auto loss = [&] { return torch::nn::functional::cross_entropy(by_hand(t, x, w[0], w[1], w[2]), y); };
  std::vector<torch::Tensor> g = torch::autograd::grad({loss()}, w);
  double snip_expected = 0;
  for (std::size_t i = 0; i < w.size(); ++i) snip_expected += (w[i] * g[i]).abs().sum().item<double>();
  std::vector<torch::Tensor> f = torch::autograd::grad({loss()}, w, {}, true, true);
  torch::Tensor z = (g[0] * f[0]).sum() + (g[1] * f[1]).sum() + (g[2] * f[2]).sum();
  std::vector<torch::Tensor> hg = torch::autograd::grad({z}, w);
  double grasp_expected = 0;
  for (std::size_t i = 0; i < w.size(); ++i) grasp_expected += (-w[i] * hg[i]).sum().item<double>();

  EXPECT_LT(rel(snip(t.net, t.mix, x, y), snip_expected), 1e-5);
  Tiny fresh = tiny();
  EXPECT_LT(rel(grasp(fresh.net, fresh.mix, x, y), grasp_expected), 1e-4);
  EXPECT_NE(grasp_expected, 0);
}

// Two images: their Jacobians' correlation matrix is [[1, r], [r, 1]], eigenvalues 1 ± r.
TEST(Score, JacobCovOfTwoImagesIsItsClosedForm) {
  Tiny t = tiny();
  const torch::Tensor x0 = images(2);
  torch::Tensor x = x0.clone().requires_grad_();
  by_hand(t, x, t.w1, t.w2, t.l).sum().backward();
  torch::Tensor j = x.grad().reshape({2, -1}).to(torch::kDouble);
  const double r = torch::corrcoef(j)[0][1].item<double>();
  double expected = 0;
  for (double v : {1 + r + 1e-5, 1 - r + 1e-5}) expected -= std::log(v) + 1 / v;
  EXPECT_LT(rel(jacob_cov(t.net, t.mix, x0), expected), 1e-6);
}

// The one activation is the edge's ReLU of the stem's output: K counts, for each pair of images,
// the units where both are positive or both are not.
TEST(Score, NaswotIsTheLogDeterminantOfTheCodeAgreements) {
  Tiny t = tiny();
  const torch::Tensor x = images(3);
  torch::Tensor c = (torch::conv2d(x, t.w1).reshape({3, -1}) > 0).to(torch::kDouble);
  torch::Tensor k = c.matmul(c.t()) + (1 - c).matmul((1 - c).t());
  EXPECT_EQ(k[0][0].item<double>(), 48);  // 3 channels × 16 pixels agree with themselves
  EXPECT_LT(rel(naswot(t.net, t.mix, x), std::log(torch::det(k).item<double>())), 1e-12);
}

TEST(Score, ZenIsTheLogPerturbationPlusTheBatchNormScales) {
  Tiny t = tiny();
  torch::manual_seed(11);
  gaussian_init(t.net);
  torch::Tensor w1, w2;
  for (const torch::Tensor& p : t.net->parameters()) {
    if (!p.defined()) continue;
    if (p.sizes().vec() == std::vector<std::int64_t>{3, 1, 1, 1}) w1 = p.detach().clone();
    if (p.sizes().vec() == std::vector<std::int64_t>{3, 3, 1, 1}) w2 = p.detach().clone();
    if (p.dim() == 1) {
      EXPECT_TRUE((p == 0).all().item<bool>() || (p == 1).all().item<bool>());
    }
  }
  const torch::Tensor x = images(4, 5);
  const torch::Tensor mixed = x + 1e-2 * images(4, 6);
  auto bn = [](const torch::Tensor& y) { return torch::batch_norm(y, {}, {}, {}, {}, true, 0.1, 1e-5, false); };
  const torch::Tensor a = conv_part(t, x, w1, w2), m = conv_part(t, mixed, w1, w2);
  const double delta = (bn(a) - bn(m)).abs().reshape({4, -1}).sum(1).mean().item<double>();
  // The running variance after the two passes, from 1 with momentum 0.1.
  const torch::Tensor running = 0.81 + 0.09 * a.var({0, 2, 3}, true) + 0.1 * m.var({0, 2, 3}, true);
  const double expected = std::log(delta) + 0.5 * std::log(running.mean().item<double>());
  EXPECT_LT(rel(zen(t.net, t.mix, x, mixed), expected), 1e-5);
}

TEST(Score, ScoresAreTheSameForTheSameSeedAndDifferForAnother) {
  auto c = testing_helpers::compile_space("nb201.cella", [] {
    driver::CompileOptions o;
    o.sema.overrides = {{"C", "4"}, {"N", "1"}};
    return o;
  }());
  ASSERT_TRUE(c->ok());
  auto p = std::make_shared<const ir::Program>(*c->program);
  const ir::Arch a =
      std::get<ir::Arch>(ir::parse_arch(*p,
                                        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|"
                                        "nor_conv_3x3~1|avg_pool_3x3~2|"));
  Input in;
  in.channels = 1;
  in.size = 8;
  in.batch = 8;
  torch::manual_seed(1);
  in.images = torch::randn({8, 1, 8, 8});
  in.labels = torch::randint(0, 10, {8}, torch::kLong);
  for (Proxy proxy : proxies()) {
    in.seed = 4;
    const double first = score(proxy, p, a, in), again = score(proxy, p, a, in);
    EXPECT_TRUE(std::isfinite(first)) << name_of(proxy);
    EXPECT_EQ(first, again) << name_of(proxy);
    in.seed = 5;
    if (proxy != Proxy::Params && proxy != Proxy::Macs) {
      EXPECT_NE(score(proxy, p, a, in), first) << name_of(proxy);
    }
  }
  EXPECT_THROW(score(Proxy::Accuracy, p, a, in), std::invalid_argument);
}

// scipy.stats.kendalltau([1, 2, 3, 4], [1, 3, 2, 4]) = 0.6667; ([1, 1, 2], [1, 2, 3]) = 0.8165.
TEST(Score, KendallTauBCountsPairsAndTies) {
  EXPECT_NEAR(kendall_tau_b({1, 2, 3, 4}, {1, 3, 2, 4}), 2.0 / 3, 1e-12);
  EXPECT_NEAR(kendall_tau_b({1, 1, 2}, {1, 2, 3}), 2 / std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(kendall_tau_b({NAN, 1, 2}, {0, 1, 2}), 1, 1e-12);  // NaN the lowest
  EXPECT_TRUE(std::isnan(kendall_tau_b({1, 1}, {1, 2})));
}

TEST(Score, ProxyNamesParseAndUnknownOnesAreNamed) {
  EXPECT_EQ(parse_proxies({"params", "synflow", "params"}), (std::vector<Proxy>{Proxy::Params, Proxy::Synflow}));
  EXPECT_EQ(parse_proxies({"all"}).size(), 8u);
  EXPECT_THROW(parse_proxies({"accuracy"}), std::invalid_argument);  // a metric, not training-free
  try {
    parse_proxies({"synflo"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no proxy 'synflo'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("jacob_cov"), std::string::npos);
  }
}

// Every shipped space, an architecture sampled from it, every proxy, from the command line on
// synthetic images (spaces with a resolution choice resize them).
TEST(ScoreCli, EveryShippedSpaceScoresWithEveryProxy) {
  const fs::path dir = testing_helpers::fresh_dir("score-spaces");
  fs::create_directories(dir);
  int spaces = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(CELLA_SOURCE_DIR) / "spaces")) {
    if (entry.path().extension() != ".cella") continue;
    const std::string name = entry.path().filename().string();
    std::string sets;
    if (name == "nasbench101.cella") sets = " --set C=8 --set cells=1";
    if (name == "darts.cella" || name == "darts_s5.cella") sets = " --set C=4 --set layers=5";
    // NASNet's reductions need more than synthetic's 16 pixels: its own Fashion-MNIST.
    const std::string data = name == "nasnet.cella" ? "" : " --data synthetic";
    const fs::path archs = dir / (name + ".txt");
    ASSERT_EQ(run_cella("sample " + entry.path().string() + sets + " -n 1 --seed 3 > " + archs.string()).code, 0);
    auto out = run_cella("score " + entry.path().string() + sets + " --archs " + archs.string() + data +
                         " --batch 4 --threads 1 --json 2>&1");
    ASSERT_EQ(out.code, 0) << name << ": " << out.text;
    const auto j = nlohmann::json::parse(out.text);
    ASSERT_EQ(j["rows"].size(), 1u) << name;
    for (Proxy proxy : proxies()) EXPECT_TRUE(j["rows"][0].contains(name_of(proxy))) << name << name_of(proxy);
    ++spaces;
  }
  EXPECT_GE(spaces, 9);
}

TEST(ScoreCli, RowsTextAndErrors) {
  const std::string space = std::string(CELLA_SOURCE_DIR) + "/spaces/nb201.cella --set C=4 --set N=1 --threads 1";
  const std::string arch = "'|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'";
  auto ok = run_cella("score " + space + " --arch " + arch +
                      " --arch '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|' --proxy params,synflow,zen");
  ASSERT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("params"), std::string::npos);
  EXPECT_NE(ok.text.find("|nor_conv_3x3~0|+|none~0|none~1|"), std::string::npos);
  // Data-free proxies need no data files: CIFAR-10's shape without its path.
  auto shape = run_cella("score " + space + " --arch " + arch + " --proxy synflow --data cifar10 --json");
  ASSERT_EQ(shape.code, 0) << shape.text;
  EXPECT_EQ(nlohmann::json::parse(shape.text)["input"], nlohmann::json({3, 32, 32}));
  auto unknown = run_cella("score " + space + " --arch " + arch + " --proxy synflo 2>&1");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.text.find("--proxy: no proxy 'synflo'"), std::string::npos) << unknown.text;
  auto none = run_cella("score " + space + " 2>&1");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.text.find("--archs FILE"), std::string::npos) << none.text;
  auto nodata =
      run_cella("score " + space + " --arch " + arch + " --proxy snip --data cifar10 --data-dir /nonexistent 2>&1");
  EXPECT_EQ(nodata.code, 1) << nodata.text;
  EXPECT_NE(nodata.text.find("/nonexistent"), std::string::npos) << nodata.text;
}

// A training-free specialisation: no weights, no table; every score it logs is the one `cella
// score` gives the same architecture.
TEST(ScoreCli, SpecializeOptimisesATrainingFreeScore) {
  const fs::path dir = testing_helpers::fresh_dir("score-specialize");
  const std::string space = std::string(CELLA_SOURCE_DIR) + "/spaces/nb201.cella --set C=4 --set N=1";
  auto run = run_cella("specialize " + space +
                       " --data synthetic --objectives naswot,params --tactic random --budget 5 --threads 1 --out " +
                       dir.string());
  ASSERT_EQ(run.code, 0) << run.text;
  EXPECT_NE(run.text.find("training-free"), std::string::npos) << run.text;
  const std::string csv = testing_helpers::slurp((dir / "evaluations.csv").string());
  EXPECT_NE(csv.substr(0, csv.find('\n')).find(",naswot"), std::string::npos) << csv;
  std::ifstream log(dir / "evaluations.jsonl");
  std::string line;
  ASSERT_TRUE(static_cast<bool>(std::getline(log, line)));
  const auto first = nlohmann::json::parse(line);
  const fs::path one = dir / "one.txt";
  std::ofstream(one) << first["arch"].get<std::string>() << "\n";
  auto scored =
      run_cella("score " + space + " --data synthetic --proxy naswot --threads 1 --json --archs " + one.string());
  ASSERT_EQ(scored.code, 0) << scored.text;
  EXPECT_EQ(nlohmann::json::parse(scored.text)["rows"][0]["naswot"].get<double>(), first["naswot"].get<double>());
  // Accuracy still needs a source.
  auto accuracy = run_cella("specialize " + space + " --objectives accuracy,params --budget 5");
  EXPECT_EQ(accuracy.code, 2) << accuracy.text;
  EXPECT_NE(accuracy.text.find("training-free objectives"), std::string::npos) << accuracy.text;
  fs::remove_all(dir);
}

// `cella eval --proxy`: the scores beside the inherited accuracies, and how each ranks as they do.
TEST(ScoreCli, EvalPrintsScoresBesideInheritedAccuracies) {
  const fs::path dir = testing_helpers::fresh_dir("score-eval");
  const std::string space = std::string(CELLA_SOURCE_DIR) + "/spaces/nb201.cella --set C=4 --set N=1";
  auto trained = run_cella("train " + space + " --smoke --threads 1 --out " + (dir / "run").string());
  ASSERT_EQ(trained.code, 0) << trained.text;
  const fs::path archs = dir / "archs.txt";
  ASSERT_EQ(run_cella("sample " + space + " -n 4 --seed 5 > " + archs.string()).code, 0);
  auto eval = run_cella("eval --threads 1 --weights " + (dir / "run").string() + " --archs " + archs.string() +
                        " --proxy params,synflow --json");
  ASSERT_EQ(eval.code, 0) << eval.text;
  const auto j = nlohmann::json::parse(eval.text.substr(eval.text.find('{')));
  ASSERT_EQ(j["rows"].size(), 4u);
  EXPECT_TRUE(j["kendall_tau_b_with_inherited_accuracy"].contains("synflow"));
  auto scored =
      run_cella("score " + space + " --data synthetic --proxy params --threads 1 --json --archs " + archs.string());
  ASSERT_EQ(scored.code, 0) << scored.text;
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(j["rows"][i].contains("valid_acc"));
    EXPECT_EQ(j["rows"][i]["params"], nlohmann::json::parse(scored.text)["rows"][i]["params"]);
  }
  auto text = run_cella("eval --threads 1 --weights " + (dir / "run").string() + " --archs " + archs.string() +
                        " --proxy synflow");
  EXPECT_NE(text.text.find("Kendall tau-b with the inherited accuracies over 4 architectures: synflow"),
            std::string::npos)
      << text.text;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cella::runtime::score
