// The primitive table and the shape, cost and kind rules of each primitive.
#include "compiler/ir/primitives.h"

#include "compiler/ir/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace cella::ir {

namespace {

PrimParam int_param(std::string name, std::optional<std::int64_t> def, std::int64_t min = 1) {
  PrimParam p{std::move(name), ParamType::Int, std::nullopt, false, min, 1e9};
  if (def) p.default_value = Scalar{*def};
  return p;
}
PrimParam out_param() {
  PrimParam p{"out", ParamType::Int, std::nullopt, true, 1, 1e9};
  return p;
}
PrimParam bool_param(std::string name, bool def) {
  return PrimParam{std::move(name), ParamType::Bool, Scalar{def}, false, 0, 1};
}
PrimParam float_param(std::string name, double def, double max) {
  return PrimParam{std::move(name), ParamType::Float, Scalar{def}, false, 0, max};
}

PrimParam odd(PrimParam p) {
  p.odd = true;
  return p;
}
PrimParam elastic(PrimParam p) {
  p.elastic = true;
  return p;
}

std::vector<Primitive> make_table() {
  auto pad = [] { return int_param("pad", std::nullopt, 0); };  // derived from k and dilation
  return {
      {"zero",
       "outputs zeros (the `none` candidate); with stride s, of 1/s the resolution",
       {int_param("stride", 1)},
       PrimKind::Zero},
      {"identity", "passes the input through", {}, PrimKind::Identity},
      {"skip",
       "identity at stride 1 and equal channels, otherwise a factorized reduce",
       {int_param("stride", 1), out_param()},
       PrimKind::Other},
      {"relu", "rectified linear unit", {}, PrimKind::Other},
      {"relu6", "ReLU clipped at 6", {}, PrimKind::Other},
      {"hswish", "hard swish", {}, PrimKind::Other},
      {"swish", "swish, x times its sigmoid (SiLU)", {}, PrimKind::Other},
      {"sigmoid", "logistic sigmoid", {}, PrimKind::Other},
      {"bn", "batch normalisation (affine in stand-alone networks, not in supernets)", {}, PrimKind::Other},
      {"search_bn",
       "a non-affine batch normalisation in supernets only; stand-alone networks leave it out (DARTS' search cell "
       "follows pooling with one, its evaluation network does not)",
       {},
       PrimKind::Other},
      {"conv",
       "2-d convolution",
       {int_param("k", std::nullopt), out_param(), int_param("stride", 1), pad(), int_param("dilation", 1),
        int_param("groups", 1), bool_param("bias", false)},
       PrimKind::Other},
      {"conv_1xk_kx1",
       "a 1xk convolution striding along the width, then a kx1 one striding along the height (NASNet's \"1x7 then "
       "7x1\"; DARTS' conv_7x1_1x7)",
       {int_param("k", std::nullopt), out_param(), int_param("stride", 1)},
       PrimKind::Other},
      {"dwconv",
       "depthwise 2-d convolution",
       {int_param("k", std::nullopt), int_param("stride", 1), pad(), int_param("dilation", 1)},
       PrimKind::Other},
      {"avg_pool",
       "average pooling (padding excluded from the average)",
       {int_param("k", std::nullopt), int_param("stride", 1), pad(), bool_param("count_include_pad", false)},
       PrimKind::Other},
      {"max_pool", "max pooling", {int_param("k", std::nullopt), int_param("stride", 1), pad()}, PrimKind::Other},
      {"global_avg_pool", "averages over the spatial dimensions and flattens", {}, PrimKind::Other},
      {"linear",
       "fully connected layer on a flattened input",
       {out_param(), bool_param("bias", true)},
       PrimKind::Other},
      {"dropout", "dropout with probability p", {float_param("p", 0.0, 1.0)}, PrimKind::Other},
      {"factorized_reduce",
       "halves the resolution with two offset 1x1 convolutions (DARTS)",
       {out_param()},
       PrimKind::Other},
      {"resblock",
       "ResNet basic block (NAS-Bench-201's reduction block)",
       {out_param(), int_param("stride", 1)},
       PrimKind::Other},
      {"mbconv",
       "MobileNetV2 inverted residual: expand 1x1, depthwise kxk, project 1x1",
       {int_param("k", std::nullopt), int_param("e", std::nullopt), out_param(), int_param("stride", 1),
        bool_param("se", false)},
       PrimKind::Other},
      {"mbv3",
       "MobileNetV3 inverted residual as Once-for-All builds it: 1x1 expand to make_divisible(in*e, 8) (none at e = "
       "1), BN, act; kxk depthwise, BN, act; squeeze-and-excitation with `se`; 1x1 project, BN; identity shortcut at "
       "stride 1 and equal widths; act is ReLU, h-swish with `hswish` or swish with `swish`. `k` and `e` may be lists: "
       "an elastic layer, whose smaller kernels are the largest's centre through OFA's learnt transformation "
       "(`transform`) or as they are (BigNAS)",
       {elastic(odd(int_param("k", std::nullopt))), elastic(int_param("e", std::nullopt)), out_param(),
        int_param("stride", 1), bool_param("se", false), bool_param("hswish", false), bool_param("swish", false),
        bool_param("transform", true)},
       PrimKind::Other},
  };
}

std::int64_t conv_out(std::int64_t hw, std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d) {
  return std::max<std::int64_t>(1, (hw + 2 * p - d * (k - 1) - 1) / s + 1);
}

}  // namespace

