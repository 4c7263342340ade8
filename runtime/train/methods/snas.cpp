// SNAS (`weights snas`): every enabled candidate runs, weighted by a soft Gumbel-softmax
// sample of α at the epoch's temperature (Xie et al., ICLR 2019).
#include "runtime/train/methods/weighted.h"

namespace cella::runtime {

namespace {

class Snas : public WeightedMethod {
 public:
  std::string_view name() const override { return "snas"; }

 protected:
  Mix weigh(const std::vector<int>& ops, const torch::Tensor& logits, Step, torch::Generator& gen,
            double tau) const override {
    return Mix{ops, gumbel_softmax(logits, gen, tau)};
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_snas() { return std::make_unique<Snas>(); }

}  // namespace cella::runtime
