// `cella derive RUN`: derives again, from a train run's supernet or a search run's selected leaf.
#include "runtime/driver/common.h"

namespace cella::runtime::cli {

// Derives again: a training run from its supernet, a search run from its selected leaf.
int cmd_derive(Options& o) {
  RunDir run(o.resume, true);
  Opened t = open_run(run, o);
  const std::string command = t.r.config.command;
  SupernetState state;
  if (command == "search") {
    if (!run.exists("tree.json"))
      throw Failure(
          kInvalid,
          fmt::format("{} is a search that has not finished; `cella search --resume {}` finishes it and derives",
                      run.path(), run.path()));
    SplitTree tree = read_tree(run);
    state = search_node(t, run, tree, tree.selected);
    std::cerr << fmt::format("cella: deriving from sub-supernet {}, the search's selected leaf\n", tree.selected);
  } else if (command == "train") {
    state = trained_supernet(t, run);
  } else {
    throw Failure(kUsage,
                  fmt::format("{} is a `cella {}` run: there is nothing to derive from; its architecture is in {}",
                              run.path(), command, run.file("result.json")));
  }
  ir::Arch arch = derive(state, t.plan.supernet, t.data, t.seed, o.samples, {});
  write_arch(run, *t.r.program, arch);
  std::cout << ir::to_text(*t.r.program, arch) << "\n";
  return kOk;
}

}  // namespace cella::runtime::cli
