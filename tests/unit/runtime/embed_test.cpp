// Runs the embedding example (examples/embed) as a user would and checks what it reports.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

TEST(Embed, HostProgramCompilesTrainsAndBuildsANetwork) {
  FILE* p = popen("'" CELLA_EMBED "' 2>&1", "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("broken space: ok=0, 1 diagnostic(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'skip_connect'?"), std::string::npos) << out;
  EXPECT_NE(out.find("space: 15625 architectures, 6 edges per cell"), std::string::npos) << out;
  EXPECT_NE(out.find("epoch 3/3"), std::string::npos) << out;
  EXPECT_NE(out.find("derived |"), std::string::npos) << out;
  EXPECT_NE(out.find("output [4, 10]"), std::string::npos) << out;
}
