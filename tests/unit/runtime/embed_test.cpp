// Runs the embedding example (examples/embed) as a user would and checks what it reports.
#include <gtest/gtest.h>
#include <string>

#include "tests/unit/process.h"

TEST(Embed, HostProgramCompilesTrainsAndBuildsANetwork) {
  auto r = cella::testing_helpers::run_shell("'" CELLA_EMBED "' 2>&1");
  const std::string& out = r.text;
  ASSERT_EQ(r.code, 0) << out;
  EXPECT_NE(out.find("broken space: ok=0, 1 diagnostic(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'skip_connect'?"), std::string::npos) << out;
  EXPECT_NE(out.find("space: 15625 architectures, 6 edges per cell"), std::string::npos) << out;
  EXPECT_NE(out.find("epoch 3/3"), std::string::npos) << out;
  EXPECT_NE(out.find("derived |"), std::string::npos) << out;
  EXPECT_NE(out.find("output [4, 10]"), std::string::npos) << out;
}
