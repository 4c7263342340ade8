// `cella export`: one architecture as a PyTorch module (model.py), its weights in the file
// PyTorch's torch.load reads (weights.pt), and an example batch with cella's logits
// (example.pt) that `python3 model.py` checks itself against.
#include <torch/serialize.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "runtime/driver/common.h"
#include "runtime/export/pytorch.h"

namespace cella::runtime::cli {

namespace {

// A dictionary of tensors in PyTorch's pickle format, which torch.load reads.
void write_tensors(const std::string& path, const c10::Dict<std::string, at::Tensor>& tensors) {
  std::vector<char> bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream out(path, std::ios::binary);
  if (!out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw std::runtime_error(fmt::format("cannot write {}", path));
}

}  // namespace

int cmd_export(Options& o) {
  // What to export: a retrain run (its architecture and trained weights), or FILE --arch with
  // fresh weights.
  std::shared_ptr<const ir::Program> program;
  std::string arch_text, weights, source;
  std::uint64_t seed = o.seed_given ? o.seed : 0;
  if (!o.weights.empty()) {
    RunDir run(o.weights, true);
    Rebuilt r = rebuild(run, o);
    if (r.config.command != "retrain")
      throw Failure(kUsage,
                    fmt::format("{} is a `cella {}` run; export takes the weights of a `cella retrain` run (weights "
                                "inherited from a supernet are not exported yet): `cella retrain {} --arch {}` trains "
                                "its architecture, or `cella export {} --arch {}` exports it with fresh weights",
                                run.path(), r.config.command, r.config.file, run.path(), r.config.file, run.path()));
    program = r.program;
    arch_text = run.path();  // its arch.txt
    weights = run.file("weights.pt");
    source = fmt::format("the retrain run {}", run.path());
  } else {
    if (o.file.empty() || o.arch.empty())
      throw Failure(kUsage, "export needs FILE --arch ARCH, or --weights RETRAIN_RUN");
    program = std::make_shared<const ir::Program>(
        *compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search)->program);
    arch_text = o.arch;
    source = fmt::format("{} (fresh weights, seed {})", o.file, seed);
  }
  ir::Arch arch = parse_arch_or_fail(*program, arch_text);
  exporter::PytorchModule module;
  try {
    module = exporter::pytorch_module(
        *program, arch,
        fmt::format("Exported by cella from {}.\n# Architecture: {}", source, ir::to_text(*program, arch)));
  } catch (const std::invalid_argument& e) {
    throw Failure(kInvalid, e.what());
  }
  torch::manual_seed(seed);
  Network net(program, Mask::of_arch(*program, arch), false);
  if (!weights.empty()) load_weights(net, weights);
  c10::Dict<std::string, at::Tensor> state;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    std::string py = exporter::python_name(module, name);
    if (!py.empty()) state.insert(py, t.detach().clone());  // parameters of units that do not run stay behind
  };
  for (const auto& kv : net->named_parameters()) add(kv.key(), kv.value());
  for (const auto& kv : net->named_buffers()) add(kv.key(), kv.value());
  // An example batch and cella's logits on it, in eval mode, for the module's self-check.
  // The data set the program was compiled for (`--data` included): its images' shape.
  const ir::DataSet* shape = ir::find_data_set(ir::plan_of(*program).data.name);
  const std::int64_t size = shape ? shape->size : 28;
  torch::Generator gen = at::detail::createCPUGenerator(seed + 7);
  torch::Tensor x = torch::randn({2, program->network->input.channels, size, size}, gen);
  net->eval();
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = net->forward(x, mixing_of(*program, arch));
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
  return kOk;
}

}  // namespace cella::runtime::cli
