// `split none`: one-shot training of the whole supernet for the plan's epochs (restarting its
// schedule at the plan's `at` points where `fresh_schedule` says so); the final architecture
// comes from it.
#include "runtime/search/strategy.h"

namespace cella::runtime {

class OneShot final : public Strategy {
 public:
  OneShot() : Strategy(ir::SplitStrategy::None) {}
  int run(SearchContext& ctx) const override {
    ctx.train(0, ctx.schedule().total(), {});
    return 0;
  }
};

std::unique_ptr<Strategy> make_one_shot() { return std::make_unique<OneShot>(); }

}  // namespace cella::runtime