const Scalar* PrimCall::arg(std::string_view name) const {
  for (const auto& [n, v] : args)
    if (n == name) return &v;
  return nullptr;
}

std::int64_t PrimCall::int_arg(std::string_view name, std::int64_t fallback) const {
  const Scalar* s = arg(name);
  if (!s) return fallback;
  if (auto* i = std::get_if<std::int64_t>(s)) return *i;
  if (auto* b = std::get_if<bool>(s)) return *b;
  return static_cast<std::int64_t>(std::get<double>(*s));
}

double PrimCall::float_arg(std::string_view name, double fallback) const {
  const Scalar* s = arg(name);
  if (!s) return fallback;
  if (auto* d = std::get_if<double>(s)) return *d;
  if (auto* i = std::get_if<std::int64_t>(s)) return static_cast<double>(*i);
  return std::get<bool>(*s) ? 1.0 : 0.0;
}

bool PrimCall::bool_arg(std::string_view name, bool fallback) const {
  const Scalar* s = arg(name);
  if (!s) return fallback;
  if (auto* b = std::get_if<bool>(s)) return *b;
  return int_arg(name, 0) != 0;
}

void PrimCall::set(const std::string& name, Scalar value) {
  for (auto& [n, v] : args)
    if (n == name) {
      v = value;
      return;
    }
  args.emplace_back(name, value);
}

namespace {
std::vector<Primitive>& table() {
  static std::vector<Primitive> t = make_table();
  return t;
}
}  // namespace

const std::vector<Primitive>& primitives() { return table(); }

bool add_primitive(Primitive p) {
  if (find_primitive(p.name)) return false;
  table().push_back(std::move(p));
  return true;
}

const Primitive* find_primitive(std::string_view name) {
  for (const Primitive& p : primitives())
    if (p.name == name) return &p;
  return nullptr;
}

namespace {
std::vector<std::string>& criteria_table() {
  static std::vector<std::string> t{"gradient_match"};
  return t;
}
}  // namespace

const std::vector<std::string>& split_criteria() { return criteria_table(); }

bool add_split_criterion(const std::string& name) {
  auto& t = criteria_table();
  if (std::find(t.begin(), t.end(), name) != t.end()) return false;
  t.push_back(name);
  return true;
}

namespace {
std::vector<std::string>& strategies_table() {
  static std::vector<std::string> t;
  return t;
}
}  // namespace

const std::vector<std::string>& plugin_strategies() { return strategies_table(); }

bool add_split_strategy(const std::string& name) {
  auto& t = strategies_table();
  if (plan_value<SplitStrategy>(name) || std::find(t.begin(), t.end(), name) != t.end()) return false;
  t.push_back(name);
  return true;
}

namespace {
// The training methods a plan may name: path sampling (`sampler NAME`) and weighted ones
// (`weights NAME`); the runtime's methods.def has the same built-in names (a test checks it).
std::vector<std::string>& methods_table(bool samples_paths) {
  static std::vector<std::string> paths{"uniform", "sandwich", "progressive_shrinking"},
      weights{"darts", "gdas", "snas", "proxyless"};
  return samples_paths ? paths : weights;
}
}  // namespace

const std::vector<std::string>& training_methods(bool samples_paths) { return methods_table(samples_paths); }

bool is_weights_method(const std::string& method) {
  const auto& weighted = training_methods(false);
  return std::find(weighted.begin(), weighted.end(), method) != weighted.end();
}

