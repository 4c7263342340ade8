// Static parameter and MAC counts: the sum over the lowered network's modules (compiler/lower),
// the same description the runtime builds its modules from.
#include "compiler/passes/stats.h"

#include "compiler/lower/lower.h"

namespace cella::passes {

NetworkStats network_stats(const ir::Program& p, const ir::Arch* arch, std::int64_t size, bool affine) {
  const std::vector<std::int64_t>& resolutions = p.network->resolutions;
  if (!resolutions.empty())
    size = arch ? resolutions.at(static_cast<std::size_t>(arch->resolution)) : resolutions.back();
  ir::Mask mask = arch ? ir::Mask::of_arch(p, *arch) : ir::Mask::full(p);
  lower::Network net = lower::lower(p, mask, /*supernet=*/!affine, size);
  NetworkStats total;
  for (const lower::Module* m : net.modules()) {
    if (arch && !ir::unit_runs(p, m->unit, *arch)) continue;
    ir::Cost c = lower::cost(*m);
    total.params += c.params;
    total.macs += c.macs;
  }
  if (net.auxiliary) total.aux_params = lower::cost(*net.auxiliary).params;
  return total;
}

}  // namespace cella::passes
