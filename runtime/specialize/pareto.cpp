// Fronts and hypervolumes: pagmo2 does the sorting and the volume.
#include "runtime/specialize/pareto.h"

#include <pagmo/utils/hypervolume.hpp>
#include <pagmo/utils/multi_objective.hpp>

namespace cella::specialize {
namespace {

// pagmo wants at least two objectives; a single one is padded with a constant.
std::vector<pagmo::vector_double> padded(const std::vector<Point>& points) {
  std::vector<pagmo::vector_double> out(points.begin(), points.end());
  for (auto& p : out)
    if (p.size() == 1) p.push_back(0);
  return out;
}

}  // namespace

std::vector<std::size_t> pareto_ranks(const std::vector<Point>& points) {
  if (points.empty()) return {};
  if (points.size() == 1) return {0};
  auto sorted = pagmo::fast_non_dominated_sorting(padded(points));
  std::vector<std::size_t> rank = std::get<3>(sorted);
  return rank;
}

std::vector<std::size_t> pareto_front(const std::vector<Point>& points) {
  std::vector<std::size_t> rank = pareto_ranks(points), out;
  for (std::size_t i = 0; i < rank.size(); ++i)
    if (rank[i] == 0) out.push_back(i);
  return out;
}

double hypervolume(const std::vector<Point>& points, const Point& reference) {
  std::vector<pagmo::vector_double> inside;
  for (const Point& p : points) {
    bool better = true;
    for (std::size_t k = 0; k < p.size(); ++k) better = better && p[k] < reference[k];
    if (better) inside.push_back(p);
  }
  if (inside.empty()) return 0;
  if (reference.size() == 1) {  // a length: the best value's distance to the reference
    double best = reference[0];
    for (const auto& p : inside) best = std::min(best, p[0]);
    return reference[0] - best;
  }
  pagmo::hypervolume hv(inside, false);
  return hv.compute(reference);
}

}  // namespace cella::specialize
