// The `cella` command line: a thin client of the compile API.
#pragma once

namespace cella::driver {

/// Exit codes, documented in docs/cli.md.
enum ExitCode { kOk = 0, kInvalidInput = 1, kUsage = 2, kInternal = 3 };

/// Runs the command line; returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace cella::driver
