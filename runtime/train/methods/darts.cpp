// DARTS, first order (`weights darts`): every enabled candidate runs, weighted by the softmax
// of α over the enabled candidates (Liu et al., ICLR 2019; quark0/darts model_search.py).
#include "runtime/train/methods/weighted.h"

namespace cella::runtime {

namespace {

class Darts : public WeightedMethod {
 public:
  std::string_view name() const override { return "darts"; }

 protected:
  Mix weigh(const std::vector<int>& ops, const torch::Tensor& logits, Step, torch::Generator&, double) const override {
    return Mix{ops, logits.softmax(-1)};
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_darts() { return std::make_unique<Darts>(); }

}  // namespace cella::runtime
