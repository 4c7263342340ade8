// Entry point of the `cella` executable.
#include "compiler/driver/cli.h"

int main(int argc, char** argv) { return cella::driver::run_cli(argc, argv); }
