// Architectures as fixed-length integer vectors (genomes), the form evolutionary search and
// predictors work on: one gene per decision of the network, each an index below its cardinality.
//
// The layout follows the decisions the space declares, in order: per cell group and node, which
// inputs a `select k` node keeps (an index into k_subsets), then one gene per incoming edge (its
// candidate; an optional edge's value 0 is "absent"), the node's operation and its combine mode;
// then one gene per choice layer, except that an elastic layer's dimensions (kernel size,
// expansion) are genes of their own, grouped by dimension as DyNAS-T encodes OFA (every elastic
// layer's first dimension, then every layer's second: 20 kernels, 20 expansions), so that a
// predictor's one-hot features see a kernel's effect across expansions and crossover can move a
// kernel without its expansion; then one gene per stage depth and width, and one for the input
// resolution unless the options fix it (DyNAS-T evaluates OFA at 224 and searches no
// resolution). Decisions with one value have no gene.
// Like DyNAS-T's encoding, every genome has every gene, even those the architecture does not use
// (an edge a select node leaves out, a layer beyond its stage's depth): variation operators keep
// working on fixed-length vectors, and decoding ignores them. Encoding writes 0 for them, so that
// equal architectures have equal genomes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::ir {

struct Gene {
  std::string name;  ///< "normal.node 2.edge 2<-0", "layers.3", "layers.3.k", "depth.stage 1": for reports
  int cardinality = 2;
};

/// What a genome leaves out of the search.
struct GenomeOptions {
  /// The input resolution every architecture takes, as an index into Network::resolutions; -1:
  /// a gene searches it.
  int fixed_resolution = -1;
};

/// The genes of the program's network, in layout order.
std::vector<Gene> genes(const Program& program, const GenomeOptions& options = {});

/// The genome of an architecture of the space (unused genes are 0).
std::vector<int> encode(const Program& program, const Arch& arch, const GenomeOptions& options = {});

/// The architecture a genome describes. Every genome whose values are below their cardinalities
/// decodes; the result may still break a cell's edge-count constraint, which check_arch reports.
/// Throws std::invalid_argument for a genome of the wrong length or with a value out of range.
Arch decode(const Program& program, const std::vector<int>& genome, const GenomeOptions& options = {});

/// The decoded architecture, or nullopt when it is not in the space (a constraint).
std::optional<Arch> decode_valid(const Program& program, const std::vector<int>& genome,
                                 const GenomeOptions& options = {});

}  // namespace cella::ir
