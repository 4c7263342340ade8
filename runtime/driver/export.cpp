// `cella export`: one architecture as a PyTorch module (model.py), its weights in the file
// PyTorch's torch.load reads (weights.pt), and an example batch with cella's logits
// (example.pt) that `python3 model.py` checks itself against; with `--format onnx` also
// model.onnx, written by that module through torch.onnx.export.
#include <spawn.h>
#include <sys/wait.h>
#include <torch/serialize.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "runtime/driver/common.h"
#include "runtime/export/pytorch.h"
#include "runtime/supernet/extract.h"

extern char** environ;

namespace cella::runtime::cli {

namespace {

// A dictionary of tensors in PyTorch's pickle format, which torch.load reads.
void write_tensors(const std::string& path, const c10::Dict<std::string, at::Tensor>& tensors) {
  std::vector<char> bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream out(path, std::ios::binary);
  if (!out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw std::runtime_error(fmt::format("cannot write {}", path));
}

// What is exported: an architecture of a program, as a network holding the weights to write.
struct Exported {
  std::shared_ptr<const ir::Program> program;
  ir::Arch arch;
  Network net{nullptr};
  bool supernet = false;  ///< the architecture's path through a supernet (inherited weights)
  std::string source;     ///< where the weights come from, for the file's header
};

// FILE --arch ARCH: fresh weights from the seed.
Exported fresh(const Options& o) {
  if (o.file.empty() || o.arch.empty()) throw Failure(kUsage, "export needs FILE --arch ARCH, or --weights RUN_DIR");
  if (o.node >= 0) throw Failure(kUsage, "--node goes with --weights SEARCH_RUN");
  Exported e;
  e.program = std::make_shared<const ir::Program>(
      *compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search)->program);
  e.arch = parse_arch_or_fail(*e.program, o.arch);
  const std::uint64_t seed = o.seed_given ? o.seed : 0;
  torch::manual_seed(seed);
  e.net = Network(e.program, Mask::of_arch(*e.program, e.arch), false);
  e.source = fmt::format("{} (fresh weights, seed {})", o.file, seed);
  return e;
}

// A `cella retrain` or `cella extract` run: its one architecture with the weights it holds.
Exported retrained(const Options& o, const RunDir& run, Rebuilt r) {
  const std::string kind = r.config.command;
  const char* made = kind == "extract" ? "extracted" : "retrained";
  Exported e;
  e.program = r.program;
  e.arch = parse_arch_or_fail(*e.program, run.path());  // its arch.txt
  if (!o.arch.empty() && !(parse_arch_or_fail(*e.program, o.arch) == e.arch))
    throw Failure(kUsage, fmt::format("{} {} {}; it holds no other architecture", run.path(), made,
                                      ir::to_text(*e.program, e.arch)));
  if (o.node >= 0) throw Failure(kUsage, fmt::format("--node {}: {} is one {} network", o.node, run.path(), made));
  e.net = Network(e.program, Mask::of_arch(*e.program, e.arch), false);
  try {
    load_weights(e.net, run.file("weights.pt"));
  } catch (const CheckpointError& err) {
    throw Failure(kInvalid, fmt::format("{}; `cella {}` writes it again", err.what(), kind));
  }
  e.source = fmt::format("the {} run {}", kind, run.path());
  return e;
}

// Whether a supernet's children hold slices of its tensors (elastic layers, elastic widths)
// rather than some of them whole.
bool sliced(const ir::Program& p) {
  const ir::Network& n = *p.network;
  return !n.width_groups.empty() ||
         std::any_of(n.units.begin(), n.units.end(), [](const ir::Unit& u) { return !u.elastic.empty(); });
}

// A `cella train` or `cella search` run: the architecture's path through the supernet (for a
// search, the sub-supernet that holds it), with the weights it passes on. Inside a supernet the
// batch norms keep statistics of every path that ran through them, and the supernet itself is
// evaluated with batch statistics; a module in eval mode needs this path's own, so they are
// re-estimated on training batches (as OFA and BigNAS calibrate a subnet), and the validation
// accuracy of the module so exported is reported.
Exported inherited(const Options& o, const RunDir& run, Rebuilt r) {
  const std::string command = r.config.command;
  Opened opened = open_run(std::move(r));
  const std::optional<SplitTree> tree = tree_of(run, command, o.node);
  Exported e;
  e.program = opened.r.program;
  const ir::Program& p = *e.program;
  e.arch = parse_arch_or_fail(p, o.arch.empty() ? run.path() : o.arch);  // default: the derived one
  warn_if_mixture_trained(opened);
  const int node = node_for(p, tree, e.arch, o.node);
  SupernetState supernet = weights_of(opened, run, tree, node);
  if (sliced(p)) {
    // An elastic child's tensors are slices of the supernet's (kernels, expansions, widths), not
    // copies under the same names: cut it out as `cella extract` does, a stand-alone network.
    e.net = extract(supernet.net, e.arch);
  } else {
    // The path alone, with the supernet's weights under the same names.
    e.net = Network(e.program, Mask::of_arch(p, e.arch), true);
    e.supernet = true;
    torch::NoGradGuard no_grad;
    auto params = supernet.net->named_parameters();
    auto buffers = supernet.net->named_buffers();
    for (auto& kv : e.net->named_parameters()) kv.value().copy_(params[kv.key()]);
    for (auto& kv : e.net->named_buffers()) kv.value().copy_(buffers[kv.key()]);
  }
  const std::int64_t batches = o.recalibrate > 0 ? o.recalibrate : 20;
  const Mixing mix = mixing_of(p, e.arch);
  recalibrate_batch_norm(e.net, mix, opened.data.train, batches, 256);
  Evaluation valid = evaluate_with_running_statistics(e.net, mix, opened.data.valid, 256);
  std::string where = tree ? fmt::format("sub-supernet {} of the search run {}", node, run.path())
                           : fmt::format("the supernet of the train run {}", run.path());
  std::cerr << fmt::format(
      "cella: weights inherited from {}; batch norms re-estimated on {} training batches; validation accuracy "
      "{:.2f}%\n",
      where, batches, valid.accuracy);
  e.source = fmt::format(
      "{} (inherited weights, batch-norm statistics re-estimated on {} training batches of 256;\n# validation "
      "accuracy so {:.2f}%)",
      where, batches, valid.accuracy);
  return e;
}

// Runs `python model.py --onnx model.onnx`, which writes the ONNX file with torch.onnx.export
// and checks it with onnxruntime where that is installed.
void write_onnx(const std::string& python, const std::string& dir) {
  const std::string model = dir + "/model.py", onnx = dir + "/model.onnx";
  std::vector<std::string> args = {python, model, "--onnx", onnx};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    throw Failure(kInvalid, fmt::format("--format onnx runs the exported module in Python, and `{}` cannot be run; "
                                        "--python PATH names one with torch",
                                        python));
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Failure(kInvalid,
                  fmt::format("`{} {} --onnx {}` failed (above); {}/model.py and weights.pt are written, "
                              "{}; --python PATH names a Python with torch",
                              python, model, onnx, dir,
                              std::filesystem::exists(onnx) ? "model.onnx is not to be trusted" : "model.onnx is not"));
}

}  // namespace

int cmd_export(Options& o) {
  Exported e;
  if (o.weights.empty()) {
    e = fresh(o);
  } else {
    RunDir run(o.weights, true);
    expect_kind(run, {"train", "search", "retrain", "extract"}, "`cella export --weights`");
    Rebuilt r = rebuild(run, o);
    if (r.config.command == "retrain" || r.config.command == "extract")
      e = retrained(o, run, std::move(r));
    else
      e = inherited(o, run, std::move(r));
  }
  const ir::Program& program = *e.program;
  exporter::PytorchModule module;
  try {
    module = exporter::pytorch_module(
        program, e.arch,
        fmt::format("Exported by cella from {}.\n# Architecture: {}", e.source, ir::to_text(program, e.arch)),
        e.supernet);
  } catch (const std::invalid_argument& err) {
    throw Failure(kInvalid, err.what());
  }
  c10::Dict<std::string, at::Tensor> state;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    std::string py = exporter::python_name(module, name);
    if (!py.empty()) state.insert(py, t.detach().clone());  // parameters of units that do not run stay behind
  };
  // The auxiliary head trains the network; the exported module is for inference, without it.
  for (const auto& kv : e.net->named_parameters())
    if (!NetworkImpl::is_auxiliary(kv.key())) add(kv.key(), kv.value());
  for (const auto& kv : e.net->named_buffers())
    if (!NetworkImpl::is_auxiliary(kv.key())) add(kv.key(), kv.value());
  // An example batch and cella's logits on it, in eval mode, for the module's self-check.
  // The data set the program was compiled for (`--data` included): its images' shape.
  const ir::DataSet* shape = ir::find_data_set(ir::plan_of(program).data.name);
  const std::int64_t size = shape ? shape->size : 28;
  const std::uint64_t seed = o.seed_given ? o.seed : 0;
  torch::Generator gen = at::detail::createCPUGenerator(seed + 7);
  torch::Tensor x = torch::randn({2, program.network->input.channels, size, size}, gen);
  e.net->eval();
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = e.net->forward(x, mixing_of(program, e.arch));
  }
  const std::string out = o.out.empty() ? "export" : o.out;
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", out, ec.message()));
  {
    std::ofstream py(out + "/model.py");
    if (!(py << module.source)) throw std::runtime_error(fmt::format("cannot write {}/model.py", out));
  }
  write_tensors(out + "/weights.pt", state);
  c10::Dict<std::string, at::Tensor> example;
  example.insert("input", x);
  example.insert("logits", logits);
  write_tensors(out + "/example.pt", example);
  std::cerr << fmt::format(
      "cella: {}/model.py (class {}), {}/weights.pt ({} tensors) and {}/example.pt; `python3 {}/model.py` checks "
      "the logits against cella's\n",
      out, module.class_name, out, state.size(), out, out);
  if (o.format == "onnx") write_onnx(o.python, out);
  return kOk;
}

}  // namespace cella::runtime::cli