bool add_training_method(const std::string& name, bool samples_paths) {
  for (bool kind : {true, false}) {
    const auto& t = methods_table(kind);
    if (std::find(t.begin(), t.end(), name) != t.end()) return false;
  }
  methods_table(samples_paths).push_back(name);
  return true;
}

std::string add_primitives_from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return "the signature list is not a JSON array";
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return "a signature has no \"name\"";
    if (e.value("kind", std::string()) == "criterion") {
      if (!add_split_criterion(e["name"].get<std::string>()))
        return "split criterion '" + e["name"].get<std::string>() + "' is registered twice";
      continue;
    }
    if (e.value("kind", std::string()) == "strategy") {
      if (!add_split_strategy(e["name"].get<std::string>()))
        return "split strategy '" + e["name"].get<std::string>() + "' is registered twice";
      continue;
    }
    if (e.value("kind", std::string()) == "method") {
      if (!add_training_method(e["name"].get<std::string>(), e.value("samples_paths", false)))
        return "training method '" + e["name"].get<std::string>() + "' is registered twice";
      continue;
    }
    Primitive p;
    p.name = e["name"].get<std::string>();
    p.summary = e.value("summary", std::string("(plugin)"));
    for (const auto& q : e.value("params", nlohmann::json::array())) {
      PrimParam pp;
      pp.name = q.value("name", std::string());
      std::string type = q.value("type", std::string("int"));
      pp.type = type == "float" ? ParamType::Float : type == "bool" ? ParamType::Bool : ParamType::Int;
      pp.from_input = q.value("from_input", false);
      pp.min = pp.type == ParamType::Int ? q.value("min", std::int64_t{1}) : 0;
      pp.max = q.value("max", 1e18);
      if (q.contains("default")) {
        const auto& d = q["default"];
        if (d.is_boolean())
          pp.default_value = Scalar{d.get<bool>()};
        else if (d.is_number_integer())
          pp.default_value = Scalar{d.get<std::int64_t>()};
        else if (d.is_number())
          pp.default_value = Scalar{d.get<double>()};
      }
      if (pp.name.empty()) return "a parameter of '" + p.name + "' has no name";
      p.params.push_back(pp);
    }
    for (const auto& t : e.value("cost", nlohmann::json::array())) {
      CostTerm term;
      if (!t.is_object() || t.size() < 1)
        return "a cost term of '" + p.name + "' is not an object like {\"conv\": \"k\"}";
      if (t.contains("conv") || t.contains("dwconv")) {
        term.kind = t.contains("conv") ? CostTerm::Kind::Conv : CostTerm::Kind::DwConv;
        const auto& k = t.contains("conv") ? t["conv"] : t["dwconv"];
        term.kernel = k.is_string() ? k.get<std::string>() : "";
        if (!term.kernel.empty() &&
            std::none_of(p.params.begin(), p.params.end(), [&](const PrimParam& q) { return q.name == term.kernel; }))
          return "the cost of '" + p.name + "' names a kernel parameter '" + term.kernel + "' it does not have";
      } else if (t.contains("bn")) {
        term.kind = CostTerm::Kind::Bn;
      } else if (t.contains("linear")) {
        term.kind = CostTerm::Kind::Linear;
      } else {
        return "a cost term of '" + p.name + "' is none of conv, dwconv, bn, linear";
      }
      term.bias = t.value("bias", false);
      p.cost.push_back(term);
    }
    if (!add_primitive(p)) return "operation '" + p.name + "' is registered twice";
  }
  return "";
}

std::string load_plugin_signatures(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!h) return fmt::format("cannot load plugin {}: {}", path, dlerror());
  using Fn = const char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(h, "cella_plugin_signatures"));
  if (!fn) return fmt::format("plugin {} has no function `extern \"C\" const char* cella_plugin_signatures()`", path);
  std::string err = add_primitives_from_json(fn());
  return err.empty() ? "" : fmt::format("plugin {}: {}", path, err);
}

std::int64_t make_divisible(double v, std::int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  auto rounded = std::max(divisor, static_cast<std::int64_t>(v + d / 2) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * v) rounded += divisor;
  return rounded;
}

std::int64_t mbv3_mid(std::int64_t in, std::int64_t e) {
  return make_divisible(std::round(static_cast<double>(in * e)));
}

std::int64_t mbv3_se_mid(std::int64_t mid) { return make_divisible(static_cast<double>(mid / 4)); }

