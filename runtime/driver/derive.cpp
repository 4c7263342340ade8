// `cella derive RUN`: derives again, from a train run's supernet or a search run's selected leaf.
#include "runtime/driver/common.h"

namespace cella::runtime::cli {

// Derives again: a training run from its supernet, a search run from its selected leaf.
int cmd_derive(Options& o) {
  RunDir run(o.resume, true);
  expect_kind(run, {"train", "search"}, "`cella derive`");
  Opened t = open_run(run, o);
  const std::string command = t.r.config.command;
  SupernetState state;
  if (command == "search") {
    SplitTree tree = read_tree(run);
    state = search_node(t, run, tree, tree.selected);
    std::cerr << fmt::format("cella: deriving from sub-supernet {}, the search's selected leaf\n", tree.selected);
  } else {
    state = trained_supernet(t, run);
  }
  ir::Arch arch = derive(state, t.plan.supernet, t.data, t.seed, o.samples, {});
  write_arch(run, *t.r.program, arch);
  std::cout << ir::to_text(*t.r.program, arch) << "\n";
  return kOk;
}

}  // namespace cella::runtime::cli
