// Cycles, reachability and topological order of cells, on Boost.Graph.
#include "compiler/ir/analysis.h"

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/reverse_graph.hpp>
#include <boost/graph/topological_sort.hpp>

namespace cella::ir {

namespace {

struct BackEdgeFinder : boost::default_dfs_visitor {
  std::optional<EdgeDesc>* found;
  explicit BackEdgeFinder(std::optional<EdgeDesc>* f) : found(f) {}
  void back_edge(EdgeDesc e, const CellGraph&) const {
    if (!*found) *found = e;
  }
};

template <class Graph>
std::vector<bool> reach(const Graph& g, const std::vector<int>& starts, int n) {
  std::vector<bool> seen(n, false);
  std::vector<int> stack(starts.begin(), starts.end());
  for (int s : starts) seen[s] = true;
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    for (auto [it, end] = boost::adjacent_vertices(static_cast<Vertex>(v), g); it != end; ++it) {
      int w = static_cast<int>(*it);
      if (!seen[w]) {
        seen[w] = true;
        stack.push_back(w);
      }
    }
  }
  return seen;
}

}  // namespace

std::optional<int> find_cycle(const Cell& cell) {
  std::optional<EdgeDesc> back;
  boost::depth_first_search(cell.graph, boost::visitor(BackEdgeFinder(&back)));
  if (!back) return std::nullopt;
  return cell.graph[*back].index;
}

std::vector<bool> reachable_from_inputs(const Cell& cell) {
  std::vector<int> starts;
  for (int v = 0; v < cell.props().inputs; ++v) starts.push_back(v);
  return reach(cell.graph, starts, cell.num_nodes());
}

std::vector<bool> reaches_output(const Cell& cell) {
  boost::reverse_graph<CellGraph> rev(cell.graph);
  return reach(rev, cell.props().output.nodes, cell.num_nodes());
}

std::vector<int> topological_order(const Cell& cell) {
  std::vector<Vertex> order;
  boost::topological_sort(cell.graph, std::back_inserter(order));
  return {order.rbegin(), order.rend()};
}

std::vector<int> node_downsampling(const Cell& cell) {
  std::vector<int> factor(cell.num_nodes(), 1);
  for (int v : topological_order(cell))
    if (auto in = cell.in_edges(v); !in.empty())
      factor[v] = factor[cell.source(in.front())] * cell.edge(in.front()).stride;
  return factor;
}

bool concatenates_at_output(const Cell& cell) {
  const CellOutput& o = cell.props().output;
  return cell.props().inputs == 1 && o.kind == CellOutput::Kind::Node && o.nodes.front() >= cell.props().inputs &&
         cell.node(o.nodes.front()).combines == std::vector<Combine>{Combine::Concat};
}

}  // namespace cella::ir
