// Small helpers on the IR types.
#include "compiler/ir/ir.h"

#include <fmt/format.h>

#include <algorithm>

namespace cella::ir {

bool Op::is_zero(std::int64_t in_channels) const {
  return seq.size() == 1 && effective_kind(seq[0], in_channels) == PrimKind::Zero;
}

bool Op::is_identity(std::int64_t in_channels) const {
  if (seq.empty()) return true;
  for (const PrimCall& c : seq)
    if (effective_kind(c, in_channels) != PrimKind::Identity) return false;
  return true;
}

std::variant<Shape, std::string> Op::shape(Shape in) const {
  for (const PrimCall& c : seq) {
    auto r = infer_shape(c, in);
    if (auto* err = std::get_if<std::string>(&r)) return *err;
    in = std::get<Shape>(r);
  }
  return in;
}

std::string Op::expansion() const {
  if (seq.empty()) return "identity";
  std::string s;
  for (std::size_t i = 0; i < seq.size(); ++i) s += (i ? " >> " : "") + to_string(seq[i]);
  return s;
}

Op at_width(const Op& op, std::int64_t largest, std::int64_t width) {
  Op out = op;
  if (width == largest) return out;
  for (PrimCall& c : out.seq)
    if (c.arg("out") && c.int_arg("out", 0) == largest) c.set("out", Scalar{width});
  return out;
}

void Cell::reindex() {
  edges.assign(boost::num_edges(graph), EdgeDesc{});
  for (auto [it, end] = boost::edges(graph); it != end; ++it) edges[graph[*it].index] = *it;
}

std::string_view combine_name(Combine mode) { return mode == Combine::Sum ? "sum" : "concat"; }

std::optional<Combine> combine_named(std::string_view word) {
  for (Combine c : {Combine::Sum, Combine::Concat})
    if (combine_name(c) == word) return c;
  return std::nullopt;
}

std::string combine_names(const std::vector<Combine>& modes) {
  std::string s;
  for (std::size_t i = 0; i < modes.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", combine_name(modes[i]));
  return s;
}

std::string Cell::edge_name(int i) const { return fmt::format("{}<-{}", target(i), source(i)); }

int Cell::find_edge(int src, int dst) const {
  if (src < 0 || dst < 0 || src >= num_nodes() || dst >= num_nodes()) return -1;
  auto [e, found] = boost::edge(static_cast<Vertex>(src), static_cast<Vertex>(dst), graph);
  return found ? graph[e].index : -1;
}

std::vector<int> Cell::in_edges(int v) const {
  std::vector<int> out;
  for (auto [it, end] = boost::in_edges(static_cast<Vertex>(v), graph); it != end; ++it)
    out.push_back(graph[*it].index);
  std::sort(out.begin(), out.end());  // index order is source order for a fixed target
  return out;
}

int Program::find_cell(std::string_view name) const {
  for (std::size_t i = 0; i < cells.size(); ++i)
    if (cells[i].props().name == name) return static_cast<int>(i);
  return -1;
}

}  // namespace cella::ir
