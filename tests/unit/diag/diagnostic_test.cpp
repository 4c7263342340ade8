// Diagnostic engine and renderer: locations, caret width, notes, dedup, suggestions.
#include "compiler/diag/diagnostic.h"

#include <gtest/gtest.h>

namespace cella::diag {
namespace {

TEST(Diagnostic, RendersLocationLineAndCaretAsWideAsTheToken) {
  SourceManager sm;
  FileId f = sm.add("x.cella", "op a = relu\nopset s = [nor_conv_5x5]\n");
  DiagnosticEngine d;
  d.report(Kind::UnknownOp, SourceRange{f, 2, 12, 12}, "unknown operation 'nor_conv_5x5'");
  d.note("did you mean 'nor_conv_3x3'?");
  std::string out = render_all(d, sm);
  EXPECT_EQ(out,
            "x.cella:2:12: error: unknown operation 'nor_conv_5x5' [UnknownOp]\n"
            "    2 | opset s = [nor_conv_5x5]\n"
            "      |            ^^^^^^^^^^^^\n"
            "note: did you mean 'nor_conv_3x3'?\n");
  EXPECT_TRUE(d.has_errors());
}

TEST(Diagnostic, WarningsDoNotCountAsErrors) {
  DiagnosticEngine d;
  d.report(Kind::SingleChoice, {}, "one candidate");
  EXPECT_FALSE(d.has_errors());
  EXPECT_EQ(d.diagnostics().size(), 1u);
}

TEST(Diagnostic, TheSameReportTwiceIsShownOnce) {
  DiagnosticEngine d;
  d.report(Kind::UnknownOp, SourceRange{1, 3, 4, 2}, "unknown operation 'x'");
  d.note("first note");
  d.report(Kind::UnknownOp, SourceRange{1, 3, 4, 2}, "unknown operation 'x'");
  d.note("dropped with its duplicate");
  ASSERT_EQ(d.diagnostics().size(), 1u);
  EXPECT_EQ(d.diagnostics()[0].notes.size(), 1u);
  EXPECT_EQ(d.error_count(), 2u);  // repeats still count: a step that reports one has failed
}

TEST(Diagnostic, ControlBytesInTheSourceLineAreMasked) {
  SourceManager sm;
  FileId f = sm.add("b.cella", std::string("ab\x01\x1b[31mcd", 10));
  DiagnosticEngine d;
  d.report(Kind::SyntaxError, SourceRange{f, 1, 3, 1}, "bad");
  std::string out = render_all(d, sm);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_NE(out.find("ab??[31mcd"), std::string::npos);
}

TEST(Diagnostic, LongLinesAreCutAroundTheCaret) {
  SourceManager sm;
  std::string line(5000, 'x');
  line[4000] = 'Y';
  FileId f = sm.add("l.cella", line);
  DiagnosticEngine d;
  d.report(Kind::SyntaxError, SourceRange{f, 1, 4001, 1}, "bad");
  std::string out = render_all(d, sm);
  EXPECT_LT(out.size(), 400u);
  std::size_t yline = out.find('Y');
  ASSERT_NE(yline, std::string::npos);
  std::size_t caret = out.find('^');
  std::size_t line_start = out.rfind('\n', yline) + 1;
  std::size_t caret_start = out.rfind('\n', caret) + 1;
  EXPECT_EQ(yline - line_start, caret - caret_start);
}

TEST(Diagnostic, ClosestMatchSuggestsPlausibleTyposOnly) {
  std::vector<std::string> names = {"nor_conv_3x3", "skip_connect", "avg_pool_3x3"};
  EXPECT_EQ(closest_match("skip_conect", names), "skip_connect");
  EXPECT_EQ(closest_match("nor_conv_3x4", names), "nor_conv_3x3");
  EXPECT_EQ(closest_match("transformer", names), "");
}

TEST(Diagnostic, EveryKindHasANameAndSummary) {
  for (Kind k : all_kinds()) {
    EXPECT_FALSE(kind_name(k).empty());
    EXPECT_FALSE(kind_summary(k).empty());
  }
  EXPECT_GE(all_kinds().size(), 40u);
}

}  // namespace
}  // namespace cella::diag