void fill_derived(PrimCall& call) {
  const Primitive* p = find_primitive(call.prim);
  if (!p) return;
  bool has_pad = std::any_of(p->params.begin(), p->params.end(), [](const PrimParam& q) { return q.name == "pad"; });
  if (has_pad && !call.arg("pad")) {
    std::int64_t k = call.int_arg("k", 1), d = call.int_arg("dilation", 1);
    call.set("pad", Scalar{d * (k - 1) / 2});
  }
}

std::variant<Shape, std::string> infer_shape(const PrimCall& c, const Shape& in) {
  Shape out = in;
  const std::string& p = c.prim;
  if (p == "linear") {
    if (!in.flat) return std::string("linear needs a flattened input; put global_avg_pool before it");
    out.channels = c.int_arg("out", in.channels);
    return out;
  }
  if (p == "global_avg_pool") {
    out.flat = true;
    return out;
  }
  bool spatial = p != "relu" && p != "relu6" && p != "hswish" && p != "swish" && p != "sigmoid" && p != "bn" &&
                 p != "search_bn" && p != "dropout" && p != "identity";
  if (spatial && in.flat)
    return fmt::format("{} needs a spatial input, but the tensor was already pooled to a vector", p);
  std::int64_t stride = c.int_arg("stride", 1);
  if (p == "factorized_reduce") stride = 2;
  out.reduction = in.reduction * stride;
  if (c.arg("out")) out.channels = c.int_arg("out", in.channels);
  if (p == "conv") {
    std::int64_t g = c.int_arg("groups", 1);
    if (in.channels % g != 0 || out.channels % g != 0)
      return fmt::format("groups={} must divide the input ({}) and output ({}) channels", g, in.channels, out.channels);
  }
  if (p == "factorized_reduce" && out.channels % 2 != 0)
    return fmt::format("factorized_reduce needs an even number of output channels, got {}", out.channels);
  if (p == "skip" && (stride != 1 || out.channels != in.channels) && out.channels % 2 != 0)
    return fmt::format("skip with stride {} becomes a factorized reduce, which needs an even channel count, got {}",
                       stride, out.channels);
  return out;
}

PrimKind effective_kind(const PrimCall& call, std::int64_t in_channels) {
  const Primitive* p = find_primitive(call.prim);
  if (!p) return PrimKind::Other;
  if (call.prim == "skip")
    return call.int_arg("stride", 1) == 1 && call.int_arg("out", in_channels) == in_channels ? PrimKind::Identity
                                                                                             : PrimKind::Other;
  return p->kind;
}

bool is_windowed(const PrimCall& c) {
  return c.prim == "conv" || c.prim == "dwconv" || c.prim == "avg_pool" || c.prim == "max_pool";
}

std::int64_t out_size(const PrimCall& c, std::int64_t hw) {
  const std::string& p = c.prim;
  if (p == "global_avg_pool") return 1;
  std::int64_t s = c.int_arg("stride", 1);
  if (is_windowed(c)) return conv_out(hw, c.int_arg("k", 1), s, c.int_arg("pad", 0), c.int_arg("dilation", 1));
  if (p == "conv_1xk_kx1") return conv_out(hw, c.int_arg("k", 1), s, c.int_arg("k", 1) / 2, 1);
  if (p == "factorized_reduce") return (hw + 1) / 2;
  return (hw + s - 1) / s;  // zero, skip, resblock, mbconv, mbv3, and plugins' `stride`
}

