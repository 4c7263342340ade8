// tree.json: the one writer and the one reader of the split tree.
#include "runtime/search/tree.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace cella::runtime {

using nlohmann::json;

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

[[noreturn]] void not_a_tree(const std::string& file, const std::string& what) {
  throw TreeError(fmt::format("{}: not a cella split tree: {}", file, what));
}

// Reads one field, or throws a TreeError that names the file, the node and the field.
class Reader {
 public:
  Reader(const json& j, std::string file, std::string where)
      : j_(j), file_(std::move(file)), where_(std::move(where)) {}

  const json& at(const char* key, json::value_t type) const {
    auto it = j_.find(key);
    bool ok = it != j_.end() && (it->type() == type || (type == json::value_t::number_float && it->is_number()) ||
                                 (type == json::value_t::number_integer && it->is_number_integer()));
    if (!ok) fail(fmt::format("{}'{}' is missing or not {}", where_, key, type_name(type)));
    return *it;
  }
  int integer(const char* key) const { return at(key, json::value_t::number_integer).get<int>(); }
  std::string text(const char* key) const { return at(key, json::value_t::string).get<std::string>(); }
  std::optional<double> optional_double(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) fail(fmt::format("{}'{}' is not a number", where_, key));
    return it->get<double>();
  }
  bool flag(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) return false;
    if (!it->is_boolean()) fail(fmt::format("{}'{}' is not true or false", where_, key));
    return it->get<bool>();
  }
  [[noreturn]] void fail(const std::string& what) const { not_a_tree(file_, what); }

 private:
  static const char* type_name(json::value_t t) {
    switch (t) {
      case json::value_t::string: return "a string";
      case json::value_t::array: return "a list";
      case json::value_t::object: return "an object";
      case json::value_t::number_integer: return "an integer";
      default: return "a number";
    }
  }
  const json& j_;
  std::string file_, where_;
};

TreeNode node_from_json(const json& j, const std::string& file, std::size_t index) {
  if (!j.is_object()) not_a_tree(file, fmt::format("node {} is not an object", index));
  Reader r(j, file, fmt::format("node {}: ", index));
  TreeNode n;
  n.id = r.integer("id");
  if (n.id != static_cast<int>(index)) r.fail(fmt::format("node {} has id {}", index, n.id));
  n.parent = r.integer("parent");
  if (n.parent < -1 || n.parent >= n.id || (n.id > 0 && n.parent < 0))
    r.fail(fmt::format("node {}: parent {} is not an earlier node", index, n.parent));
  n.level = r.integer("level");
  n.made_by = r.text("made_by");
  if (auto it = j.find("split"); it != j.end()) n.split = *it;
  for (const auto& [edge, names] : r.at("mask", json::value_t::object).items()) {
    if (!names.is_array()) r.fail(fmt::format("node {}: the mask of edge {} is not a list", index, edge));
    std::vector<std::string> kept;
    for (const json& name : names) kept.push_back(name.is_string() ? name.get<std::string>() : name.dump());
    n.mask.emplace_back(edge, std::move(kept));
  }
  for (const json& row : r.at("mask_index", json::value_t::array)) {
    std::vector<int> on;
    if (!row.is_array()) r.fail(fmt::format("node {}: a mask_index row is not a list", index));
    for (const json& k : row) {
      if (!k.is_number_integer()) r.fail(fmt::format("node {}: mask_index holds a non-integer", index));
      on.push_back(k.get<int>());
    }
    n.mask_index.push_back(std::move(on));
  }
  n.curve = curve_from_json(r.at("curve", json::value_t::array), file);
  n.kept = r.flag("kept");
  n.leaf = r.flag("leaf");
  n.valid_acc = r.optional_double("valid_acc");
  n.valid_loss = r.optional_double("valid_loss");
  return n;
}

}  // namespace

json to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch}, {"train_loss", r.train_loss}, {"train_acc", r.train_acc}};
}

std::vector<EpochRecord> curve_from_json(const json& j, const std::string& file) {
  if (!j.is_array()) not_a_tree(file, "a training curve is not a list");
  std::vector<EpochRecord> out;
  for (const json& e : j) {
    if (!e.is_object()) not_a_tree(file, "a training-curve entry is not an object");
    Reader r(e, file, "training curve: ");
    out.push_back({r.at("epoch", json::value_t::number_integer).get<std::int64_t>(),
                   r.at("train_loss", json::value_t::number_float).get<double>(),
                   r.at("train_acc", json::value_t::number_float).get<double>()});
  }
  return out;
}

json SplitTree::to_json() const {
  json out_nodes = json::array();
  for (const TreeNode& n : nodes) {
    json mask_names = json::object();
    for (const auto& [edge, names] : n.mask) mask_names[edge] = names;
    json curve_j = json::array();
    for (const EpochRecord& e : n.curve) curve_j.push_back(runtime::to_json(e));
    json j = {{"id", n.id},
              {"parent", n.parent},
              {"level", n.level},
              {"made_by", n.made_by},
              {"split", n.split},
              {"mask", mask_names},
              {"mask_index", n.mask_index},
              {"curve", curve_j},
              {"kept", n.kept},
              {"valid_acc", optional_number(n.valid_acc)},
              {"valid_loss", optional_number(n.valid_loss)}};
    if (n.leaf) j["leaf"] = true;
    out_nodes.push_back(std::move(j));
  }
  return {{"strategy", strategy},          {"cell", cell}, {"nodes", out_nodes},
          {"selected", selected},          {"arch", arch}, {"phases", phases},
          {"judged_images", judged_images}};
}

SplitTree SplitTree::from_json(const json& j, const std::string& file) {
  Reader r(j, file, "");
  if (!j.is_object()) r.fail("not a JSON object (damaged or truncated?)");
  SplitTree t;
  t.strategy = r.text("strategy");
  t.cell = r.text("cell");
  const json& nodes = r.at("nodes", json::value_t::array);
  if (nodes.empty()) r.fail("it has no nodes");
  for (std::size_t i = 0; i < nodes.size(); ++i) t.nodes.push_back(node_from_json(nodes[i], file, i));
  t.selected = r.integer("selected");
  if (t.selected < 0 || t.selected >= static_cast<int>(t.nodes.size()))
    r.fail(fmt::format("the selected node {} is not one of its {} nodes", t.selected, t.nodes.size()));
  t.arch = r.text("arch");
  if (auto it = j.find("judged_images"); it != j.end() && it->is_number_integer())
    t.judged_images = it->get<std::int64_t>();
  if (auto it = j.find("phases"); it != j.end() && it->is_object())
    for (const auto& [name, seconds] : it->items())
      if (seconds.is_number()) t.phases[name] = seconds.get<double>();
  return t;
}

SplitTree SplitTree::read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw TreeError(fmt::format("{}: cannot read the split tree", path));
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded())
    throw TreeError(fmt::format("{}: not a cella split tree: not valid JSON (damaged or truncated?)", path));
  return from_json(j, path);
}

}  // namespace cella::runtime
