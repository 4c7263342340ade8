// Front end: parsing, the AST printer round trip, and robustness against hostile input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "compiler/frontend/parser.h"
#include "compiler/frontend/printer.h"
#include "tests/unit/helpers.h"

namespace cella::frontend {
namespace {

namespace fs = std::filesystem;

ast::File parse_text(diag::SourceManager& sm, diag::DiagnosticEngine& d, const std::string& text) {
  return parse(sm, sm.add("t.cella", text), d);
}

TEST(Parser, BuildsDeclarationsWithRanges) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  ast::File f =
      parse_text(sm, d, "import std.ops\nop c(k, s = 1) = relu >> conv(k, stride = s)\ncell x { inputs 1; nodes 2 }\n");
  ASSERT_FALSE(d.has_errors()) << diag::render_all(d, sm);
  ASSERT_EQ(f.decls.size(), 3u);
  EXPECT_EQ(f.decls[0].import->path, "std.ops");
  const ast::OpDecl& op = *f.decls[1].op;
  EXPECT_EQ(op.name, "c");
  EXPECT_EQ(op.name_range.line, 2u);
  EXPECT_EQ(op.name_range.column, 4u);
  ASSERT_EQ(op.params.size(), 2u);
  EXPECT_EQ(op.body->kind, ast::ExprKind::Binary);
  EXPECT_EQ(op.body->op, ast::BinaryOp::Seq);
  EXPECT_EQ(f.decls[2].cell->stmts.size(), 2u);
}

TEST(Parser, KeywordsStayUsableAsNames) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  parse_text(sm, d,
             "op c(stride = 1, width = 2) = conv(3, stride = stride)\ncell x { inputs 1; nodes 2; constraint edges <= "
             "3; output last }\n");
  EXPECT_FALSE(d.has_errors()) << diag::render_all(d, sm);
}

TEST(Parser, RangesAreNotFloats) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  ast::File f = parse_text(sm, d, "cell x { inputs 1; nodes 6; node 1..5 : [relu] }\n");
  ASSERT_FALSE(d.has_errors()) << diag::render_all(d, sm);
  EXPECT_EQ(f.decls[0].cell->stmts[2].a->kind, ast::ExprKind::Range);
}

TEST(Parser, PrecedenceFollowsArithmetic) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  ast::File f = parse_text(sm, d, "network n(a = 1 + 2 * 3 - -4 / 2) { head relu }\n");
  ASSERT_FALSE(d.has_errors());
  EXPECT_EQ(print(*f.decls[0].network->params[0].default_value), "1 + 2 * 3 - -4 / 2");
  ast::File g = parse_text(sm, d, "network n(a = (1 + 2) * 3) { head relu }\n");
  EXPECT_EQ(print(*g.decls[0].network->params[0].default_value), "(1 + 2) * 3");
}

// print(parse(x)) is a fixed point: parsing the printed text prints the same text again.
TEST(Parser, PrintParseRoundTripOnEveryShippedFile) {
  std::vector<fs::path> paths;
  for (const char* dir : {"spaces", "spaces/std", "tests/golden"})
    for (const auto& e : fs::directory_iterator(fs::path(CELLA_SOURCE_DIR) / dir))
      if (e.path().extension() == ".cella") paths.push_back(e.path());
  int checked = 0;
  for (const fs::path& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    diag::SourceManager sm;
    diag::DiagnosticEngine d1;
    ast::File a = parse(sm, sm.add(p.string(), ss.str()), d1);
    if (d1.has_errors()) continue;  // fail_* files with syntax errors
    std::string once = print(a);
    diag::DiagnosticEngine d2;
    ast::File b = parse(sm, sm.add("printed", once), d2);
    ASSERT_FALSE(d2.has_errors()) << p << "\n" << once << diag::render_all(d2, sm);
    EXPECT_EQ(print(b), once) << p;
    ++checked;
  }
  EXPECT_GT(checked, 40);
}

TEST(Parser, EveryErrorOfAFileIsReportedWithItsLine) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  parse_text(sm, d, "op a = relu $\nop b = conv(3 €\n");
  ASSERT_GE(d.diagnostics().size(), 2u);
  EXPECT_EQ(d.diagnostics()[0].range.line, 1u);
  EXPECT_EQ(d.diagnostics().back().range.line, 2u);
}

TEST(Parser, DeepNestingIsRefusedNotACrash) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  std::string deep = "op c = " + std::string(100000, '(') + "relu" + std::string(100000, ')') + "\n";
  parse_text(sm, d, deep);
  EXPECT_TRUE(d.has(diag::Kind::NestingTooDeep));
  diag::DiagnosticEngine d2;
  std::string neg = "network n(a = " + std::string(100000, '-') + "1) { head relu }\n";
  parse_text(sm, d2, neg);
  EXPECT_TRUE(d2.has(diag::Kind::NestingTooDeep));
}

TEST(Parser, LongOperatorChainsAreRefusedNotACrash) {
  diag::SourceManager sm;
  diag::DiagnosticEngine d;
  std::string chain = "op c = relu";
  for (int i = 0; i < 50000; ++i) chain += " >> relu";
  parse_text(sm, d, chain + "\n");
  EXPECT_TRUE(d.has(diag::Kind::NestingTooDeep));
}

// A new user's worst inputs: random bytes, random tokens, a 10 MB file. Each gets located
// diagnostics, never a crash.
TEST(Parser, RandomBytesAndTokensGiveDiagnostics) {
  std::mt19937 rng(42);
  const std::vector<std::string> tokens = {"op", "cell",   "{",    "}",  "(",       ")",     "[", "]",
                                           "=",  ">>",     "edge", "->", ":",       "nodes", "3", "x",
                                           ",",  "import", "\"",   "..", "network", "stage", "*", "1.5"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    int n = std::uniform_int_distribution<int>(1, 60)(rng);
    for (int i = 0; i < n; ++i) {
      if (trial % 2)
        text += static_cast<char>(std::uniform_int_distribution<int>(1, 255)(rng));
      else
        text += tokens[std::uniform_int_distribution<std::size_t>(0, tokens.size() - 1)(rng)] + " ";
    }
    auto c = testing_helpers::compile(text);
    for (const auto& diag : c->diags.diagnostics()) EXPECT_FALSE(diag.message.empty());
  }
}

TEST(Parser, TenMegabyteFileOfGarbageGetsLocatedDiagnostics) {
  std::string text;
  text.reserve(10u << 20);
  while (text.size() < (10u << 20)) text += "cell c { inputs 1 nodes 3 edges all : [relu, conv(3)] } op x = = relu\n";
  auto c = testing_helpers::compile(text);
  ASSERT_TRUE(c->diags.has_errors());
  EXPECT_TRUE(c->diags.diagnostics()[0].range.valid());
  EXPECT_EQ(c->diags.diagnostics()[0].range.line, 1u);
}

TEST(Parser, TenMegabyteValidFileCompiles) {
  std::string text = "import std.ops\n";
  int i = 0;
  while (text.size() < (10u << 20)) text += "op op" + std::to_string(i++) + " = relu >> conv(3, stride = 1) >> bn\n";
  auto c = testing_helpers::compile(text);
  EXPECT_FALSE(c->diags.has_errors()) << testing_helpers::messages(*c).substr(0, 500);
}

}  // namespace
}  // namespace cella::frontend
