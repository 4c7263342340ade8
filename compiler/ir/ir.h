// The checked graph IR that sema builds and every later stage reads.
//
// A Program holds the cell types, one network and optionally a search plan.
//  * A Cell is a DAG on boost::adjacency_list. Vertices are the cell's nodes, numbered as in the
//    .cella file: inputs first (0..inputs-1), then intermediate nodes. A node sums or concatenates
//    what its incoming edges bring, optionally applies one of its own candidate operations
//    (NAS-Bench-101 style), and may keep only `select` of its incoming edges (DARTS). An edge
//    carries the candidate operations between two nodes, its stride (2 on the input edges of a
//    reduction cell), whether it may be absent, its index in the stable order (by target, then
//    source: NB201's 1<-0, 2<-0, 2<-1, ...) and its hierarchy (the edges sharing a target node).
//  * A Network is a chain of units: fixed layers (stem, layers, head), cell instances and choice
//    layers (one operation per layer from a set, MobileNet style, or the sub-shapes of one
//    elastic layer, Once-for-All style), grouped in stages that may have a depth choice, and
//    optionally a set of input resolutions. Decision groups say which units share one choice.
//  * Ops are fully resolved sequences of primitive calls with concrete arguments.
//
// Invariants the rest of cella relies on:
//  * An absent edge and a `none` candidate differ. An edge is absent when an architecture does
//    not choose it (CellChoice::edge_op = -1): an `optional` edge left out, or an input a
//    `select k` node does not keep. `none` is a candidate that computes zeros. Both contribute
//    nothing to a sum, so a mask may hold an absent edge whatever it enables there
//    (subspace.h); a node whose inputs are all absent or `none` is zeros of its own shape.
//  * A node that selects k inputs keeps exactly k, each with a real (non-zero) candidate
//    (check_choice); an edge whose only candidates are zero can never be kept.
//  * A `combine concat` node has as many channels as its inputs together, and a cell whose
//    output concatenates nodes has the sum of theirs: the width C times the number of nodes
//    for DARTS' four (the runtime sums `concat` nodes inside a cell, except a 1-input cell's
//    output node, which splits the cell's width as NAS-Bench-101 does: lower::CellUnit). A cell
//    whose output is `unused` has C times the nodes it concatenates: in a supernet all that
//    may be unused (Unit::out), in a stand-alone network those its architecture leaves unused
//    (the lowering's CellUnit::output).
//  * verify() checks after sema and after every pass: edge indices follow the (target,
//    source) order and match the edge list; every edge has candidates, ends at an intermediate
//    node and belongs to a hierarchy; outputs exist; cells are acyclic; the constraint table
//    has one entry per edge count; each cell unit's input shape follows from the unit before;
//    choice units are not empty; decision groups agree with their units.
#pragma once

#include <array>
#include <boost/graph/adjacency_list.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/diag/source.h"
#include "compiler/ir/primitives.h"

namespace cella::ir {

/// One candidate operation: a named sequence of primitive calls.
struct Op {
  std::string name;
  std::vector<PrimCall> seq;
  diag::SourceRange origin;

  /// Structurally zero (`none`) on an input of `in_channels` channels.
  bool is_zero(std::int64_t in_channels) const;
  /// Structurally the identity (`skip_connect` at stride 1).
  bool is_identity(std::int64_t in_channels) const;
  /// Output shape, or an error message naming the primitive that does not fit.
  std::variant<Shape, std::string> shape(Shape in) const;
  /// `relu >> conv(k=3, ...) >> bn`
  std::string expansion() const;
};

enum class NodeKind { Input, Intermediate };
enum class Combine { Sum, Concat };
/// The language's word for a mode: `sum`, `concat`.
std::string_view combine_name(Combine mode);
/// The mode a word names, or nullopt.
std::optional<Combine> combine_named(std::string_view word);
/// `sum, concat`: the modes' words, in order.
std::string combine_names(const std::vector<Combine>& modes);

struct NodeProps {
  int id = 0;
  NodeKind kind = NodeKind::Intermediate;
  /// How the node combines its inputs; two modes are a choice the architecture makes
  /// (CellChoice::node_combine). A concatenating node inside a cell is projected back to the
  /// width (lower::CellUnit::combine), except the output node of a 1-input cell
  /// (concatenates_at_output), which NAS-Bench-101 makes wider.
  std::vector<Combine> combines{Combine::Sum};
  bool chooses_combine() const { return combines.size() > 1; }
  std::vector<Op> ops;  ///< node operation candidates (empty: no operation)
  int select = 0;       ///< keep exactly this many incoming edges; 0 keeps all
  diag::SourceRange range;
};

/// An edge's candidate operations, read like a `const std::vector<Op>`. Immutable once built and
/// shared: copying a cell, or building the many edges of one `edges all`, copies no Op (a cell of
/// 400 nodes has 80,000 edges).
class Candidates {
 public:
  Candidates() : ops_(no_ops()) {}
  Candidates(std::vector<Op> ops)
      : ops_(std::make_shared<const std::vector<Op>>(std::move(ops))) {}  // NOLINT: implicit
  operator const std::vector<Op>&() const { return *ops_; }               // NOLINT: implicit
  std::vector<Op>::const_iterator begin() const { return ops_->begin(); }
  std::vector<Op>::const_iterator end() const { return ops_->end(); }
  std::size_t size() const { return ops_->size(); }
  bool empty() const { return ops_->empty(); }
  const Op& operator[](std::size_t i) const { return (*ops_)[i]; }
  const Op& at(std::size_t i) const { return ops_->at(i); }
  const Op& front() const { return ops_->front(); }
  const Op& back() const { return ops_->back(); }

