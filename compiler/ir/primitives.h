// The primitive operations cella knows: their parameters, defaults and shape rules. Shared by
// the compiler (checks, counts, FLOPs) and the runtime (which builds a module per primitive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cella::ir {

/// A concrete argument value.
using Scalar = std::variant<std::int64_t, double, bool>;

enum class ParamType { Int, Float, Bool };

/// What a primitive does structurally; the canonicaliser and the counter rely on it.
enum class PrimKind {
  Zero,      ///< outputs zeros (the `none` operation)
  Identity,  ///< passes its input through
  Other,
};

struct PrimParam {
  std::string name;
  ParamType type;
  std::optional<Scalar> default_value;  ///< absent: required, unless `from_input`
  bool from_input = false;              ///< defaults to the input's channel count (`out`)
  std::int64_t min = 0;                 ///< smallest allowed value for Int parameters
  double max = 1e18;                    ///< largest allowed value
  bool odd = false;                     ///< Int: only odd values (a kernel with a centre)
  /// Int: may be given a list of values, which makes the operation elastic (docs/language.md,
  /// "Elastic layers"): one set of weights whose sub-shapes are the choices.
  bool elastic = false;
};

/// One elastic dimension of a call: a parameter given a list (`k = [3, 5, 7]`), its values
/// increasing. The call's own argument holds the largest, the shape its weights are made for.
struct ElasticDim {
  std::string param;
  std::vector<std::int64_t> values;
  bool operator==(const ElasticDim&) const = default;
};

/// A primitive applied with all its arguments resolved (channel defaults may stay unset).
struct PrimCall {
  std::string prim;
  std::vector<std::pair<std::string, Scalar>> args;
  /// Lists given to elastic parameters, until the network expands the call into one candidate
  /// per combination (sema; never set on an ir::Op of a built network).
  std::vector<ElasticDim> elastic;

  const Scalar* arg(std::string_view name) const;
  std::int64_t int_arg(std::string_view name, std::int64_t fallback) const;
  double float_arg(std::string_view name, double fallback) const;
  bool bool_arg(std::string_view name, bool fallback) const;
  void set(const std::string& name, Scalar value);
};

/// The part of a tensor's shape the compiler tracks: channels, how much the resolution has been
/// divided so far, and whether spatial dimensions were pooled away.
struct Shape {
  std::int64_t channels = 0;
  std::int64_t reduction = 1;
  bool flat = false;
  bool operator==(const Shape&) const = default;
};

/// One term of a plugin primitive's cost, from its signature's `"cost"` list: a `conv` of
/// `kernel` x `kernel` from the input's channels to `out` (`dwconv`: depthwise, on the input's
/// channels), a batch norm on `out` (`bn`), or a `linear` layer. Built-ins have their cost in
/// cost() instead.
struct CostTerm {
  enum class Kind { Conv, DwConv, Bn, Linear } kind = Kind::Conv;
  std::string kernel;  ///< the int parameter holding the kernel size (conv, dwconv); "" for 1
  bool bias = false;   ///< conv, linear: with a bias
};

struct Primitive {
  std::string name;
  std::string summary;
  std::vector<PrimParam> params;
  PrimKind kind = PrimKind::Other;
  std::vector<CostTerm> cost;  ///< plugins: what the module's parameters and MACs are

  Primitive() = default;
  Primitive(std::string name, std::string summary, std::vector<PrimParam> params, PrimKind kind,
            std::vector<CostTerm> cost = {})
      : name(std::move(name)),
        summary(std::move(summary)),
        params(std::move(params)),
        kind(kind),
        cost(std::move(cost)) {}
};

/// All primitives, in documentation order (built-ins, then any added by plugins).
const std::vector<Primitive>& primitives();
/// Adds a primitive (a plugin's); its shape follows the generic rule: `out` sets the channels,
/// `stride` divides the resolution (rounding up, as a padded convolution does). Returns false if
/// the name is taken.
bool add_primitive(Primitive p);
const Primitive* find_primitive(std::string_view name);

