// The embedding API, on top of the compile API and the runtime.
#include "runtime/include/cella/cella.h"
#include "compiler/ir/plan.h"

#include "compiler/passes/space.h"

namespace cella {

namespace {

Space make(std::unique_ptr<driver::Compilation> c, std::shared_ptr<driver::Compilation>& slot,
           std::shared_ptr<const ir::Program>& program) {
  slot = std::move(c);
  if (slot->ok()) program = std::make_shared<const ir::Program>(*slot->program);
  return {};
}

}  // namespace

Space Space::from_file(const std::string& path, const CompileOptions& options) {
  Space s;
  make(driver::compile_file(path, options), s.compilation_, s.program_);
  return s;
}

Space Space::from_string(const std::string& name, const std::string& text, const CompileOptions& options) {
  Space s;
  make(driver::compile_string(name, text, options), s.compilation_, s.program_);
  return s;
}

bool Space::ok() const { return program_ != nullptr && program_->network.has_value(); }

std::string Space::diagnostics() const { return diag::render_all(compilation_->diags, compilation_->sources); }

const std::vector<diag::Diagnostic>& Space::diagnostic_list() const { return compilation_->diags.diagnostics(); }

const ir::Program& Space::program() const {
  if (!program_) throw std::logic_error("cella: the space did not compile; see diagnostics()");
  return *program_;
}

std::shared_ptr<const ir::Program> Space::program_ptr() const {
  program();
  return program_;
}

std::string Space::size() const { return passes::count(program(), /*unique=*/false).raw.str(); }

ir::Arch Space::arch(const std::string& text) const {
  auto a = ir::parse_arch(program(), text);
  if (auto* err = std::get_if<std::string>(&a)) throw std::invalid_argument(*err);
  return std::get<ir::Arch>(a);
}

std::string Space::text(const ir::Arch& a) const { return ir::to_text(program(), a); }

Network Space::supernet() const { return Network(program_ptr(), runtime::Mask::full(program()), /*supernet=*/true); }

Network Space::network(const ir::Arch& a) const {
  return Network(program_ptr(), runtime::Mask::of_arch(program(), a), /*supernet=*/false);
}

TrainResult train(const Space& space, const TrainOptions& o) {
  runtime::use_device(runtime::parse_device(o.device));
  ir::SearchPlan plan = ir::plan_of(space.program());
  if (!o.data.empty()) plan.data.name = o.data;
  if (o.epochs > 0) plan.supernet.epochs = o.epochs;
  runtime::DataSplits data = runtime::load_data(plan.data.name, o.data_dir.empty() ? plan.data.path : o.data_dir,
                                                plan.data.subset, plan.data.train_portion, o.seed);
  TrainResult r;
  r.state = runtime::make_supernet(space.program_ptr(), runtime::Mask::full(space.program()), plan.supernet, o.seed);
  runtime::train_supernet(r.state, plan.supernet, ir::Schedule::supernet_only(plan, plan.supernet.epochs), data, o.seed,
                          plan.supernet.epochs, o.on_progress, o.on_epoch);
  r.arch = runtime::derive(r.state, plan.supernet, data, o.seed, 20, o.on_progress);
  r.valid_accuracy =
      runtime::evaluate(r.state.net, runtime::mixing_of(space.program(), r.arch), data.valid, 256).accuracy;
  return r;
}

}  // namespace cella
