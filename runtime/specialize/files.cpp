// The files of a specialisation run.
#include "runtime/specialize/files.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "runtime/report/report.h"

namespace cella::specialize {
namespace {

using nlohmann::json;

const char* field_name(Metric m) { return m == Metric::Latency ? "latency_ms" : info(m).name; }

// Values as the files and the plot show them: counts in millions.
double shown(Metric m, double v) { return m == Metric::Macs || m == Metric::Params ? v / 1e6 : v; }

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : ""; }

// A CSV field in double quotes, its own double quotes doubled (RFC 4180): architectures in JSON
// form have them, DARTS genotypes have commas.
std::string quoted_field(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A minimisation vector in the units the files show.
Point shown_point(const Goal& goal, Point p) {
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = shown(goal.objectives[k], p[k]) + 0.0;  // no -0
  return p;
}

}  // namespace

std::string evaluation_line(const Evaluation& e) {
  json j = {{"index", e.index}, {"arch", e.arch}, {"genome", e.genome}, {"feasible", e.feasible}};
  for (int k = 0; k < kMetrics; ++k) {
    auto m = static_cast<Metric>(k);
    if (!std::isnan(e.measures[m])) j[field_name(m)] = e.measures[m];
  }
  return j.dump();
}

std::vector<Evaluation> read_evaluations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the evaluations of the run", path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  std::vector<Evaluation> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("arch") || !j.contains("genome")) {
      if (i + 1 == lines.size()) break;  // cut short by a kill
      throw std::runtime_error(fmt::format("{}:{}: not an evaluation record", path, i + 1));
    }
    Evaluation e;
    e.index = j.value("index", static_cast<int>(out.size()));
    e.arch = j["arch"].get<std::string>();
    e.genome = j["genome"].get<std::vector<int>>();
    e.feasible = j.value("feasible", true);
    for (int k = 0; k < kMetrics; ++k) {
      auto m = static_cast<Metric>(k);
      // JSON has no infinities: a score of -inf (the worst) is written as null.
      if (j.contains(field_name(m)))
        e.measures[m] = j[field_name(m)].is_null() ? -INFINITY : j[field_name(m)].get<double>();
    }
    out.push_back(std::move(e));
  }
  return out;
}

Point reference_point(const Goal& goal, const Evaluator& evaluator, const std::vector<Evaluation>& evaluations,
                      const std::vector<std::pair<Metric, double>>& given) {
  Point ref;
  for (Metric m : goal.objectives) {
    std::optional<double> v;
    for (const auto& [gm, gv] : given)
      if (gm == m) v = gv;
    if (!v) v = evaluator.worst(m);
    if (!v && info(m).maximize) {
      // A score without a bound (a training-free one): the run's lowest finite value, on which
      // an architecture adds no volume.
      for (const Evaluation& e : evaluations)
        if (std::isfinite(e.measures[m])) v = v ? std::min(*v, e.measures[m]) : e.measures[m];
    } else if (!v) {
      double largest = 0;
      for (const Evaluation& e : evaluations)
        if (!std::isnan(e.measures[m])) largest = std::max(largest, e.measures[m]);
      if (largest > 0) v = 2 * largest;
    }
    if (!v)
      throw std::invalid_argument(
          fmt::format("no reference point for {}: give one with --reference {}=VALUE", info(m).name, info(m).name));
    ref.push_back(info(m).maximize ? -*v : *v);
  }
  return ref;
}

std::vector<Evaluation> front_of(const Goal& goal, const std::vector<Evaluation>& evaluations) {
  std::vector<Evaluation> feasible;
  std::vector<Point> points;
  for (const Evaluation& e : evaluations)
    if (e.feasible) {
      feasible.push_back(e);
      points.push_back(goal.minimized(e.measures));
    }
  std::vector<Evaluation> out;
  for (std::size_t i : pareto_front(points)) out.push_back(feasible[i]);
  std::stable_sort(out.begin(), out.end(), [&](const Evaluation& a, const Evaluation& b) {
    return goal.minimized(a.measures)[0] < goal.minimized(b.measures)[0];
  });
  return out;
}

std::vector<double> hypervolume_curve(const Goal& goal, const std::vector<Evaluation>& evaluations,
                                      const Point& reference) {
  std::vector<double> out;
  std::vector<Point> front;  // the current front only: a dominated point never counts again
  double hv = 0;
  const Point ref = shown_point(goal, reference);
  for (const Evaluation& e : evaluations) {
    if (e.feasible) {
      Point p = shown_point(goal, goal.minimized(e.measures));
      bool dominated = false;
      for (const Point& q : front) {
        bool no_worse = true, better = false;
        for (std::size_t k = 0; k < p.size(); ++k) {
          no_worse = no_worse && q[k] <= p[k];
          better = better || q[k] < p[k];
        }
        dominated = dominated || (no_worse && (better || q == p));
      }
      if (!dominated) {
        front.push_back(p);
        std::vector<std::size_t> keep = pareto_front(front);
        std::vector<Point> next;
        for (std::size_t i : keep) next.push_back(front[i]);
        front = std::move(next);
        hv = hypervolume(front, ref);
      }
    }
    out.push_back(hv);
  }
  return out;
}

