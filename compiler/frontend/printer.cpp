// AST printer: canonical .cella text, one statement per line, minimal parentheses.
#include "compiler/frontend/printer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cella::frontend {

namespace {

using ast::BinaryOp;
using ast::ExprKind;

// Binding strength, mirroring the order of the `expr` alternatives in Cella.g4.
int precedence(const ast::Expr& e) {
  switch (e.kind) {
    case ExprKind::Neg: return 9;
    case ExprKind::Not: return 4;
    case ExprKind::Range: return 6;
    case ExprKind::Binary:
      switch (e.op) {
        case BinaryOp::Mul:
        case BinaryOp::Div:
        case BinaryOp::Mod: return 8;
        case BinaryOp::Add:
        case BinaryOp::Sub: return 7;
        case BinaryOp::Lt:
        case BinaryOp::Le:
        case BinaryOp::Gt:
        case BinaryOp::Ge:
        case BinaryOp::Eq:
        case BinaryOp::Ne: return 5;
        case BinaryOp::And: return 3;
        case BinaryOp::Or: return 2;
        case BinaryOp::Seq: return 1;
      }
      return 0;
    default: return 10;
  }
}

std::string_view op_text(BinaryOp op) {
  switch (op) {
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Lt: return "<";
    case BinaryOp::Le: return "<=";
    case BinaryOp::Gt: return ">";
    case BinaryOp::Ge: return ">=";
    case BinaryOp::Eq: return "==";
    case BinaryOp::Ne: return "!=";
    case BinaryOp::And: return "and";
    case BinaryOp::Or: return "or";
    case BinaryOp::Seq: return ">>";
  }
  return "?";
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\t') {
      out += "\\t";
      continue;
    }
    out.push_back(c);
  }
  return out + "\"";
}

std::string wrap(const ast::Expr& e, int min_prec) {
  std::string s = print(e);
  return precedence(e) < min_prec ? "(" + s + ")" : s;
}

std::string print_item(const ast::ListItem& item) {
  std::string s = print(*item.value);
  if (!item.alias.empty()) s += " as " + (item.alias_is_template ? quote(item.alias) : item.alias);
  return s;
}

std::string print_params(const std::vector<ast::Param>& params) {
  std::string s = "(";
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i) s += ", ";
    s += params[i].name;
    if (params[i].default_value) s += " = " + print(*params[i].default_value);
  }
  return s + ")";
}

void print_block(std::string& out, const ast::Block& b, int indent) {
  out += "{\n";
  for (const ast::Setting& s : b.settings) {
    out.append(static_cast<std::size_t>(indent + 2), ' ');
    out += s.name;
    if (s.value) {
      out += ' ';
      out += print(*s.value);
    }
    if (s.block) {
      out += " ";
      print_block(out, *s.block, indent + 2);
    } else {
      out += "\n";
    }
  }
  out += std::string(indent, ' ') + "}\n";
}

std::string print_combine(const ast::CellStmt& s) {
  std::string modes = fmt::format("{}", fmt::join(s.combine, ", "));
  return "combine " + (s.combine_list ? "[" + modes + "]" : modes);
}

std::string print_cell_stmt(const ast::CellStmt& s) {
  using K = ast::CellStmtKind;
  switch (s.kind) {
    case K::Inputs: return "inputs " + print(*s.a);
    case K::Nodes: return "nodes " + print(*s.a) + (s.b ? " : " + print(*s.b) : "");
    case K::Node: {
      std::string r = "node " + print(*s.a) + (s.b ? " : " + print(*s.b) : "");
      if (!s.combine.empty()) r += " " + print_combine(s);
      if (s.node_select) r += " select " + print(*s.node_select);
      return r;
    }
    case K::Edge:
      return "edge " + print(*s.a) + " -> " + print(*s.b) + " : " + print(*s.c) + (s.optional ? " optional" : "");
    case K::EdgesAll: return "edges all : " + print(*s.c) + (s.optional ? " optional" : "");
    case K::Combine: return print_combine(s);
    case K::Select: return "select " + print(*s.a);
    case K::Output: return "output " + print(*s.a);
    case K::Reduction: return "reduction";
    case K::Constraint: return "constraint " + print(*s.a);
  }
  return "";
}

