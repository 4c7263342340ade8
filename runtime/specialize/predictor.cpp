// Ridge and RBF-SVR predictors chosen by cross-validation, as DyNAS-T's
// dynast/predictors/dynamic_predictor.py does: gamma = 1 / features, epsilon 0, 5 unshuffled
// folds scored by mean absolute percentage error, labels divided by
// 10^(floor(log10 max|y|) - 1). Two departures: DyNAS-T tries 100 values of each hyperparameter
// on a linear grid (alpha 0.1..10.0 by 0.1, C 1..100 by 1); we try 11 on a log grid over the same
// ranges (with epsilon 0 an SVR fit converges slowly, and the 500 fits of DyNAS-T's grid took a
// minute per LINAS batch on 100 rows; the error varies smoothly in both). And features without
// variance in the training rows are dropped, which DyNAS-T does not do: ridge is the same either
// way (a centred constant column is zero), but the SVR's gamma is 1 / the varying features, not
// 1 / all of them.
#include "runtime/specialize/predictor.h"

#include <fmt/format.h>
#include <libsvm/svm.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace cella::specialize {
namespace {

constexpr int kFolds = 5;
constexpr int kGridSteps = 10;  // 11 values, a factor 100 apart at the ends

void quiet(const char*) {}

// A regressor of one family at one hyperparameter value, fitted on selected rows.
class Regressor {
 public:
  virtual ~Regressor() = default;
  virtual double predict(const Eigen::VectorXd& x) const = 0;
};

class Ridge : public Regressor {
 public:
  Ridge(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double alpha) {
    // sklearn's Ridge: the intercept is not penalised, so the data are centred first.
    Eigen::RowVectorXd mean = x.colwise().mean();
    const double y_mean = y.mean();
    Eigen::MatrixXd xc = x.rowwise() - mean;
    Eigen::MatrixXd a = xc.transpose() * xc;
    a.diagonal().array() += alpha;
    w_ = a.ldlt().solve(xc.transpose() * (y.array() - y_mean).matrix());
    b_ = y_mean - mean.dot(w_);
  }
  double predict(const Eigen::VectorXd& x) const override { return x.dot(w_) + b_; }

 private:
  Eigen::VectorXd w_;
  double b_ = 0;
};

class Svr : public Regressor {
 public:
  Svr(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double c) : cols_(static_cast<int>(x.cols())) {
    svm_set_print_string_function(quiet);
    const int n = static_cast<int>(x.rows());
    nodes_.resize(static_cast<std::size_t>(n) * (cols_ + 1));
    rows_.resize(n);
    labels_.assign(y.data(), y.data() + n);
    for (int i = 0; i < n; ++i) {
      svm_node* row = &nodes_[static_cast<std::size_t>(i) * (cols_ + 1)];
      for (int k = 0; k < cols_; ++k) row[k] = {k + 1, x(i, k)};
      row[cols_] = {-1, 0};
      rows_[i] = row;
    }
    problem_.l = n;
    problem_.y = labels_.data();
    problem_.x = rows_.data();
    svm_parameter p{};
    p.svm_type = EPSILON_SVR;
    p.kernel_type = RBF;
    p.gamma = 1.0 / std::max(cols_, 1);  // sklearn's gamma='auto'
    p.C = c;
    p.p = 0;       // epsilon 0, as DyNAS-T
    p.eps = 1e-3;  // sklearn's tol
    p.cache_size = 100;
    p.shrinking = 1;
    model_ = svm_train(&problem_, &p);
  }
  ~Svr() override { svm_free_and_destroy_model(&model_); }
  Svr(const Svr&) = delete;
  Svr& operator=(const Svr&) = delete;

  double predict(const Eigen::VectorXd& x) const override {
    std::vector<svm_node> row(cols_ + 1);
    for (int k = 0; k < cols_; ++k) row[k] = {k + 1, x(k)};
    row[cols_] = {-1, 0};
    return svm_predict(model_, row.data());
  }

