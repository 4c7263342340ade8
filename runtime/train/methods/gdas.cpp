// GDAS (`weights gdas`): one candidate per edge, the argmax of a Gumbel-softmax sample of α,
// with a straight-through gradient to the soft sample (Dong and Yang, CVPR 2019). It is judged
// by its strongest architecture, which on a `select` node keeps only the strongest inputs (the
// per-edge argmax would keep them all).
#include "runtime/train/methods/weighted.h"

namespace cella::runtime {

namespace {

class Gdas : public WeightedMethod {
 public:
  std::string_view name() const override { return "gdas"; }
  bool trains_single_paths() const override { return true; }

  Mixing judging_mixing(const SupernetState& s, const ir::SupernetPlan&, std::mt19937_64&) const override {
    return mixing_of(s.net->program(), strongest_arch(s));
  }

 protected:
  Mix weigh(const std::vector<int>& ops, const torch::Tensor& logits, Step, torch::Generator& gen,
            double tau) const override {
    torch::Tensor probs = gumbel_softmax(logits, gen, tau);
    std::int64_t best = probs.argmax().item<std::int64_t>();
    torch::Tensor hard = torch::zeros_like(probs);
    hard[best] = 1.0;
    torch::Tensor st = hard - probs.detach() + probs;  // forward one-hot, gradient of the soft sample
    return Mix{{ops[best]}, st.narrow(0, best, 1)};
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_gdas() { return std::make_unique<Gdas>(); }

}  // namespace cella::runtime
