// The run report as a user meets it: `cella search` and `cella train` write report.html at the
// end, `cella report RUN` writes it again, and the page opens in headless Chromium (Debian's
// `chromium`) with no console message, no network request of its own, and a screenshot that is
// not blank. Each of those three checks is first shown to catch a page that fails it.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/unit/process.h"

namespace {

namespace fs = std::filesystem;
using cella::testing_helpers::fresh_dir;
using cella::testing_helpers::run_cella;
using cella::testing_helpers::run_shell;
using cella::testing_helpers::slurp;
using Result = cella::testing_helpers::Output;

bool have_chromium() { return run_shell("command -v chromium >/dev/null 2>&1").code == 0; }

// What a page did in the browser.
struct Visit {
  std::vector<std::string> console;   ///< console messages
  std::vector<std::string> requests;  ///< http(s) requests the page made (not the browser's own)
  std::size_t distinct_bytes = 0;     ///< of the screenshot's pixel data: a few for a blank page
  std::string log;
};

// Counts the distinct byte values of a PNG's decompressed image data.
std::size_t distinct_pixel_bytes(const std::string& png) {
  if (png.size() < 8 || png.compare(1, 3, "PNG") != 0) return 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data() + at);
    const std::size_t length = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
    const std::string type = png.substr(at + 4, 4);
    if (type == "IDAT") idat += png.substr(at + 8, length);
    at += 12 + length;
  }
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return 0;
  z.next_in = reinterpret_cast<Bytef*>(idat.data());
  z.avail_in = static_cast<uInt>(idat.size());
  std::set<unsigned char> seen;
  unsigned char buf[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    for (std::size_t i = 0; i < sizeof buf - z.avail_out; ++i) seen.insert(buf[i]);
  }
  inflateEnd(&z);
  return seen.size();
}

// Opens `page` in headless Chromium with the browser's own background traffic turned off and
// every host name unresolvable; the net log tells the page's requests (those made for a file://
// page) from anything else.
Visit visit(const fs::path& page, const fs::path& scratch) {
  fs::create_directories(scratch);
  const fs::path net = scratch / "net.json", png = scratch / "screenshot.png";
  fs::remove(net);
  fs::remove(png);
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
      "--disable-sync --disable-default-apps --disable-extensions --no-first-run --no-default-browser-check "
      "--disable-domain-reliability --disable-client-side-phishing-detection --hide-scrollbars "
      "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication "
      "'--host-resolver-rules=MAP * ~NOTFOUND' --enable-logging=stderr --v=0 --window-size=1200,2400";
  Visit v;
  Result r = run_shell("timeout 120 chromium " + flags + " --user-data-dir=" + (scratch / "profile").string() +
                       " --log-net-log=" + net.string() + " --screenshot=" + png.string() + " 'file://" +
                       fs::absolute(page).string() + "' 2>&1");
  v.log = r.text;
  std::istringstream lines(r.text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos) v.console.push_back(line);
  nlohmann::json log = nlohmann::json::parse(slurp(net.string()), nullptr, false);
  if (log.is_object() && log.contains("events"))
    for (const auto& e : log["events"]) {
      if (!e.contains("params") || !e["params"].is_object()) continue;
      const auto& p = e["params"];
      const std::string key = p.value("network_isolation_key", "");
      const std::string url = p.value("url", "");
      if (key.rfind("file://", 0) == 0 && (url.rfind("http", 0) == 0 || url.rfind("ws", 0) == 0))
        v.requests.push_back(url);
    }
  v.distinct_bytes = distinct_pixel_bytes(slurp(png.string()));
  return v;
}

TEST(Report, TheChecksCatchABadPage) {
  if (!have_chromium()) GTEST_SKIP() << "no chromium (apt-get install chromium)";
  fs::path dir = fresh_dir("cella_report_controls_");
  fs::create_directories(dir);
  std::ofstream(dir / "bad.html") << "<!DOCTYPE html><html><body><p>a page</p><script>console.error('boom')</script>"
                                     "<img src=\"http://example.com/x.png\"></body></html>";
  Visit bad = visit(dir / "bad.html", dir / "bad");
  EXPECT_EQ(bad.console.size(), 1u) << bad.log;
  EXPECT_FALSE(bad.requests.empty()) << bad.log;
  std::ofstream(dir / "blank.html") << "<!DOCTYPE html><html><body></body></html>";
  Visit blank = visit(dir / "blank.html", dir / "blank");
  EXPECT_GT(blank.distinct_bytes, 0u) << "the screenshot was not read: " << blank.log;
  EXPECT_LE(blank.distinct_bytes, 8u);
  fs::remove_all(dir);
}

