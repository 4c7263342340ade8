// `split none`: one-shot training of the whole supernet for the plan's epochs; the final
// architecture comes from it.
#include "runtime/search/strategy.h"

namespace cella::runtime {

namespace {

class OneShot : public Strategy {
 public:
  std::string name() const override { return std::string(ir::name_of(ir::SplitStrategy::None)); }
  int run(SearchContext& ctx) const override {
    ctx.train(0, ctx.plan().supernet.epochs, {});
    return 0;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_one_shot() { return std::make_unique<OneShot>(); }

}  // namespace cella::runtime
