// Predictors of an expensive metric from an architecture's genome, as DyNAS-T's LINAS fits them:
// one-hot features of every gene, labels scaled to about two digits, and the better of ridge
// regression (Eigen) and RBF support-vector regression (Debian's libsvm) by 5-fold cross-
// validated mean absolute percentage error, each over DyNAS-T's grid of its one hyperparameter.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace cella::specialize {

/// One-hot features of a genome: one block of `cardinality` columns per gene.
std::vector<double> one_hot(const std::vector<int>& genome, const std::vector<int>& cardinalities);

class Predictor {
 public:
  Predictor();
  ~Predictor();
  Predictor(Predictor&&) noexcept;
  Predictor& operator=(Predictor&&) noexcept;

  /// Fits on rows of features and their labels (at least 2 rows). Deterministic.
  void fit(const std::vector<std::vector<double>>& features, const std::vector<double>& labels);
  double predict(const std::vector<double>& features) const;

  /// "ridge(alpha=0.3)" or "svr(C=17)", with the cross-validated error: for the log.
  std::string describe() const;
  double cv_mape() const;  ///< percent

 private:
  struct Model;
  std::unique_ptr<Model> model_;
};

}  // namespace cella::specialize