// The main job's search (spaces/nb201.cella's HEP-NAS plan, shrunk by --smoke) writes its page
// at the end; it opens offline and shows the run.
TEST(Report, MainJobPageOpensOfflineInChromium) {
  if (!have_chromium()) GTEST_SKIP() << "no chromium (apt-get install chromium)";
  fs::path run = fresh_dir("cella_report_search_");
  Result s = run_cella("search spaces/nb201.cella --smoke --threads 1 --out " + run.string());
  ASSERT_EQ(s.code, 0) << s.text;
  EXPECT_NE(s.text.find("cella: report in " + (run / "report.html").string()), std::string::npos) << s.text;
  const std::string html = slurp((run / "report.html").string());
  for (const char* part :
       {"id=\"summary\"", "Time per phase", "id=\"architecture\"", "multiply-accumulates", "latency",
        "alt=\"loss per epoch\"", "alt=\"accuracy per epoch\"", "alt=\"learning rate per epoch\"",
        "alt=\"the split tree\"", "id=\"schedule\"", "alt=\"architecture weights of cell nb201_cell\"", "config.json",
        "split into 2 sub-supernets", "its margin against its best sibling", "includes their distillation term",
        "smoke test", "--smoke: 256 images, one epoch per phase; the search block's smoke parameters C=4 N=1"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  // The schedule the smoke run ran (6 epochs per lineage), not the file's plan (9).
  EXPECT_NE(html.find("6 epochs per lineage"), std::string::npos);
  EXPECT_EQ(html.find("9 epochs per lineage"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos) << "no address may leave the page";
  Visit v = visit(run / "report.html", run / "browser");
  EXPECT_TRUE(v.console.empty()) << v.log;
  EXPECT_TRUE(v.requests.empty()) << v.requests.front();
  EXPECT_GT(v.distinct_bytes, 64u) << v.log;
  fs::remove_all(run);
}

// `cella report RUN` on a train run with architecture weights: their evolution per edge; and on
// what is not a run, a one-line error.
TEST(Report, ReportCommandOnATrainRun) {
  fs::path run = fresh_dir("cella_report_train_");
  Result t = run_cella(
      "train spaces/nb201.cella --set split=none --set C=4 --set N=1 --data synthetic --set data.subset=64 "
      "--set supernet.epochs=2 --threads 1 --out " +
      run.string());
  ASSERT_EQ(t.code, 0) << t.text;
  fs::remove(run / "report.html");
  Result r = run_cella("report " + run.string() + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.text;
  const std::string html = slurp((run / "report.html").string());
  EXPECT_NE(html.find("alt=\"architecture weights of cell nb201_cell\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"tree\""), std::string::npos) << "a train run has no split tree";
  EXPECT_EQ(html.find("alt=\"expected latency per epoch\""), std::string::npos) << "the plan has no latency term";
  // metrics.jsonl carries what the plots read.
  std::ifstream metrics(run / "metrics.jsonl");
  std::string first;
  std::getline(metrics, first);
  nlohmann::json j = nlohmann::json::parse(first);
  EXPECT_TRUE(j.contains("lr") && j.contains("valid_loss") && j.contains("arch_weights")) << first;
  EXPECT_EQ(j["arch_weights"][0].size(), 6u) << "NB201's six edges";
  // With a latency term (ProxylessNAS here), its two figures per epoch, in metrics.jsonl and plotted.
  fs::path latency = fresh_dir("cella_report_latency_");
  Result l = run_cella(
      "train spaces/nb201.cella --set split=none --set C=4 --set N=1 --data synthetic --set data.subset=64 "
      "--set supernet.epochs=2 --set supernet.weights=proxyless --set supernet.latency=macs --threads 1 --out " +
      latency.string());
  ASSERT_EQ(l.code, 0) << l.text;
  EXPECT_NE(slurp((latency / "report.html").string()).find("alt=\"expected latency per epoch\""), std::string::npos);
  std::ifstream latency_metrics(latency / "metrics.jsonl");
  std::getline(latency_metrics, first);
  j = nlohmann::json::parse(first);
  EXPECT_TRUE(j.contains("expected_latency") && j.contains("arch_latency")) << first;
  fs::remove_all(latency);
  Result bad = run_cella("report " + fs::temp_directory_path().string());
  EXPECT_EQ(bad.code, 1) << bad.text;
  EXPECT_NE(bad.text.find("no config.json"), std::string::npos) << bad.text;
  fs::remove_all(run);
}

}  // namespace
