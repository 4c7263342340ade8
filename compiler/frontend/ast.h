// The cella AST: what the Transformer builds from ANTLR's parse tree. Every node carries the
// SourceRange it came from, so later stages can point back at the .cella text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/diag/source.h"

namespace cella::ast {

using diag::SourceRange;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind { Int, Float, String, Bool, Name, Call, Neg, Not, Binary, List, Comprehension, Range };

enum class BinaryOp { Mul, Div, Mod, Add, Sub, Lt, Le, Gt, Ge, Eq, Ne, And, Or, Seq };

/// A call argument: positional when `name` is empty.
struct Arg {
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};

/// A list element, optionally renamed: `nor_conv(3) as nor_conv_3x3` or `... as "mb{e}_k{k}"`.
struct ListItem {
  ExprPtr value;
  std::string alias;
  bool alias_is_template = false;  // a quoted alias with {name} placeholders
  SourceRange alias_range;
};

/// A comprehension generator: `for k in [3, 5, 7]`.
struct Generator {
  std::string var;
  SourceRange var_range;
  ExprPtr domain;
};

/// One expression node; which fields are used depends on `kind`.
struct Expr {
  ExprKind kind;
  SourceRange range;
  std::int64_t int_value = 0;         // Int
  double float_value = 0;             // Float
  bool bool_value = false;            // Bool
  std::string text;                   // Name, Call (callee), String (unquoted), Int/Float (spelling)
  SourceRange name_range;             // Call: the callee's name
  BinaryOp op = BinaryOp::Add;        // Binary
  std::vector<ExprPtr> operands;      // Neg/Not: 1; Binary/Range: 2
  std::vector<Arg> args;              // Call
  std::vector<ListItem> items;        // List; Comprehension: exactly 1
  std::vector<Generator> generators;  // Comprehension
};

struct Param {
  std::string name;
  SourceRange range;
  ExprPtr default_value;  // may be null
};

struct ImportDecl {
  std::string path;  // dotted module name or a quoted file path
  bool is_file = false;
  SourceRange range;
};

struct OpDecl {
  std::string name;
  SourceRange name_range;
  std::vector<Param> params;
  bool has_param_list = false;
  ExprPtr body;
};

struct OpsetDecl {
  std::string name;
  SourceRange name_range;
  ExprPtr value;
};

enum class CellStmtKind { Inputs, Nodes, Node, Edge, EdgesAll, Combine, Select, Output, Reduction, Constraint };

struct CellStmt {
  CellStmtKind kind;
  SourceRange range;      // the keyword
  ExprPtr a, b, c;        // Inputs/Nodes/Select/Output/Constraint: a; Nodes: b = node ops;
                          // Node: a = nodes, b = ops; Edge: a -> b : c; EdgesAll: c
  bool optional = false;  // Edge, EdgesAll
  // Combine, and Node's `combine` option: the modes, more than one for a choice among them;
  // `combine_list`: written as a list (so printed back as one)
  std::vector<std::string> combine;
  std::vector<SourceRange> combine_ranges;
  bool combine_list = false;
  ExprPtr node_select;  // Node option
};

struct CellDecl {
  std::string name;
  SourceRange name_range;
  std::string base;
  SourceRange base_range;
  std::vector<CellStmt> stmts;
};

enum class NetStmtKind { Stem, Stage, Resolution, Layer, Head, Auxiliary, Share };

struct NetStmt {
  NetStmtKind kind;
  SourceRange range;
  ExprPtr value;     // Stem/Layer/Head/Auxiliary: the op expression; Resolution: the sizes
  std::string name;  // Stage: the cell/opset/op; Share: the mode
  SourceRange name_range;
  ExprPtr call;    // Stage: `name(args)` as a Call expression when the body has arguments (else null)
  ExprPtr step;    // Resolution: `step N` after a range (may be null)
  ExprPtr depth;   // Stage: `* depth` (may be null)
  ExprPtr width;   // Stage (may be null)
  ExprPtr stride;  // Stage (may be null)
  ExprPtr weight;  // Auxiliary: its loss weight (may be null)
};

struct NetworkDecl {
  std::string name;
  SourceRange name_range;
  std::vector<Param> params;
  bool has_param_list = false;
  std::vector<NetStmt> stmts;
};

struct Setting;
struct Block {
  SourceRange range;
  std::vector<Setting> settings;
};

/// `name value? { block }?` inside a search block.
struct Setting {
  std::string name;
  SourceRange name_range;
  ExprPtr value;                 // may be null
  std::unique_ptr<Block> block;  // may be null
};

struct SearchDecl {
  std::string name;
  SourceRange name_range;
  std::string network;
  SourceRange network_range;
  Block body;
};

/// One top-level declaration, in file order.
struct Decl {
  enum class Kind { Import, Op, Opset, Cell, Network, Search } kind;
  std::unique_ptr<ImportDecl> import;
  std::unique_ptr<OpDecl> op;
  std::unique_ptr<OpsetDecl> opset;
  std::unique_ptr<CellDecl> cell;
  std::unique_ptr<NetworkDecl> network;
  std::unique_ptr<SearchDecl> search;
};

/// A parsed file.
struct File {
  diag::FileId id = 0;
  std::vector<Decl> decls;
};

}  // namespace cella::ast