/// The split criteria a search plan may name (`criterion gradient_match`): the built-in one, then
/// any declared by plugins.
const std::vector<std::string>& split_criteria();
/// Declares a split criterion (a plugin's). Returns false if the name is taken.
bool add_split_criterion(const std::string& name);

/// The split strategies plugins declared (`split NAME`), after the built-in ones of plan.h.
const std::vector<std::string>& plugin_strategies();
/// Declares a split strategy (a plugin's). Returns false if the name is taken.
bool add_split_strategy(const std::string& name);

/// The training methods a search plan may name: with `samples_paths`, those for `sampler NAME`
/// (path sampling), otherwise those for `weights NAME`; built-ins first, then plugins'.
const std::vector<std::string>& training_methods(bool samples_paths);
/// Whether `method` is one for `weights NAME`: it learns architecture weights.
bool is_weights_method(const std::string& method);
/// Declares a training method (a plugin's). Returns false if the name is taken.
bool add_training_method(const std::string& name, bool samples_paths);

/// Adds the primitives described by a plugin's JSON signature list:
/// `[{"name": "gelu_conv", "summary": "...", "params": [{"name": "k", "type": "int"},
///   {"name": "out", "type": "int", "from_input": true}, {"name": "stride", "type": "int", "default": 1}],
///   "cost": [{"conv": "k"}, {"bn": true}]}]`. `cost` lists what the module holds (CostTerm), so
/// that `cella stats` counts it; without it the primitive counts as free. `"kind": "strategy"`
/// declares a split strategy.
/// An entry with `"kind": "method"` declares a training method (`"samples_paths": true` for a
/// `sampler`, else a `weights` method). An entry with `"kind": "criterion"` declares a split
/// criterion instead (`{"name":
/// "random_partition", "kind": "criterion"}`).
/// Returns an error message, or "" on success.
std::string add_primitives_from_json(const std::string& json_text);

/// Loads a plugin library's signatures (`extern "C" const char* cella_plugin_signatures()`)
/// without running any of its code that needs LibTorch. Returns an error message or "".
std::string load_plugin_signatures(const std::string& path);

/// Once-for-All's make_divisible(v, 8): `v` rounded to the nearest multiple of `divisor`, at
/// least `divisor`, and one multiple more where rounding took off more than a tenth of `v`.
std::int64_t make_divisible(double v, std::int64_t divisor = 8);

/// The middle width of an `mbv3` block on `in` channels at expansion `e`, OFA's
/// make_divisible(round(in·e), 8), and the hidden width of its squeeze-and-excitation on `mid`
/// channels, make_divisible(mid // 4, 8).
std::int64_t mbv3_mid(std::int64_t in, std::int64_t e);
std::int64_t mbv3_se_mid(std::int64_t mid);

/// Fills derived defaults that depend on other arguments (e.g. `pad` from `k` and `dilation`).
void fill_derived(PrimCall& call);

/// Output shape of a primitive call, or an error message when the input does not fit
/// (for example `linear` on an unpooled tensor).
std::variant<Shape, std::string> infer_shape(const PrimCall& call, const Shape& in);

/// Whether this call is structurally the identity / zero on an input of `in` channels.
PrimKind effective_kind(const PrimCall& call, std::int64_t in_channels);

/// Parameters and multiply-accumulates of one call on an input of `in` shape with spatial
/// size `hw` (height = width) before the call. Used by `cella stats` and the runtime's checks.
struct Cost {
  std::int64_t params = 0;
  std::int64_t macs = 0;
};
/// `affine`: whether batch norms inside the primitive have weights (not in supernets), except
/// the residual block's, which are affine everywhere as in the reference code.
Cost cost(const PrimCall& call, const Shape& in, std::int64_t hw, bool affine = true);

/// Whether a call slides a k×k window (`k`, `pad`, `dilation`) over its input: convolutions and
/// pooling, whose output size follows the window.
bool is_windowed(const PrimCall& call);

/// Spatial size after a call, given the size before it.
std::int64_t out_size(const PrimCall& call, std::int64_t hw);

std::string to_string(const Scalar& s);
std::string to_string(const PrimCall& call);

}  // namespace cella::ir