 private:
  static std::shared_ptr<const std::vector<Op>> no_ops() {
    static const auto none = std::make_shared<const std::vector<Op>>();
    return none;
  }
  std::shared_ptr<const std::vector<Op>> ops_;
};

struct EdgeProps {
  int index = -1;
  int hierarchy = -1;
  int stride = 1;
  bool optional = false;
  Candidates candidates;
  diag::SourceRange range;
};

struct CellOutput {
  /// Unused: the concatenation of the states no edge of the architecture reads (NASNet: "the
  /// cell's output concatenates the unused hidden states"), so its width depends on the
  /// architecture; a supernet concatenates every state an architecture may leave unused.
  enum class Kind { Node, Concat, Unused } kind = Kind::Node;
  /// Node: one node; Concat: the nodes concatenated, in order; Unused: the nodes an architecture
  /// may leave unused, in order (sema keeps only those: a node some edge always reads is never
  /// in the output).
  std::vector<int> nodes;
};

struct CellProps {
  std::string name;
  int inputs = 1;
  bool reduction = false;
  CellOutput output;
  /// allowed_edge_counts[k]: an architecture with k present edges satisfies the constraints.
  std::vector<bool> allowed_edge_counts;
  std::string constraint_text;
  diag::SourceRange constraint_range;
  diag::SourceRange range;
};

using CellGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, NodeProps, EdgeProps, CellProps>;
using Vertex = boost::graph_traits<CellGraph>::vertex_descriptor;
using EdgeDesc = boost::graph_traits<CellGraph>::edge_descriptor;

/// A cell type: its graph plus the edges in their stable index order.
///
/// Edge descriptors point into the graph's storage, so copying or moving a Cell rebuilds
/// `edges` from the copied graph (by each edge's `index`).
struct Cell {
  Cell() = default;
  Cell(const Cell& other) : graph(other.graph), hierarchies(other.hierarchies) { reindex(); }
  Cell(Cell&& other) noexcept : Cell(static_cast<const Cell&>(other)) {}
  Cell& operator=(const Cell& other) {
    if (this != &other) {
      graph = other.graph;
      hierarchies = other.hierarchies;
      reindex();
    }
    return *this;
  }
  Cell& operator=(Cell&& other) noexcept { return *this = static_cast<const Cell&>(other); }
  /// Rebuilds `edges` from the graph, ordered by EdgeProps::index.
  void reindex();

  CellGraph graph;
  std::vector<EdgeDesc> edges;                ///< edges[i] has index i
  std::vector<std::vector<int>> hierarchies;  ///< edge indices grouped by target node, in node order

