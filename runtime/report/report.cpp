// The run report's page. gnuplot draws the curves (Debian's gnuplot-nox, SVG terminal): a
// well-kept plotting program with every axis, legend and multi-panel layout the page needs, and
// no JavaScript, so the page stays a static file that opens offline. Graphviz draws the split
// tree and the architecture, as everywhere else in cella. Every picture is embedded as a data:
// URI, which keeps each SVG's ids to itself and leaves the page with nothing to fetch.
#include "runtime/report/report.h"

#include "compiler/diag/diagnostic.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace cella::report {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  using namespace boost::archive::iterators;
  using It = base64_from_binary<transform_width<std::string::const_iterator, 6, 8>>;
  std::string out(It(bytes.begin()), It(bytes.end()));
  out.append((3 - bytes.size() % 3) % 3, '=');
  return out;
}

// An SVG as an <img> the page carries itself.
std::string svg_img(const std::string& svg, const std::string& alt) {
  return fmt::format("<img class=\"figure\" alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">", escape(alt),
                     base64(svg));
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "NaN"; }

double field(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// One training curve: a sub-supernet (search) or the one network (train, retrain).
struct Series {
  std::string name;
  int node = -1;                        ///< the split-tree node, in a search
  bool highlighted = true;              ///< on the kept lineage
  std::map<std::int64_t, json> epochs;  ///< the last record of each epoch (a resumed run logs some twice)
};

// gnuplot script pieces.
constexpr const char* kTerminal =
    "set terminal svg size {},{} dynamic font 'Helvetica,11' background rgb 'white'\n"
    "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\nset key outside right top noenhanced\n"
    "set termoption noenhanced\nset xlabel 'epoch'\n";

std::string datablock(const std::string& name, const Series& s, const std::vector<std::string>& columns) {
  std::string out = "$" + name + " << EOD\n";
  for (const auto& [epoch, r] : s.epochs) {
    out += std::to_string(epoch);
    for (const std::string& c : columns) out += " " + number(field(r, c.c_str()));
    out += "\n";
  }
  return out + "EOD\n";
}

class Renderer {
 public:
  explicit Renderer(const RunReport& r) : r_(r) { collect(); }

  Page run() {
    Page p;
    std::string body;
    body += summary();
    body += architecture();
    body += curves();
    body += tree();
    body += schedule();
    body += configuration();
    p.html = fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>cella run report: {}</title>\n"
        "<style>{}</style>\n</head>\n<body>\n<h1>cella run report</h1>\n<p class=\"run\">{}</p>\n{}"
        "<footer>Written by <code>cella report</code>. Plots: gnuplot; drawings: Graphviz. This page fetches "
        "nothing.</footer>\n</body>\n</html>\n",
        escape(r_.run), kStyle, escape(r_.run), body);
    p.warnings = warnings_;
    return p;
  }

 private:
  static constexpr const char* kStyle =
      "body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}"
      "h1{margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}"
      ".run{color:#666;margin-top:.2em}table{border-collapse:collapse;margin:.5em 0}"
      "td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}"
      "th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
      "code,pre{font-family:Menlo,Consolas,monospace;font-size:90%}pre{background:#f8f8f8;padding:.8em;"
      "overflow-x:auto}img.figure{max-width:100%;display:block;margin:.5em 0}.note{color:#666}"
      "footer{margin-top:3em;color:#888;font-size:85%}";

  // Splits the metrics into series, and finds the kept lineage of a search.
  void collect() {
    if (r_.tree) {
      for (int id = r_.tree->selected; id >= 0; id = r_.tree->nodes[static_cast<std::size_t>(id)].parent)
        lineage_.insert(id);
    }
    std::map<std::string, Series> by_name;
    for (const json& m : r_.metrics) {
      if (m.contains("event")) {
        if (m["event"].is_string()) events_.push_back(m["event"].get<std::string>());
        continue;
      }
      if (!m.contains("epoch") || !m.contains("phase")) continue;
      const std::string phase = m.value("phase", "");
      if (phase == "derive") continue;  // the derivation's own evaluations, not training
      const int node = m.contains("node") && m["node"].is_number_integer() ? m["node"].get<int>() : -1;
      const std::string name = node >= 0 ? fmt::format("node {}", node) : phase;
      Series& s = by_name[name];
      s.name = name;
      s.node = node;
      s.highlighted = node < 0 || !r_.tree || lineage_.count(node) > 0;
      s.epochs[m.value("epoch", std::int64_t{0})] = m;
    }
    // A sub-supernet's curve starts where its parent's ended, so that the tree's branches show
    // (and a child that trained one epoch is a segment, not a dot).
    if (r_.tree) {
      std::map<int, const Series*> of_node;
      for (const auto& [name, s] : by_name)
        if (s.node >= 0) of_node[s.node] = &s;
      std::map<std::string, json> starts;
      for (const auto& [name, s] : by_name) {
        if (s.node <= 0 || s.epochs.empty() || s.node >= static_cast<int>(r_.tree->nodes.size())) continue;
        auto parent = of_node.find(r_.tree->nodes[static_cast<std::size_t>(s.node)].parent);
        if (parent == of_node.end()) continue;
        const auto& pe = parent->second->epochs;
        auto before = pe.lower_bound(s.epochs.begin()->first);
        if (before != pe.begin()) starts[name] = std::prev(before)->second;
      }
      for (auto& [name, start] : starts) by_name[name].epochs[start.value("epoch", std::int64_t{0})] = start;
    }
    for (auto& [name, s] : by_name) series_.push_back(std::move(s));
    // Nodes in tree order (node 10 after node 9), series of no node first.
    std::stable_sort(series_.begin(), series_.end(), [](const Series& a, const Series& b) { return a.node < b.node; });
  }

  std::optional<std::string> plot(const std::string& script) {
    auto svg = run_tool("gnuplot", "", script);
    if (!svg && !gnuplot_missing_) {
      gnuplot_missing_ = true;
      warnings_.push_back(
          "the report has no plots: gnuplot did not run (apt-get install gnuplot-nox; scripts/setup.sh installs it)");
    }
    return svg;
  }

  std::optional<std::string> graph(const std::string& dot) {
    auto svg = run_tool("dot", "-Tsvg", dot);
    if (!svg && !dot_missing_) {
      dot_missing_ = true;
      warnings_.push_back("the report has no drawings: Graphviz's dot did not run (apt-get install graphviz)");
    }
    return svg;
  }

  // Whether the plan's children learn from teachers (a hierarchical split with distillation).
  bool distilled() const {
    if (!r_.tree || !r_.config.contains("plan")) return false;
    const json& split = r_.config["plan"].value("split", json::object());
    return split.value("strategy", "") == "hierarchical" && split.value("distill", "none") != "none";
  }

  std::string row(const std::string& key, const std::string& value) const {
    return fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape(key), value);
  }

  std::string summary() const {
    const json& c = r_.config;
    std::string s = "<h2 id=\"summary\">Run</h2>\n<table>\n";
    s += row("command", "<code>cella " + escape(c.value("command", "?")) + "</code>");
    s += row("space", "<code>" + escape(c.value("file", "?")) + "</code>");
    if (!r_.smoke.empty()) s += row("smoke test", escape(r_.smoke) + " (says nothing about the space)");
    if (c.contains("plan") && c["plan"].is_object()) {
      const json& plan = c["plan"];
      if (plan.contains("data")) s += row("data", escape(plan["data"].value("name", "?")));
      if (plan.contains("name")) s += row("search block", escape(plan.value("name", "")));
    }
    if (c.contains("seed")) s += row("seed", escape(c["seed"].dump()));
    if (c.contains("overrides") && c["overrides"].is_array() && !c["overrides"].empty()) {
      std::string sets;
      for (const json& o : c["overrides"])
        sets += "<code>--set " + escape(o.is_string() ? o.get<std::string>() : o.dump()) + "</code> ";
      s += row("settings", sets);
    }
    if (!r_.arch.empty()) s += row("architecture", "<code>" + escape(r_.arch) + "</code>");
    if (r_.result.is_object()) {
      const std::pair<const char*, const char*> accuracies[] = {
          {"valid_acc", "validation accuracy"},
          {"valid_acc_inherited", "validation accuracy (inherited weights)"},
          {"test_acc", "test accuracy"}};
      for (const auto& [key, label] : accuracies)
        if (r_.result.contains(key) && r_.result[key].is_number())
          s += row(label, fmt::format("{:.2f}%", r_.result[key].get<double>()));
    }
    s += "</table>\n";
    // Timings per phase.
    std::map<std::string, double> phases;
    if (r_.tree) phases = r_.tree->phases;
    if (phases.empty() && r_.result.is_object() && r_.result.contains("phases_seconds"))
      for (const auto& [k, v] : r_.result["phases_seconds"].items())
        if (v.is_number()) phases[k] = v.get<double>();
    if (!phases.empty()) {
      double total = 0;
      for (const auto& [k, v] : phases) total += v;
      s += "<h3>Time per phase</h3>\n<table>\n<tr><th>phase</th><th>seconds</th><th>share</th></tr>\n";
      for (const auto& [k, v] : phases)
        s += fmt::format("<tr><td>{}</td><td class=\"num\">{:.1f}</td><td class=\"num\">{:.0f}%</td></tr>\n", escape(k),
                         v, total > 0 ? 100 * v / total : 0.0);
      s += fmt::format("<tr><th>total</th><th class=\"num\">{:.1f}</th><th></th></tr>\n</table>\n", total);
    }
    return s;
  }

  std::string architecture() {
    if (r_.arch.empty()) return "";
    std::string s = "<h2 id=\"architecture\">Final architecture</h2>\n";
    if (!r_.arch_svg.empty()) s += svg_img(r_.arch_svg, "the final architecture's cells");
    s += "<table>\n";
    if (r_.params >= 0) s += row("parameters", diag::grouped_digits(std::to_string(r_.params)));
    if (r_.macs >= 0)
      s += row("multiply-accumulates",
               fmt::format("{} (one {}&times;{} image)", diag::grouped_digits(std::to_string(r_.macs)), r_.input_size,
                           r_.input_size));
    if (r_.latency_ms >= 0)
      s += row("latency", fmt::format("{:.3f} ms median forward pass, batch {}, {} CPU thread{}, measured by cella "
                                      "report on this machine with fresh weights",
                                      r_.latency_ms, r_.latency_batch, r_.threads, r_.threads == 1 ? "" : "s"));
    s += "</table>\n<p class=\"note\">Parameters and multiply-accumulates of the network trained stand-alone "
         "(<code>cella retrain</code>), as <code>cella stats --arch</code> counts them.</p>\n";
    return s;
  }

  // Loss and accuracy per epoch for every series, the learning rate, the architecture weights.
  std::string curves() {
    if (series_.empty()) return "";
    std::string s = "<h2 id=\"training\">Training</h2>\n";
    const bool search = r_.tree != nullptr;
    if (search)
      s += "<p class=\"note\">Every sub-supernet of the split tree; the lineage of the selected one in colour, "
           "the others in grey. Epochs are counted along a lineage, root to leaf.</p>\n";
    if (distilled())
      s += "<p class=\"note\">The children's training loss includes their distillation term (HEP-NAS's teachers), "
           "so it is not comparable with their parent's cross-entropy; the validation loss is.</p>\n";
    const std::vector<std::string> columns = {"train_loss", "valid_loss", "train_acc", "valid_acc", "lr"};
    std::string data;
    for (std::size_t i = 0; i < series_.size(); ++i) data += datablock(fmt::format("s{}", i), series_[i], columns);
    const bool retrain = r_.config.value("command", "") == "retrain";
    const std::string held_out = retrain ? "test" : "valid";
    auto two_panel = [&](int train_col, int valid_col, const std::string& title, const std::string& ylabel) {
      std::string script = fmt::format(kTerminal, 900, 420) + data;
      script += fmt::format("set title '{}'\nset ylabel '{}'\nplot ", title, ylabel);
      int colour = 0;
      for (std::size_t i = 0; i < series_.size(); ++i) {
        const Series& se = series_[i];
        std::string style = se.highlighted ? fmt::format("lc {} lw 2", ++colour) : "lc rgb '#bbbbbb' lw 1";
        std::string t1 = se.highlighted ? fmt::format("title '{} train'", se.name) : "notitle";
        std::string t2 = se.highlighted ? fmt::format("title '{} {}'", se.name, held_out) : "notitle";
        script +=
            fmt::format("{}$s{} using 1:{} with linespoints pt 7 ps 0.4 {} {}, $s{} using 1:{} with lines dt 2 {} {}",
                        i ? ", " : "", i, train_col, style, t1, i, valid_col, style, t2);
      }
      return script + "\n";
    };
    if (auto svg = plot(two_panel(2, 3, "Loss per epoch", "cross-entropy"))) s += svg_img(*svg, "loss per epoch");
    if (auto svg = plot(two_panel(4, 5, "Accuracy per epoch", "accuracy (%)")))
      s += svg_img(*svg, "accuracy per epoch");
    // The learning rate along the kept lineage (every node's follows the same schedule).
    Series lineage;
    lineage.name = "lineage";
    for (const Series& se : series_)
      if (se.highlighted)
        for (const auto& [e, rec] : se.epochs) lineage.epochs[e] = rec;
    {
      std::string script = fmt::format(kTerminal, 900, 300) + datablock("lr", lineage, {"lr"});
      script +=
          "set title 'Learning rate (weights)'\nset ylabel 'learning rate'\nset key off\n"
          "plot $lr using 1:2 with steps lc 1 lw 2\n";
      if (auto svg = plot(script)) s += svg_img(*svg, "learning rate per epoch");
    }
    // The latency term's two figures, where the plan has one.
    const bool latency = std::any_of(lineage.epochs.begin(), lineage.epochs.end(),
                                     [](const auto& kv) { return kv.second.contains("expected_latency"); });
    if (latency) {
      std::string script =
          fmt::format(kTerminal, 900, 300) + datablock("lat", lineage, {"expected_latency", "arch_latency"});
      script +=
          "set title 'Latency term'\nset ylabel 'ms, or M MACs (as the table)'\nset key below\n"
          "plot $lat using 1:2 with linespoints pt 7 ps 0.4 lc 1 lw 2 title 'E[LAT] under the architecture weights', "
          "$lat using 1:3 with lines dt 2 lc 2 lw 2 title 'the table, for the strongest architecture'\n";
      if (auto svg = plot(script)) s += svg_img(*svg, "expected latency per epoch");
    }
    s += arch_weights(lineage);
    if (!events_.empty()) {
      s += "<h3>Log</h3>\n<ul>\n";
      for (const std::string& e : events_) s += "<li>" + escape(e) + "</li>\n";
      s += "</ul>\n";
    }
    return s;
  }

  // One panel per edge: the softmax weight of each candidate per epoch, along the kept lineage.
  std::string arch_weights(const Series& lineage) {
    std::string s;
    for (std::size_t g = 0; g < r_.groups.size(); ++g) {
      const CellGroupNames& names = r_.groups[g];
      std::string data = "$w << EOD\n";
      bool any = false;
      for (const auto& [epoch, rec] : lineage.epochs) {
        if (!rec.contains("arch_weights") || rec["arch_weights"].size() <= g) continue;
        any = true;
        data += std::to_string(epoch);
        for (const json& edge : rec["arch_weights"][g])
          for (const json& w : edge) data += " " + number(w.is_number() ? w.get<double>() : NAN);
        data += "\n";
      }
      if (!any) continue;
      data += "EOD\n";
      const std::size_t edges = names.edges.size();
      const std::size_t cols = std::min<std::size_t>(4, edges), rows = (edges + cols - 1) / cols;
      std::string script = fmt::format(kTerminal, 260 * cols + 160, 200 * rows + 40) + data;
      script += "set key off\nset yrange [0:1]\nset xlabel ''\nset lmargin 6\nset rmargin 1\n";
      script += fmt::format("set multiplot layout {},{} title 'Architecture weights of cell {} (softmax per edge)'\n",
                            rows, cols, names.name);
      // Columns of $w: 1 epoch, then per edge its candidates.
      std::size_t column = 2;
      for (std::size_t e = 0; e < edges; ++e) {
        script += fmt::format("set title '{}'\nplot ", names.edges[e]);
        for (std::size_t k = 0; k < names.candidates[e].size(); ++k)
          script += fmt::format("{}$w using 1:{} with lines lw 2 lc {} title '{}'", k ? ", " : "", column + k, k + 1,
                                names.candidates[e][k]);
        script += "\n";
        column += names.candidates[e].size();
      }
      script += "unset multiplot\n";
      // The legend, once, as a table of colours.
      static const char* kColours[] = {"#9400d3", "#009e73", "#56b4e9", "#e69f00",
                                       "#f0e442", "#0072b2", "#e51e10", "#000000"};  // gnuplot's default line colours
      std::string legend = "<p class=\"note\">";
      if (!names.candidates.empty())
        for (std::size_t k = 0; k < names.candidates[0].size(); ++k)
          legend += fmt::format("<span style=\"color:{}\">&#9632;</span> {} &nbsp; ", kColours[k % 8],
                                escape(names.candidates[0][k]));
      legend += "</p>\n";
      if (auto svg = plot(script)) {
        if (s.empty()) s += "<h3>Architecture weights</h3>\n";
        s += svg_img(*svg, "architecture weights of cell " + names.name) + legend;
      }
    }
    return s;
  }

  // The split tree: per node its mask on the split edges, its accuracy and its margin against
  // its siblings with the standard error of an accuracy on the images it was judged on.
  std::string tree() {
    if (!r_.tree) return "";
    const runtime::SplitTree& t = *r_.tree;
    const auto& root_mask = t.nodes.front().mask;
    std::string dot =
        "digraph split_tree {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
        "  edge [color=\"#999999\"];\n";
    auto se_of = [&](double acc) {
      const double p = acc / 100;
      return r_.judged_images > 0 ? 100 * std::sqrt(p * (1 - p) / static_cast<double>(r_.judged_images)) : NAN;
    };
    for (const runtime::TreeNode& n : t.nodes) {
      std::string label = fmt::format("node {}{}", n.id, n.id == t.selected ? " (selected)" : "");
      // The edges this node's split narrowed: what sets it apart from its parent and siblings.
      const auto& parent_mask = n.parent >= 0 ? t.nodes[static_cast<std::size_t>(n.parent)].mask : root_mask;
      for (std::size_t e = 0; e < n.mask.size() && e < parent_mask.size(); ++e)
        if (n.mask[e].second.size() < parent_mask[e].second.size()) {
          std::string kept;
          for (const std::string& c : n.mask[e].second) kept += (kept.empty() ? "" : ", ") + c;
          label += fmt::format("\\n{}: {}", n.mask[e].first, kept.empty() ? "(nothing)" : kept);
        }
      if (n.valid_acc) {
        label += fmt::format("\\nvalid {:.2f}%", *n.valid_acc);
        double best_sibling = -1;
        for (const runtime::TreeNode& m : t.nodes)
          if (m.parent == n.parent && m.id != n.id && m.valid_acc && n.parent >= 0)
            best_sibling = std::max(best_sibling, *m.valid_acc);
        if (best_sibling >= 0) {
          label += fmt::format("\\nmargin {:+.2f}", *n.valid_acc - best_sibling);
          if (double se = se_of(*n.valid_acc); std::isfinite(se)) label += fmt::format(" (SE {:.2f})", se);
        }
      }
      const bool on_path = lineage_.count(n.id) > 0;
      dot += fmt::format("  n{} [label=\"{}\"{}];\n", n.id, label,
                         on_path ? ", color=\"#1a7f37\", penwidth=2, fontcolor=\"#1a7f37\"" : "");
      if (n.parent >= 0)
        dot += fmt::format("  n{} -> n{}{};\n", n.parent, n.id, on_path ? " [color=\"#1a7f37\", penwidth=2]" : "");
    }
    dot += "}\n";
    std::string s = fmt::format(
        "<h2 id=\"tree\">Split tree</h2>\n<p class=\"note\">Strategy <code>{}</code> on cell <code>{}</code>; {} "
        "sub-supernets. Each shows the candidates it keeps on the edges its split narrowed (tree.json has the whole "
        "mask), its validation accuracy and "
        "its margin against its best sibling, with the standard error of an accuracy on the {} validation images "
        "it was judged on (a margin within about two standard errors is a coin flip). The kept path is in "
        "green.</p>\n",
        escape(t.strategy), escape(t.cell), t.nodes.size(), r_.judged_images);
    if (auto svg = graph(dot)) s += svg_img(*svg, "the split tree");
    return s;
  }

  std::string schedule() const {
    if (r_.schedule.empty()) return "";
    return "<h2 id=\"schedule\">Schedule</h2>\n<p class=\"note\">The plan epoch by epoch, as <code>cella show "
           "--emit schedule</code> resolves it.</p>\n<pre>" +
           escape(r_.schedule) + "</pre>\n";
  }

  std::string configuration() const {
    return "<h2 id=\"configuration\">Configuration</h2>\n<details><summary>config.json</summary>\n<pre>" +
           escape(r_.config.dump(2)) + "</pre>\n</details>\n";
  }

  const RunReport& r_;
  std::set<int> lineage_;
  std::vector<Series> series_;
  std::vector<std::string> events_;
  std::vector<std::string> warnings_;
  bool gnuplot_missing_ = false, dot_missing_ = false;
};

}  // namespace

std::optional<std::string> run_tool(const std::string& tool, const std::string& args, const std::string& input) {
  std::string dir_template = (fs::temp_directory_path() / "cella_report_XXXXXX").string();
  if (!mkdtemp(dir_template.data())) return std::nullopt;
  const fs::path dir = dir_template, in = dir / "input", out = dir / "output";
  std::ofstream(in) << input;
  const std::string cmd = fmt::format("{} {} '{}' > '{}' 2>/dev/null", tool, args, in.string(), out.string());
  std::optional<std::string> text;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream f(out);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!ss.str().empty()) text = ss.str();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return text;
}

Page render(const RunReport& report) { return Renderer(report).run(); }

}  // namespace cella::report