 private:
  int cols_;
  std::vector<svm_node> nodes_;
  std::vector<svm_node*> rows_;
  std::vector<double> labels_;
  svm_problem problem_{};
  svm_model* model_ = nullptr;
};

enum class Family { Ridge, Svr };

std::unique_ptr<Regressor> make(Family f, const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double h) {
  if (f == Family::Ridge) return std::make_unique<Ridge>(x, y, h);
  return std::make_unique<Svr>(x, y, h);
}

Eigen::MatrixXd rows_of(const Eigen::MatrixXd& x, const std::vector<int>& idx) {
  Eigen::MatrixXd out(static_cast<int>(idx.size()), x.cols());
  for (std::size_t i = 0; i < idx.size(); ++i) out.row(static_cast<int>(i)) = x.row(idx[i]);
  return out;
}

// Mean over unshuffled folds (sklearn's KFold) of the mean absolute percentage error.
double cross_validated_mape(Family f, const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double h) {
  const int n = static_cast<int>(x.rows()), folds = std::min(kFolds, n);
  double total = 0;
  int start = 0;
  for (int k = 0; k < folds; ++k) {
    const int size = n / folds + (k < n % folds ? 1 : 0);
    std::vector<int> train, test;
    for (int i = 0; i < n; ++i) (i >= start && i < start + size ? test : train).push_back(i);
    start += size;
    Eigen::VectorXd ytrain(static_cast<int>(train.size()));
    for (std::size_t i = 0; i < train.size(); ++i) ytrain(static_cast<int>(i)) = y(train[i]);
    auto r = make(f, rows_of(x, train), ytrain, h);
    double err = 0;
    for (int i : test)
      err += std::abs(y(i) - r->predict(x.row(i).transpose())) /
             std::max(std::abs(y(i)), std::numeric_limits<double>::epsilon());
    total += err / static_cast<double>(test.size());
  }
  return total / folds;
}

}  // namespace

std::vector<double> one_hot(const std::vector<int>& genome, const std::vector<int>& cardinalities) {
  std::vector<double> out;
  for (std::size_t g = 0; g < genome.size(); ++g)
    for (int v = 0; v < cardinalities[g]; ++v) out.push_back(genome[g] == v ? 1.0 : 0.0);
  return out;
}

struct Predictor::Model {
  std::vector<int> columns;  // features with variance
  double scale = 1;          // label normalisation
  Family family = Family::Ridge;
  double hyper = 0;
  double mape = 0;
  std::unique_ptr<Regressor> regressor;

  Eigen::VectorXd select(const std::vector<double>& f) const {
    Eigen::VectorXd v(static_cast<int>(columns.size()));
    for (std::size_t k = 0; k < columns.size(); ++k) v(static_cast<int>(k)) = f.at(columns[k]);
    return v;
  }
};

Predictor::Predictor() = default;
Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;

void Predictor::fit(const std::vector<std::vector<double>>& features, const std::vector<double>& labels) {
  if (features.size() < 2 || features.size() != labels.size())
    throw std::invalid_argument("a predictor needs at least two labelled rows");
  auto m = std::make_unique<Model>();
  const std::size_t cols = features[0].size();
  for (std::size_t k = 0; k < cols; ++k) {
    bool varies = false;
    for (const auto& row : features) varies = varies || row[k] != features[0][k];
    if (varies) m->columns.push_back(static_cast<int>(k));
  }
  double max_label = 0;
  for (double y : labels) max_label = std::max(max_label, std::abs(y));
  m->scale = max_label > 0 ? std::pow(10.0, std::floor(std::log10(max_label)) - 1.0) : 1.0;
  const int n = static_cast<int>(features.size());
  Eigen::MatrixXd x(n, static_cast<int>(m->columns.size()));
  Eigen::VectorXd y(n);
  for (int i = 0; i < n; ++i) {
    x.row(i) = m->select(features[i]).transpose();
    y(i) = labels[i] / m->scale;
  }
  // GridSearchCV keeps the first of equal scores; then the better family wins, ridge on a tie.
  double best = std::numeric_limits<double>::infinity();
  for (Family f : {Family::Ridge, Family::Svr})
    for (int step = 0; step <= kGridSteps; ++step) {
      const double h = (f == Family::Ridge ? 0.1 : 1.0) * std::pow(100.0, static_cast<double>(step) / kGridSteps);
      const double e = cross_validated_mape(f, x, y, h);
      if (e < best) {
        best = e;
        m->family = f;
        m->hyper = h;
      }
    }
  m->mape = 100 * best;
  m->regressor = make(m->family, x, y, m->hyper);
  model_ = std::move(m);
}

double Predictor::predict(const std::vector<double>& features) const {
  if (!model_) throw std::logic_error("predictor used before fit");
  return model_->regressor->predict(model_->select(features)) * model_->scale;
}

std::string Predictor::describe() const {
  if (!model_) return "unfitted";
  return model_->family == Family::Ridge ? fmt::format("ridge(alpha={:g})", model_->hyper)
                                         : fmt::format("svr(C={:g})", model_->hyper);
}

double Predictor::cv_mape() const { return model_ ? model_->mape : NAN; }

}  // namespace cella::specialize
