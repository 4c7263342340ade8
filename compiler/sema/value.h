// Values of cella expressions during semantic analysis: numbers, lists and operations that are
// not yet placed (closures that expand to primitive sequences once stride and width are known).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compiler/diag/source.h"
#include "compiler/frontend/ast.h"

namespace cella::sema {

struct Value;

/// A callee: a built-in primitive or an `op` declared in a .cella file.
struct Callee {
  std::string name;
  const ast::OpDecl* composite = nullptr;  ///< null for primitives
};

/// One step of an operation value: a callee with the arguments written at the call site.
struct OpStep {
  Callee callee;
  std::vector<std::pair<std::string, Value>> args;  ///< name empty: positional
  diag::SourceRange range;
};

/// An operation not yet expanded: `relu >> conv(3)`.
struct OpValue {
  std::vector<OpStep> steps;
};

struct Value {
  enum class Kind { Int, Float, Bool, String, List, Op } kind = Kind::Int;
  std::int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;                               ///< String
  std::vector<Value> list;                     ///< List
  std::vector<std::string> names;              ///< List: display name of each element (ops in an opset)
  std::vector<diag::SourceRange> item_ranges;  ///< List: where each element was written
  std::shared_ptr<OpValue> op;                 ///< Op
  diag::SourceRange range;

  Value() = default;
  static Value make_int(std::int64_t v, diag::SourceRange r = {}) { return Value(v, r); }
  static Value make_float(double v, diag::SourceRange r = {}) { return Value(v, r); }
  static Value make_bool(bool v, diag::SourceRange r = {}) { return Value(v, r); }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  double number() const { return kind == Kind::Int ? static_cast<double>(i) : f; }

 private:
  // Behind make_*, whose names say the kind: a literal argument here would be ambiguous.
  Value(std::int64_t v, diag::SourceRange r) : kind(Kind::Int), i(v), range(r) {}
  Value(double v, diag::SourceRange r) : kind(Kind::Float), f(v), range(r) {}
  Value(bool v, diag::SourceRange r) : kind(Kind::Bool), b(v), range(r) {}
};

std::string kind_word(Value::Kind k);
/// Source-like text of a value (`3`, `[1, 2]`, `nor_conv(3)`).
std::string to_text(const Value& v);

}  // namespace cella::sema
