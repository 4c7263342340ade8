// The minimisation form of measures, and what a goal needs measured.
#include "runtime/specialize/objectives.h"

#include <algorithm>

namespace cella::specialize {

std::vector<double> Goal::minimized(const Measures& m) const {
  std::vector<double> out;
  for (Metric o : objectives) out.push_back(info(o).maximize ? -m[o] : m[o]);
  return out;
}

double Goal::violation(const Measures& m) const {
  double v = 0;
  for (const Constraint& c : constraints) v += c.violation(m[c.metric]);
  return v;
}

std::vector<Metric> Goal::needed() const {
  std::vector<Metric> out = objectives;
  for (const Constraint& c : constraints)
    if (std::find(out.begin(), out.end(), c.metric) == out.end()) out.push_back(c.metric);
  return out;
}

}  // namespace cella::specialize