std::string print_net_stmt(const ast::NetStmt& s) {
  using K = ast::NetStmtKind;
  switch (s.kind) {
    case K::Stem: return "stem " + print(*s.value);
    case K::Layer: return "layer " + print(*s.value);
    case K::Head: return "head " + print(*s.value);
    case K::Auxiliary: return "auxiliary " + print(*s.value) + (s.weight ? " weight " + print(*s.weight) : "");
    case K::Share: return "share " + s.name;
    case K::Resolution: return "resolution " + print(*s.value) + (s.step ? " step " + print(*s.step) : "");
    case K::Stage: {
      std::string r = "stage " + (s.call ? print(*s.call) : s.name);
      if (s.depth) r += " * " + wrap(*s.depth, 10);
      if (s.width) r += " width " + print(*s.width);
      if (s.stride) r += " stride " + print(*s.stride);
      return r;
    }
  }
  return "";
}

}  // namespace

std::string print(const ast::Expr& e) {
  switch (e.kind) {
    case ExprKind::Int: return e.text.empty() ? std::to_string(e.int_value) : e.text;
    case ExprKind::Float: return e.text.empty() ? fmt::format("{}", e.float_value) : e.text;
    case ExprKind::String: return quote(e.text);
    case ExprKind::Bool: return e.bool_value ? "true" : "false";
    case ExprKind::Name: return e.text;
    case ExprKind::Call: {
      std::string s = e.text + "(";
      for (std::size_t i = 0; i < e.args.size(); ++i) {
        if (i) s += ", ";
        if (!e.args[i].name.empty()) s += e.args[i].name + " = ";
        s += print(*e.args[i].value);
      }
      return s + ")";
    }
    case ExprKind::Neg: return "-" + wrap(*e.operands[0], 9);
    case ExprKind::Not: return "not " + wrap(*e.operands[0], 4);
    case ExprKind::Range: return wrap(*e.operands[0], 7) + ".." + wrap(*e.operands[1], 7);
    case ExprKind::Binary: {
      int p = precedence(e);
      return wrap(*e.operands[0], p) + " " + std::string(op_text(e.op)) + " " + wrap(*e.operands[1], p + 1);
    }
    case ExprKind::List: {
      std::string s = "[";
      for (std::size_t i = 0; i < e.items.size(); ++i) s += (i ? ", " : "") + print_item(e.items[i]);
      return s + "]";
    }
    case ExprKind::Comprehension: {
      std::string s = "[" + print_item(e.items[0]) + " for ";
      for (std::size_t i = 0; i < e.generators.size(); ++i)
        s += (i ? ", " : "") + e.generators[i].var + " in " + print(*e.generators[i].domain);
      return s + "]";
    }
  }
  return "";
}

std::string print(const ast::File& file) {
  std::string out;
  bool first = true;
  for (const ast::Decl& d : file.decls) {
    if (!first && d.kind != ast::Decl::Kind::Import) out += "\n";
    first = false;
    switch (d.kind) {
      case ast::Decl::Kind::Import:
        out += "import " + (d.import->is_file ? quote(d.import->path) : d.import->path) + "\n";
        break;
      case ast::Decl::Kind::Op:
        out += "op " + d.op->name + (d.op->has_param_list ? print_params(d.op->params) : "") + " = " +
               print(*d.op->body) + "\n";
        break;
      case ast::Decl::Kind::Opset: out += "opset " + d.opset->name + " = " + print(*d.opset->value) + "\n"; break;
      case ast::Decl::Kind::Cell:
        out += "cell " + d.cell->name + (d.cell->base.empty() ? "" : " : " + d.cell->base) + " {\n";
        for (const auto& s : d.cell->stmts) out += "  " + print_cell_stmt(s) + "\n";
        out += "}\n";
        break;
      case ast::Decl::Kind::Network:
        out +=
            "network " + d.network->name + (d.network->has_param_list ? print_params(d.network->params) : "") + " {\n";
        for (const auto& s : d.network->stmts) out += "  " + print_net_stmt(s) + "\n";
        out += "}\n";
        break;
      case ast::Decl::Kind::Search:
        out += "search " + d.search->name + " on " + d.search->network + " ";
        print_block(out, d.search->body, 0);
        break;
    }
  }
  return out;
}

}  // namespace cella::frontend
