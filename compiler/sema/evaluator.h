// Evaluates expressions and expands operation values into IR ops, reporting errors as it goes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/ir/ir.h"
#include "compiler/sema/value.h"

namespace cella::sema {

/// The top-level names of a compilation (all files, imports merged).
struct Globals {
  std::map<std::string, const ast::OpDecl*, std::less<>> ops;
  std::map<std::string, const ast::OpsetDecl*, std::less<>> opsets;
  std::map<std::string, const ast::CellDecl*, std::less<>> cells;
  std::map<std::string, const ast::NetworkDecl*, std::less<>> networks;
  std::map<std::string, const ast::SearchDecl*, std::less<>> searches;
  /// Every name that may appear in an expression, for "did you mean".
  std::vector<std::string> expression_names() const;
};

/// Local variables: parameters and comprehension variables, innermost last.
using Env = std::vector<std::pair<std::string, Value>>;

/// Arguments the placement of an operation supplies when the operation has a parameter of that
/// name and the user did not give it: `stride` on reduction edges, `out` on chain layers.
struct Bindings {
  std::optional<std::int64_t> stride;
  std::optional<std::int64_t> out;
};

class Evaluator {
 public:
  Evaluator(const Globals& globals, diag::DiagnosticEngine& diags) : globals_(globals), diags_(diags) {}

  /// Evaluates `e`; nullopt after reporting an error.
  std::optional<Value> eval(const ast::Expr& e, const Env& env);
  /// Evaluates and requires an integer in [min, max]; `what` names the place for messages.
  std::optional<std::int64_t> eval_int(const ast::Expr& e, const Env& env, std::string_view what, std::int64_t min,
                                       std::int64_t max);
  /// Evaluates an opset-like expression: a list of operations, or a single operation.
  std::optional<Value> eval_ops(const ast::Expr& e, const Env& env);

  /// Expands an operation value into primitive calls. `site` is where the op is placed, for
  /// messages. Returns nullopt after reporting.
  std::optional<ir::Op> expand(const OpValue& op, const Bindings& bind, std::string name, diag::SourceRange site);
  /// Expands each element of an opset value. Elements that fail are left out (and reported).
  std::vector<ir::Op> expand_all(const Value& ops, const Bindings& bind);

  /// Whether the top-level callee of `op` accepts a parameter called `param`.
  bool accepts(const OpValue& op, std::string_view param) const;

  diag::DiagnosticEngine& diags() { return diags_; }

  /// Whether a list may be given to an elastic parameter (`mbv3(k = [3, 5, 7])`): only while a
  /// stage's body is expanded. Elsewhere such a list is reported.
  void allow_elastic(bool allow) { allow_elastic_ = allow; }

 private:
  std::optional<Value> eval_name(const ast::Expr& e, const Env& env);
  std::optional<Value> eval_call(const ast::Expr& e, const Env& env);
  std::optional<Value> eval_binary(const ast::Expr& e, const Env& env);
  std::optional<Value> eval_list(const ast::Expr& e, const Env& env);
  std::optional<Value> eval_comprehension(const ast::Expr& e, const Env& env);
  bool expand_step(const OpStep& step, const Bindings& bind, bool top, std::vector<ir::PrimCall>& out);
  void unknown_name(const std::string& name, diag::SourceRange range, bool want_op, const Env& env = {});
  // Checks an integer argument against its parameter's range and oddness; reports and returns false.
  bool int_fits(const ir::PrimParam& p, const ir::Primitive& prim, const Value& v);
  // The values of a list given to an elastic parameter, checked and increasing; nullopt after reporting.
  std::optional<ir::ElasticDim> elastic_dim(const ir::PrimParam& p, const ir::Primitive& prim, const Value& v);
  static std::string elastic_params_note();

  const Globals& globals_;
  diag::DiagnosticEngine& diags_;
  std::vector<std::string> expanding_;  // composite ops being expanded, to catch recursion
  int want_op_ = 0;                     // > 0 while evaluating a list of operations
  bool allow_elastic_ = false;
};

}  // namespace cella::sema