Cost cost(const PrimCall& c, const Shape& in, std::int64_t hw, bool affine) {
  Cost r;
  const std::string& p = c.prim;
  std::int64_t cin = in.channels, cout = c.int_arg("out", cin);
  std::int64_t ohw = out_size(c, hw);
  auto conv = [&](std::int64_t ci, std::int64_t co, std::int64_t k, std::int64_t g, std::int64_t size) {
    std::int64_t w = co * (ci / g) * k * k;
    r.params += w;
    r.macs += w * size * size;
  };
  auto bn = [&](std::int64_t ch) { r.params += affine ? 2 * ch : 0; };
  if (p == "conv") {
    conv(cin, cout, c.int_arg("k", 1), c.int_arg("groups", 1), ohw);
    if (c.bool_arg("bias", false)) r.params += cout;
  } else if (p == "conv_1xk_kx1") {
    // 1 x k at the input's height and the output's width, then k x 1 at the output's size.
    const std::int64_t k = c.int_arg("k", 1);
    r.params += cout * cin * k + cout * cout * k;
    r.macs += cout * cin * k * hw * ohw + cout * cout * k * ohw * ohw;
  } else if (p == "dwconv") {
    conv(cin, cin, c.int_arg("k", 1), cin, ohw);
  } else if (p == "bn" || p == "search_bn") {
    bn(cin);
  } else if (p == "linear") {
    r.params += cin * cout + (c.bool_arg("bias", true) ? cout : 0);
    r.macs += cin * cout;
  } else if (p == "factorized_reduce" || (p == "skip" && effective_kind(c, cin) != PrimKind::Identity)) {
    conv(cin, cout / 2, 1, 1, ohw);
    conv(cin, cout / 2, 1, 1, ohw);
    bn(cout);
  } else if (p == "resblock") {
    std::int64_t s = c.int_arg("stride", 1);
    auto bn = [&](std::int64_t ch) { r.params += 2 * ch; };
    conv(cin, cout, 3, 1, ohw);
    bn(cout);
    conv(cout, cout, 3, 1, ohw);
    bn(cout);
    if (s == 2) {
      conv(cin, cout, 1, 1, ohw);
    } else if (cin != cout) {
      conv(cin, cout, 1, 1, ohw);
      bn(cout);
    }
  } else if (p == "mbconv") {
    std::int64_t mid = cin * c.int_arg("e", 1);
    if (mid != cin) {
      conv(cin, mid, 1, 1, hw);
      bn(mid);
    }
    conv(mid, mid, c.int_arg("k", 3), mid, ohw);
    bn(mid);
    if (c.bool_arg("se", false)) {
      std::int64_t red = std::max<std::int64_t>(8, mid / 4);
      r.params += mid * red + red + red * mid + mid;
      r.macs += 2 * mid * red;
    }
    conv(mid, cout, 1, 1, ohw);
    bn(cout);
  } else if (p == "mbv3") {
    // As Once-for-All's flops counter counts (ofa/utils/flops_counter.py): the convolutions'
    // multiply-accumulates, the squeeze-and-excitation's two 1x1 convolutions at 1x1; not batch
    // norms, activations, biases or the pooling. Parameters include biases and BN's γ and β.
    const std::int64_t e = c.int_arg("e", 1), mid = e == 1 ? cin : mbv3_mid(cin, e);
    if (e != 1) {
      conv(cin, mid, 1, 1, hw);
      bn(mid);
    }
    conv(mid, mid, c.int_arg("k", 3), mid, ohw);
    bn(mid);
    if (c.bool_arg("se", false)) {
      const std::int64_t se = mbv3_se_mid(mid);
      r.params += mid * se + se + se * mid + mid;
      r.macs += 2 * mid * se;
    }
    conv(mid, cout, 1, 1, ohw);
    bn(cout);
  } else if (const Primitive* plugin = find_primitive(p)) {
    for (const CostTerm& t : plugin->cost) {
      std::int64_t k = t.kernel.empty() ? 1 : c.int_arg(t.kernel, 1);
      if (t.kind == CostTerm::Kind::Conv) conv(cin, cout, k, 1, ohw);
      if (t.kind == CostTerm::Kind::DwConv) conv(cin, cin, k, cin, ohw);
      if (t.kind == CostTerm::Kind::Bn) bn(cout);
      if (t.kind == CostTerm::Kind::Linear) {
        r.params += cin * cout;
        r.macs += cin * cout;
      }
      if (t.bias && (t.kind == CostTerm::Kind::Conv || t.kind == CostTerm::Kind::Linear)) r.params += cout;
    }
  }
  return r;
}

std::string to_string(const Scalar& s) {
  if (auto* i = std::get_if<std::int64_t>(&s)) return std::to_string(*i);
  if (auto* b = std::get_if<bool>(&s)) return *b ? "true" : "false";
  return fmt::format("{}", std::get<double>(s));
}

std::string to_string(const PrimCall& call) {
  std::string s = call.prim;
  if (call.args.empty()) return s;
  s += "(";
  for (std::size_t i = 0; i < call.args.size(); ++i) {
    // Not a structured binding: clang 14 (Debian 12's, the fuzzer's) cannot capture one.
    const std::string& name = call.args[i].first;
    const auto& value = call.args[i].second;
    auto dim =
        std::find_if(call.elastic.begin(), call.elastic.end(), [&](const ElasticDim& d) { return d.param == name; });
    s += (i ? ", " : "") + name + "=" +
         (dim == call.elastic.end() ? to_string(value) : fmt::format("[{}]", fmt::join(dim->values, ", ")));
  }
  return s + ")";
}

}  // namespace cella::ir
