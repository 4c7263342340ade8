// `cella stats`'s report (stats.h).
#include "compiler/driver/stats.h"

#include <fmt/format.h>

#include <stdexcept>

#include "compiler/ir/plan.h"
#include "compiler/passes/stats.h"

namespace cella::driver {

StatsReport stats_report(const ir::Program& p, const ir::Arch* arch, const std::string& data_override) {
  StatsReport r;
  r.data = !data_override.empty() ? data_override : p.search ? p.search->data.name : "fashion_mnist";
  const ir::DataSet* shape = ir::find_data_set(r.data);
  if (!shape) throw std::invalid_argument(fmt::format("--data {}: no such data set", r.data));
  r.channels = shape->channels;
  r.size = shape->size;
  const passes::NetworkStats s = passes::network_stats(p, arch, shape->size, arch != nullptr);
  if (const auto& sizes = p.network->resolutions; !sizes.empty())
    r.resolution = arch ? sizes[static_cast<std::size_t>(arch->resolution)] : sizes.back();
  r.json = {{"network", p.network->name},
            {"data", r.data},
            {"input", {shape->channels, shape->size, shape->size}},
            {"params", s.params},
            {"flops", s.macs},
            {"macs", s.macs},
            {"what", arch ? "architecture" : "supernet"}};
  if (arch) r.json["arch"] = ir::to_text(p, *arch);
  if (s.aux_params > 0) r.json["aux_params"] = s.aux_params;
  if (r.resolution) r.json["resolution"] = *r.resolution;
  r.text = fmt::format("{} of network {} on {} ({}x{}x{}){}\n", arch ? "architecture" : "supernet (every candidate)",
                       p.network->name, r.data, shape->channels, shape->size, shape->size,
                       r.resolution ? fmt::format(", resized to {}x{}", *r.resolution, *r.resolution) : "");
  r.text += fmt::format("  parameters: {} ({:.6f} M){}\n", s.params, s.params / 1e6,
                        s.aux_params > 0 ? fmt::format(", and {} in the auxiliary head", s.aux_params) : "");
  r.text += fmt::format("  FLOPs:      {} ({:.6f} M multiply-accumulates)\n", s.macs, s.macs / 1e6);
  return r;
}

}  // namespace cella::driver