  const CellProps& props() const { return graph[boost::graph_bundle]; }
  CellProps& props() { return graph[boost::graph_bundle]; }
  int num_nodes() const { return static_cast<int>(boost::num_vertices(graph)); }
  int num_edges() const { return static_cast<int>(edges.size()); }
  const EdgeProps& edge(int i) const { return graph[edges[i]]; }
  int source(int i) const { return static_cast<int>(boost::source(edges[i], graph)); }
  int target(int i) const { return static_cast<int>(boost::target(edges[i], graph)); }
  const NodeProps& node(int v) const { return graph[static_cast<Vertex>(v)]; }
  /// "3<-1": the NB201 spelling of edge i.
  std::string edge_name(int i) const;
  /// Index of the edge from `src` to `dst`, or -1.
  int find_edge(int src, int dst) const;
  /// Incoming edge indices of node v, by source.
  std::vector<int> in_edges(int v) const;
};

enum class UnitKind { Fixed, Cell, Choice };

/// One layer of the network.
struct Unit {
  UnitKind kind = UnitKind::Fixed;
  std::string role;         ///< stem, layer, head, cell, choice
  std::string name;         ///< module name: "stem", "cells.3", "layers.2", "head"
  Op op;                    ///< Fixed
  int cell = -1;            ///< Cell: index into Program::cells
  std::vector<Op> choices;  ///< Choice: candidates bound to this layer's width and stride
  /// Choice: empty for a choice among separate operations; for an elastic layer (one primitive
  /// whose elastic parameters were given lists), its dimensions. Its candidates are then the
  /// sub-shapes of one set of weights, one per combination of the dimensions' values, the first
  /// dimension varying slowest (`k3_e3, k3_e4, ..., k7_e6`), each the primitive with those values.
  std::vector<ElasticDim> elastic;
  int group = -1;  ///< Cell: cell decision group; Choice: layer decision group
  int stage = -1;
  int depth_index = 0;  ///< position inside its stage (0-based)
  Shape in, out;
  std::int64_t width = 0;  ///< Cell: the cell's node width C
  int stride = 1;
  diag::SourceRange range;
};

struct Stage {
  std::string body;
  std::vector<int> units;   ///< all units of the stage at its largest depth
  std::vector<int> depths;  ///< allowed depths; one entry: fixed
  int depth_group = -1;     ///< index into Network::depth_groups, or -1
  /// An elastic width (BigNAS: `width [16, 24]`): the output widths its layers may have, one
  /// choice for the whole stage, increasing. Its units are built at the largest; a narrower child
  /// uses the first channels of every layer's output (and its next layer's input): at_width.
  /// Empty: the stage's width is fixed.
  std::vector<std::int64_t> widths;
  int width_group = -1;  ///< index into Network::width_groups, or -1
  diag::SourceRange range;
};

enum class ShareMode { All, Stage, None };

/// A cell decision group: the cell units that take one common cell architecture.
struct CellGroup {
  int cell = -1;
  std::vector<int> units;
  std::string name;  ///< the cell type's name, or "cells.3" when not shared
};

/// A second classifier on an inner unit's output (DARTS' auxiliary head), trained alongside the
/// network in retraining with its own cross-entropy times `weight`, and left out of parameter
/// counts (as DARTS counts) and of exports.
struct AuxiliaryHead {
  Op op;
  int after = -1;  ///< the unit whose output it reads
  double weight = 0.4;
  Shape in, out;
  diag::SourceRange range;
};

struct Network {
  std::string name;
  std::vector<std::pair<std::string, Scalar>> params;  ///< resolved, after --set
  std::vector<Unit> units;
  std::vector<Stage> stages;
  ShareMode share = ShareMode::All;
  std::vector<CellGroup> cell_groups;
  std::vector<int> layer_groups;  ///< unit index of each choice layer
  std::vector<int> depth_groups;  ///< stage index of each stage with a depth choice
  std::vector<int> width_groups;  ///< stage index of each stage with a width choice
  Shape input;                    ///< the data's channels (what the stem sees)
  /// The sides the network resizes its input to (`resolution 128..224 step 4`), increasing; an
  /// architecture picks one (Arch::resolution). Empty: the data's own size, no resizing.
  std::vector<std::int64_t> resolutions;
  diag::SourceRange resolution_range;
  std::optional<AuxiliaryHead> auxiliary;
  diag::SourceRange range;
};

/// `op` as a layer of a width-elastic stage computes it at `width` instead of its largest width
/// `largest`: every primitive whose `out` is `largest` makes `width` channels (sema checks that the
/// stage's body expanded at each width is exactly this).
Op at_width(const Op& op, std::int64_t largest, std::int64_t width);

struct SearchPlan;  // plan.h: kept apart so that a plan change does not rebuild the network code

/// Everything the compiler produces for one file.
struct Program {
  std::vector<Cell> cells;
  std::optional<Network> network;
  /// The chosen search block (`--search`, else the first); shared because it never changes
  /// after compilation, and a pointer so that ir.h need not include plan.h.
  std::shared_ptr<const SearchPlan> search;
  /// Without a search block: the default plan with `--data` and the `--set` settings applied,
  /// which the runtime's commands run (ir::plan_of).
  std::shared_ptr<const SearchPlan> default_plan;
  std::vector<std::string> searches;  ///< the name of every search block, in file order
  std::vector<std::string> files;     ///< the source files read, main file first

  int find_cell(std::string_view name) const;
};

}  // namespace cella::ir
