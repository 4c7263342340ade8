// Pass: every operation gets an image to work on at the data set's size (or the network's
// smallest input resolution): a kernel no larger
// than its padded input, and at least one pixel out. A network that shrinks small images to
// nothing (too many reductions, an auxiliary head's pooling meant for CIFAR-10's 32 pixels on
// Fashion-MNIST's 28) would otherwise fail inside LibTorch when it first runs.
#include <fmt/format.h>

#include "compiler/ir/plan.h"
#include "compiler/lower/lower.h"
#include "compiler/passes/pass_manager.h"

namespace cella::passes {

void check_spatial_sizes(ir::Program& program, diag::DiagnosticEngine& diags) {
  if (!program.network) return;
  const ir::DataSet* data = ir::find_data_set(ir::plan_of(program).data.name);
  if (!data) return;
  const ir::Network& n = *program.network;
  // A network with a resolution choice runs at each; the smallest has the least image.
  const std::int64_t size = n.resolutions.empty() ? data->size : n.resolutions.front();
  const std::string images = n.resolutions.empty() ? fmt::format("{}'s {}-pixel images", data->name, data->size)
                                                   : fmt::format("images resized to {} pixels", size);
  const lower::Network net = lower::lower(program, ir::Mask::full(program), /*supernet=*/false, size);
  // Reports the first call of `m` that has too little image; false then.
  auto fits = [&](const lower::Module& m, diag::SourceRange where) {
    std::int64_t side = m.in_size;
    for (const ir::PrimCall& c : m.op.seq) {
      if (ir::is_windowed(c)) {
        const std::int64_t k = c.int_arg("k", 1), span = c.int_arg("dilation", 1) * (k - 1) + 1;
        if (span > side + 2 * c.int_arg("pad", 0)) {
          diags.report(diag::Kind::ShapeError, where,
                       fmt::format("{}(k={}) needs {}x{} pixels, but {} are {}x{} here", c.prim, k, span, span, images,
                                   side, side));
          diags.note("pad the operation, use a data set with larger images, or reduce the resolution less before it");
          return false;
        }
      }
      side = ir::out_size(c, side);
    }
    return true;
  };
  for (const lower::Module* m : net.modules())
    if (!fits(*m, n.units[static_cast<std::size_t>(m->unit)].range)) return;
  if (net.auxiliary) fits(*net.auxiliary, n.auxiliary->range);
}

}  // namespace cella::passes
