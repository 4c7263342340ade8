// Semantic analysis entry point: collects the top-level names of all files, then builds cells,
// the network and the search plan.
#include <fmt/format.h>

#include <map>

#include "compiler/ir/plan.h"
#include "compiler/sema/internal.h"

namespace cella::sema {

using diag::Kind;

namespace {

template <class Decl>
bool declare(std::map<std::string, const Decl*, std::less<>>& table, const Decl* d,
             std::map<std::string, diag::SourceRange>& all, diag::DiagnosticEngine& diags) {
  auto [it, fresh] = all.emplace(d->name, d->name_range);
  if (!fresh) {
    diags.report(Kind::DuplicateDefinition, d->name_range, fmt::format("'{}' is defined twice", d->name));
    diags.note("previous definition here", it->second);
    return false;
  }
  if (ir::find_primitive(d->name)) {
    diags.report(Kind::DuplicateDefinition, d->name_range,
                 fmt::format("'{}' is a built-in primitive and cannot be redefined", d->name));
    return false;
  }
  table.emplace(d->name, d);
  return true;
}

template <class Decl>
std::string names_of(const std::vector<const Decl*>& decls) {
  std::string out;
  for (const Decl* d : decls) out += (out.empty() ? "" : ", ") + d->name;
  return out;
}

}  // namespace

std::optional<ir::Program> analyze(const std::vector<ast::File>& files, const Options& options,
                                   diag::DiagnosticEngine& diags) {
  std::size_t before = diags.error_count();
  Globals g;
  std::map<std::string, diag::SourceRange> all;
  std::vector<const ast::CellDecl*> cell_order;
  std::vector<const ast::NetworkDecl*> network_order;
  std::vector<const ast::SearchDecl*> search_order;
  for (const ast::File& f : files) {
    for (const ast::Decl& d : f.decls) {
      switch (d.kind) {
        case ast::Decl::Kind::Import: break;
        case ast::Decl::Kind::Op: {
          std::map<std::string, int> seen;
          for (const ast::Param& p : d.op->params)
            if (seen[p.name]++)
              diags.report(Kind::DuplicateParameter, p.range, fmt::format("parameter '{}' is listed twice", p.name));
          declare(g.ops, d.op.get(), all, diags);
          break;
        }
        case ast::Decl::Kind::Opset: declare(g.opsets, d.opset.get(), all, diags); break;
        case ast::Decl::Kind::Cell:
          if (declare(g.cells, d.cell.get(), all, diags)) cell_order.push_back(d.cell.get());
          break;
        case ast::Decl::Kind::Network:
          if (declare(g.networks, d.network.get(), all, diags)) network_order.push_back(d.network.get());
          break;
        case ast::Decl::Kind::Search:
          if (declare(g.searches, d.search.get(), all, diags)) search_order.push_back(d.search.get());
          break;
      }
    }
  }

  Evaluator ev(g, diags);
  ir::Program program;
  // Every opset and op is checked once on its own, so errors in unused definitions surface too.
  for (const auto& [name, decl] : g.opsets) {
    // Placement binds `stride` and `out`; any value lets the rest of each operation be checked.
    if (auto v = ev.eval_ops(*decl->value, {})) ev.expand_all(*v, Bindings{1, 16});
  }
  for (const auto& [name, decl] : g.ops) {
    bool all_defaults = true;
    for (const ast::Param& p : decl->params) all_defaults = all_defaults && p.default_value != nullptr;
    if (!all_defaults) continue;  // needs arguments: checked where it is used
    OpValue op;
    op.steps.push_back(OpStep{Callee{name, decl}, {}, decl->name_range});
    ev.expand(op, {}, name, decl->name_range);
  }
  for (const ast::CellDecl* c : cell_order)
    if (auto cell = build_cell(*c, g, ev)) program.cells.push_back(std::move(*cell));

  // Which search and network.
  for (const ast::SearchDecl* d : search_order) program.searches.push_back(d->name);
  const ast::SearchDecl* search = nullptr;
  if (!options.search.empty()) {
    auto it = g.searches.find(options.search);
    if (it == g.searches.end()) {
      diags.report(Kind::BadOption, {},
                   fmt::format("--search {}: the file has no search block of that name", options.search));
      diags.note(fmt::format("its search blocks: {}", names_of(search_order)));
      return std::nullopt;
    }
    search = it->second;
  } else if (!search_order.empty()) {
    search = search_order.front();
  }
  const ast::NetworkDecl* network = nullptr;
  std::string want = !options.network.empty() ? options.network : search ? search->network : "";
  if (!want.empty()) {
    auto it = g.networks.find(want);
    if (it == g.networks.end()) {
      std::vector<std::string> names;
      for (const auto& [n, _] : g.networks) names.push_back(n);
      if (search && options.network.empty()) {
        diags.report(Kind::UnknownName, search->network_range, fmt::format("unknown network '{}'", want));
        if (std::string m = diag::closest_match(want, names); !m.empty())
          diags.note(fmt::format("did you mean '{}'?", m));
      } else {
        diags.report(Kind::BadOption, {}, fmt::format("--network {}: the file has no network of that name", want));
        diags.note(fmt::format("its networks: {}", names_of(network_order)));
      }
      return std::nullopt;
    }
    network = it->second;
  } else if (!network_order.empty()) {
    network = network_order.back();
  }

  std::string data = !options.data.empty() ? options.data : "";
  if (data.empty() && search) {
    for (const ast::Setting& s : search->body.settings)
      if (s.name == "data" && s.value && s.value->kind == ast::ExprKind::Name) data = s.value->text;
  }
  const ir::DataSet* shape = ir::find_data_set(data.empty() ? "fashion_mnist" : data);
  if (!shape && !options.data.empty()) {
    diags.report(Kind::BadOption, {},
                 fmt::format("--data {}: unknown data set; cella reads {}", options.data,
                             fmt::join(ir::data_set_names(), ", ")));
    if (std::string m = diag::closest_match(options.data, ir::data_set_names()); !m.empty())
      diags.note(fmt::format("did you mean '{}'?", m));
    return std::nullopt;
  }
  if (!shape) shape = ir::find_data_set("fashion_mnist");  // the search block reports the unknown name
  if (diags.error_count() > before) return std::nullopt;

  if (network) {
    program.network =
        build_network(*network, g, ev, program.cells, options, ir::Shape{shape->channels, 1, false}, shape->classes);
  } else {
    for (const auto& [name, _] : options.overrides)
      if (name.find('.') == std::string::npos)
        diags.report(Kind::BadOverride, {},
                     fmt::format("--set {}: the file has no network with parameters to set", name));
  }
  if (search && program.network) {
    if (auto plan = build_search(*search, ev, program.cells, *program.network, options))
      program.search = std::make_shared<const ir::SearchPlan>(std::move(*plan));
  } else if (program.network) {
    // No search block: the defaults, which `--data` and `--set data.subset=...` change as they
    // would change a block's settings (and which reject a setting that does not exist).
    ast::SearchDecl defaults;
    defaults.name = "default";
    if (auto plan = build_search(defaults, ev, program.cells, *program.network, options))
      program.default_plan = std::make_shared<const ir::SearchPlan>(std::move(*plan));
  }
  if (diags.error_count() > before) return std::nullopt;
  return program;
}

}  // namespace cella::sema
