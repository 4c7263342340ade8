// Architectures: one concrete choice for every decision of a network, and their text forms
// (NAS-Bench-201 arch strings, DARTS genotypes, JSON).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/ir/ir.h"

namespace cella::ir {

/// The choice made for one cell decision group.
struct CellChoice {
  std::vector<int> edge_op;  ///< per edge index: candidate index, or -1 when the edge is absent
  std::vector<int> node_op;  ///< per node: operation index, or -1 when the node has none
  /// per node: index into NodeProps::combines where the node chooses its mode, else -1
  std::vector<int> node_combine;
  bool operator==(const CellChoice&) const = default;
};

/// One architecture of a network's space.
struct Arch {
  std::vector<CellChoice> cells;  ///< per Network::cell_groups
  std::vector<int> layers;        ///< per Network::layer_groups: candidate index
  std::vector<int> depths;        ///< per Network::depth_groups: index into Stage::depths
  std::vector<int> widths;        ///< per Network::width_groups: index into Stage::widths
  int resolution = 0;             ///< index into Network::resolutions (0 when it has none)
  bool operator==(const Arch&) const = default;
};

/// Why `choice` is not a valid architecture of `cell`, or nullopt if it is.
std::optional<std::string> check_choice(const Cell& cell, const CellChoice& choice);
/// Why `arch` is not an architecture of the program's network, or nullopt if it is.
std::optional<std::string> check_arch(const Program& program, const Arch& arch);

/// The candidate `choice` runs on edge `edge` of `cell`, or -1 when the edge is absent or its
/// candidate is `none` (structurally zero): the edges an architecture really has.
int real_op(const Cell& cell, const CellChoice& choice, int edge);

/// The mode node `v` of `cell` combines its inputs with in `choice`.
Combine combine_of(const Cell& cell, const CellChoice& choice, int v);

/// Whether network unit `unit` runs in `arch` (a stage deeper than the architecture's depth
/// does not).
bool unit_runs(const Program& program, int unit, const Arch& arch);

/// The nodes the cell's output is made of in this architecture: the output node, the listed
/// nodes, or for `output unused` those of the listed nodes no edge with a real operation reads.
std::vector<int> output_nodes(const Cell& cell, const CellChoice& choice);

/// Whether some input of the cell reaches its output through edges with real (non-zero)
/// operations. An architecture whose cells fail this computes a constant.
bool connects_input(const Cell& cell, const CellChoice& choice);

/// The channels unit `unit` makes in `arch`: its stage's chosen width in a width-elastic stage,
/// else the unit's own (ir::Unit::out).
std::int64_t unit_width(const Program& program, int unit, const Arch& arch);

/// Where `pixels` stands among the network's resolutions, or nullopt.
std::optional<int> resolution_index(const Network& network, std::int64_t pixels);

/// DyNAS-T's flat encoding of an architecture of a space whose choice layers are all elastic
/// (layers of one candidate aside): the first elastic parameter of every elastic layer (OFA: the
/// kernels), then the second (the expansions), ..., then every stage's depth (OFA: 20 + 20 + 5 =
/// 45 integers), then every width-elastic stage's width (BigNAS; OFA has none). Layers beyond
/// their stage's depth keep their values, as in DyNAS-T. The resolution is not part of it. Empty
/// for a space that has other choice layers, or none.
std::vector<std::int64_t> elastic_encoding(const Program& program, const Arch& arch);
/// The architecture a flat encoding describes (at resolution index 0), or a one-line error.
std::variant<Arch, std::string> decode_elastic(const Program& program, const std::vector<std::int64_t>& flat);

enum class ArchFormat { Nb201, Darts, Json, Flat };

/// Formats the program can print its architectures in (JSON always; NB201 for a single shared
/// 1-input cell; DARTS for a normal and a reduction cell with node selection; the flat encoding,
/// last, for a space of elastic layers).
std::vector<ArchFormat> formats(const Program& program);

/// `|nor_conv_3x3~0|+|...|`; requires ArchFormat::Nb201.
std::string to_nb201(const Program& program, const Arch& arch);
/// `Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`, and for a
/// space whose nodes choose their combine mode cella's `normal_combine=['sum', 'concat', ...]`
/// and `reduce_combine=[...]`, one word per choosing node in node order. Parsing a genotype
/// without them reads every choosing node as `sum`: DARTS' genotypes add.
std::string to_genotype(const Program& program, const Arch& arch);
nlohmann::json to_json(const Program& program, const Arch& arch);
/// `[3, 5, ..., 4, 6, ..., 2, 3, 224]`: elastic_encoding with the resolution in pixels after it
/// where the network has resolutions (what parse_arch reads back); requires ArchFormat::Flat.
std::string to_flat(const Program& program, const Arch& arch);
/// The most specific form the program supports.
std::string to_text(const Program& program, const Arch& arch);

/// Parses an architecture in any of the three forms (recognised by its first character), a
/// published genotype's name (`DARTS_V1`, `DARTS_V2`), an elastic space's flat encoding
/// `[3, 5, ..., 2, 4]` optionally followed by the resolution in pixels (required when the network
/// has several) or `largest` / `smallest` (largest_arch, smallest_arch), and checks it against
/// the space. Returns the architecture or a one-line error.
std::variant<Arch, std::string> parse_arch(const Program& program, std::string_view text);

}  // namespace cella::ir
