// Stand-alone networks cut out of chain supernets (extract.h).
#include "runtime/supernet/extract.h"

#include "runtime/ops/elastic.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <string>

namespace cella::runtime {

namespace {

// Every parameter and buffer of `m` by its name inside `m`.
std::map<std::string, torch::Tensor> tensors_of(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value();
  return out;
}

// Copies into `to` every tensor `from` has under the same name. A name only `to` has keeps its
// initial value (a supernet's batch norm without weights: the identity). Shapes must agree,
// except under `narrow` (a width-elastic supernet, whose narrower layers use the first channels
// of its weights: runtime/ops/elastic.h run_narrowed), where the target takes the first entries
// along every dimension.
void copy_into(const torch::nn::Module& from, torch::nn::Module& to, const std::string& what, bool narrow) {
  const std::map<std::string, torch::Tensor> source = tensors_of(from);
  for (auto& [name, target] : tensors_of(to)) {
    auto it = source.find(name);
    if (it == source.end()) continue;
    torch::Tensor piece = it->second;
    if (narrow && piece.dim() == target.dim())
      for (std::int64_t d = 0; d < piece.dim(); ++d)
        if (piece.size(d) > target.size(d)) piece = piece.narrow(d, 0, target.size(d));
    if (piece.sizes() != target.sizes())
      throw std::logic_error(fmt::format("{}: {} has shape {} in the supernet and {} alone", what, name,
                                         fmt::join(it->second.sizes(), "x"), fmt::join(target.sizes(), "x")));
    target.copy_(piece);
  }
}

std::shared_ptr<torch::nn::Module> child_named(const torch::nn::Module& m, const std::string& name) {
  for (const auto& c : m.named_children())
    if (c.key() == name) return c.value();
  throw std::logic_error(fmt::format("the network has no module '{}'", name));
}

}  // namespace

Network extract(Network& supernet, const ir::Arch& arch) {
  const ir::Program& p = supernet->program();
  if (auto why = ir::check_arch(p, arch)) throw std::invalid_argument(*why);
  if (!p.network->cell_groups.empty())
    throw std::invalid_argument(
        fmt::format("network '{}' has cells: an architecture of cells is retrained (cella "
                    "retrain), not cut out of its supernet",
                    p.network->name));
  Network alone(supernet->program_ptr(), Mask::of_arch(p, arch), /*supernet=*/false);
  alone->to(supernet->device());
  torch::NoGradGuard no_grad;
  const lower::Network& from = supernet->description();
  const lower::Network& to = alone->description();
  const bool narrow = !p.network->width_groups.empty();
  for (std::size_t i = 0; i < to.units.size(); ++i) {
    if (!ir::unit_runs(p, static_cast<int>(i), arch)) continue;
    const lower::Unit& target = to.units[i];
    if (target.fixed) {
      copy_into(*child_named(*supernet, from.units[i].fixed->name), *child_named(*alone, target.fixed->name),
                target.name, narrow);
      continue;
    }
    const ir::Unit& unit = p.network->units[i];
    const int c = arch.layers[static_cast<std::size_t>(unit.group)];
    const lower::Module& chosen = *target.choices.at(static_cast<std::size_t>(c));
    // The stand-alone candidate is a Sequential of the candidate's primitives; an `mbv3` is one.
    auto holder = child_named(*alone, chosen.name);
    if (const auto& elastic = from.units[i].elastic) {
      auto* block = child_named(*supernet, elastic->name)->as<ElasticMBConvImpl>();
      const ir::PrimCall& call = unit.choices[static_cast<std::size_t>(c)].seq.at(0);
      auto piece = block->extract(call.int_arg("k", 0), call.int_arg("e", 0), chosen.in_channels,
                                  ir::unit_width(p, static_cast<int>(i), arch));
      copy_into(*piece, *child_named(*holder, "0"), chosen.name, false);
    } else {
      copy_into(*child_named(*supernet, from.units[i].choices.at(static_cast<std::size_t>(c))->name), *holder,
                chosen.name, narrow);
    }
  }
  alone->eval();
  return alone;
}

}  // namespace cella::runtime