Results write_results(const std::string& dir, const Goal& goal, const std::vector<Evaluation>& evaluations,
                      const Point& reference) {
  Results out;
  std::vector<std::string>& warnings = out.warnings;
  // Accuracy and the three costs always; a training-free score where the goal measures it.
  std::vector<Metric> columns{Metric::Accuracy, Metric::Latency, Metric::Macs, Metric::Params};
  for (Metric m : goal.needed())
    if (std::find(columns.begin(), columns.end(), m) == columns.end()) columns.push_back(m);
  auto header = [&](std::ofstream& f) {
    f << "index,arch,feasible";
    for (Metric m : columns)
      f << ","
        << (m == Metric::Latency  ? "latency_ms"
            : m == Metric::Macs   ? "macs_M"
            : m == Metric::Params ? "params_M"
                                  : info(m).name);
    f << "\n";
  };
  auto row = [&](std::ofstream& f, const Evaluation& e) {
    f << e.index << "," << quoted_field(e.arch) << "," << (e.feasible ? 1 : 0);
    for (Metric m : columns) f << "," << number(shown(m, e.measures[m]));
    f << "\n";
  };
  {
    std::ofstream f(dir + "/evaluations.csv");
    header(f);
    for (const Evaluation& e : evaluations) row(f, e);
  }
  out.front = front_of(goal, evaluations);
  const std::vector<Evaluation>& front = out.front;
  {
    std::ofstream f(dir + "/front.csv");
    header(f);
    for (const Evaluation& e : front) row(f, e);
  }
  {
    std::ofstream f(dir + "/hypervolume.csv");
    f << "# hypervolume of the feasible front in the units of front.csv (accuracy in %, latency in ms, counts "
         "in millions), up to the reference point:";
    const Point ref = shown_point(goal, reference);
    for (std::size_t k = 0; k < ref.size(); ++k) {
      out.reference.push_back(std::abs(ref[k]));
      f << " " << info(goal.objectives[k]).name << "=" << fmt::format("{:.6g}", out.reference.back());
    }
    f << "\nevaluations,hypervolume\n";
    out.hypervolume = hypervolume_curve(goal, evaluations, reference);
    const std::vector<double>& hv = out.hypervolume;
    for (std::size_t i = 0; i < hv.size(); ++i) f << i + 1 << "," << fmt::format("{:.10g}", hv[i]) << "\n";
  }
  if (goal.objectives.size() >= 2) {
    // Accuracy up the side when it is an objective, the first other objective across.
    Metric y = goal.objectives[0], x = goal.objectives[1];
    for (std::size_t k = 0; k < goal.objectives.size(); ++k)
      if (goal.objectives[k] == Metric::Accuracy) {
        y = Metric::Accuracy;
        x = goal.objectives[k == 0 ? 1 : 0];
      }
    auto block = [&](const std::string& name, const std::vector<Evaluation>& es, int feasible) {
      std::string out = "$" + name + " << EOD\n";
      std::vector<const Evaluation*> sorted;
      for (const Evaluation& e : es)
        if (feasible < 0 || e.feasible == (feasible == 1)) sorted.push_back(&e);
      std::stable_sort(sorted.begin(), sorted.end(),
                       [&](const Evaluation* a, const Evaluation* b) { return a->measures[x] < b->measures[x]; });
      for (const Evaluation* e : sorted)
        out += fmt::format("{} {}\n", number(shown(x, e->measures[x])), number(shown(y, e->measures[y])));
      return out + "EOD\n";
    };
    std::size_t infeasible = 0;
    for (const Evaluation& e : evaluations) infeasible += !e.feasible;
    std::string script =
        "set terminal svg size 760,500 dynamic font 'Helvetica,11' background rgb 'white'\n"
        "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\nset termoption noenhanced\n"
        "set key outside right top\n";
    script += fmt::format("set xlabel '{}'\nset ylabel '{}'\n", info(x).label, info(y).label);
    std::vector<std::string> title;
    if (goal.objectives.size() > 2)
      title.push_back(fmt::format("front over {} objectives, drawn in these two", goal.objectives.size()));
    // Accuracy's axis from just below the front: a few far worse architectures (a 10 % one among
    // 90 % ones) would otherwise squeeze the front into the top of the plot.
    if (y == Metric::Accuracy && !front.empty()) {
      double lo = front.front().measures[y], hi = lo;
      for (const Evaluation& e : front) lo = std::min(lo, e.measures[y]);
      for (const Evaluation& e : evaluations) hi = std::max(hi, e.measures[y]);
      const double bottom = std::max(0.0, lo - std::max(1.0, 0.25 * (hi - lo)));
      std::size_t below = 0;
      for (const Evaluation& e : evaluations) below += e.measures[y] < bottom;
      if (below > 0) {
        script += fmt::format("set yrange [{}:*]\n", number(bottom));
        title.push_back(fmt::format("{} evaluated below {}% not shown", below, number(bottom)));
      }
    }
    if (!title.empty()) script += fmt::format("set title '{}'\n", fmt::join(title, "; "));
    script += block("all", evaluations, 1) + block("infeasible", evaluations, 0) + block("front", front, -1);
    script += fmt::format("plot $all using 1:2 with points pt 7 ps 0.45 lc rgb '#6baed6' title 'evaluated ({})', \\\n",
                          evaluations.size() - infeasible);
    if (infeasible > 0)
      script += fmt::format(
          "  $infeasible using 1:2 with points pt 1 ps 0.45 lc rgb '#bbbbbb' title 'outside the constraints ({})', "
          "\\\n",
          infeasible);
    script += fmt::format(
        "  $front using 1:2 with steps lw 2 lc rgb '#d62728' title 'Pareto front ({})', \\\n"
        "  $front using 1:2 with points pt 7 ps 0.8 lc rgb '#d62728' notitle\n",
        front.size());
    if (auto svg = report::run_tool("gnuplot", "", script))
      std::ofstream(dir + "/plot.svg") << *svg;
    else
      warnings.push_back(
          "no plot.svg: gnuplot did not run (apt-get install gnuplot-nox; scripts/setup.sh installs it)");
  }
  return out;
}

}  // namespace cella::specialize
