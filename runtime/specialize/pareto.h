// Pareto fronts and hypervolumes of points to minimise, through pagmo2 (Debian's libpagmo-dev):
// its fast non-dominated sorting and its exact hypervolume algorithms.
#pragma once

#include <cstddef>
#include <vector>

namespace cella::specialize {

using Point = std::vector<double>;

/// Indices of the non-dominated points (every objective minimised), in input order. Equal
/// points are all kept.
std::vector<std::size_t> pareto_front(const std::vector<Point>& points);

/// The volume the points dominate inside the box they share with `reference` (each objective
/// minimised). Points not strictly better than the reference in every objective add nothing.
double hypervolume(const std::vector<Point>& points, const Point& reference);

/// Non-domination rank of each point: 0 for the front, 1 for the front of the rest, ...
std::vector<std::size_t> pareto_ranks(const std::vector<Point>& points);

}  // namespace cella::specialize
