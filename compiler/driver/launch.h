// `cella launch`: runs a command as the processes of one data-parallel run (launch.cpp).
#pragma once

namespace cella::driver {

/// `cella launch [options] COMMAND...` with argv[0] = "launch"; returns the exit code: 0 when every
/// process succeeded, else the first failed one's (128 + signal when it was killed).
int run_launch(int argc, char** argv);

}  // namespace cella::driver
