// End-to-end tests of `hashmatch eval perf`: the binary runs the real bench
// programs (hashing_benchmark, index_benchmark, match_load with a real
// match_server, video_hash_bench) in --quick mode, which prints the report
// and writes JSON only; --update_docs (never with --quick) replaces its block
// in a hand-written Markdown file.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "src/perf/perf_report.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using testing_util::RunBinary;
using testing_util::RunResult;

constexpr char kPrefix[] =
    "# Hashing performance\n\nHand-written intro, kept \xc3\xa9 byte for "
    "byte.  \n\n";
constexpr char kSuffix[] =
    "## Machine and build\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nNo final "
    "newline";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// The cells of the first table row of `md` that starts with `start`.
std::vector<std::string> Row(const std::string& md, const std::string& start) {
  const size_t at = md.find("\n" + start);
  if (at == std::string::npos) return {};
  const size_t end = md.find('\n', at + 1);
  std::vector<std::string> cells =
      absl::StrSplit(md.substr(at + 2, end - at - 2), '|');
  for (std::string& c : cells) c = std::string(absl::StripAsciiWhitespace(c));
  if (!cells.empty() && cells.back().empty()) cells.pop_back();
  return cells;
}

double Number(std::string cell) {
  cell.erase(std::remove(cell.begin(), cell.end(), ','), cell.end());
  if (!cell.empty() && cell.back() == 'x') cell.pop_back();
  double v = -1;
  if (!absl::SimpleAtod(cell, &v)) return -1;
  return v;
}

const Value& At(const Struct& s, const std::string& key) {
  static const Value kNone;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNone : it->second;
}

class PerfCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/perf_cli_test_", getpid());
    std::filesystem::create_directories(dir_);
    doc_ = dir_ + "/performance.md";
    Write(doc_, absl::StrCat(kPrefix, kSuffix));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_, doc_;
};

TEST_F(PerfCliTest, QuickRunPrintsTheReportAndWritesJsonOnly) {
  // What --quick reads: the small PDQ photo (python3-skimage), MatchImage's
  // and the video clip's photos (mate-backgrounds) and ffmpeg.
  for (const char* path :
       {"/usr/lib/python3/dist-packages/skimage/data/astronaut.png",
        "/usr/share/backgrounds/mate/nature/LadyBird.jpg", "/usr/bin/ffmpeg"}) {
    if (!std::filesystem::exists(path)) {
      GTEST_SKIP() << path
                   << " is missing (deploy/setup.sh installs python3-skimage, "
                      "mate-backgrounds and ffmpeg)";
    }
  }
  const std::string json = dir_ + "/perf.json";
  RunResult r =
      RunBinary(HASHMATCH_BINARY, {"eval", "perf", "--quick", "--json", json,
                                   "--git_commit", "test-commit"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + json + " ("), std::string::npos) << r.out;
  // The report is printed, between no markers; no Markdown file is written.
  const std::string& md = r.out;
  EXPECT_EQ(Count(md, perf::kBeginMarker), 0u) << md;
  EXPECT_NE(md.find("## Latest `hashmatch eval perf` run"), std::string::npos);
  EXPECT_NE(md.find("```sh\nhashmatch eval perf --quick --json " + json),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("commit test-commit"), std::string::npos);

  // PDQ: baseline ms, PDQ ms and speedup measured by hashing_benchmark.
  std::vector<std::string> pdq = Row(md, "| small_512x512 | 0.26 |");
  ASSERT_EQ(pdq.size(), 5u) << md;
  EXPECT_GT(Number(pdq[2]), 0);
  EXPECT_GT(Number(pdq[3]), 0);
  EXPECT_GT(Number(pdq[2]), Number(pdq[3]));  // The baseline is slower.
  EXPECT_GT(Number(pdq[4]), 1);
  // Index: MIH, FlatScan, FAISS latencies and ratios.
  for (const char* method :
       {"| MihIndex, warm |", "| FlatScan (hardware popcount), warm |",
        "| FAISS IndexBinaryFlat (1 OpenMP thread) |"}) {
    std::vector<std::string> row = Row(md, method);
    ASSERT_EQ(row.size(), 6u) << method << "\n" << md;
    EXPECT_GT(Number(row[1]), 0) << method;
    EXPECT_GT(Number(row[4]), 0) << method;
    EXPECT_GT(Number(row[5]), 0) << method;
  }
  EXPECT_NE(md.find("Recall: "), std::string::npos);
  // RPC: a real match_server answered.
  std::vector<std::string> hashes = Row(md, "| MatchHashes | 1 |");
  ASSERT_EQ(hashes.size(), 9u) << md;
  EXPECT_GT(Number(hashes[2]), 0);                  // RPC/s.
  EXPECT_GT(Number(hashes[3]), 0);                  // p50.
  EXPECT_GE(Number(hashes[4]), Number(hashes[3]));  // p99 >= p50.
  EXPECT_EQ(hashes[6], "0");                        // errors.
  std::vector<std::string> image = Row(md, "| MatchImage | 1 |");
  ASSERT_EQ(image.size(), 9u) << md;
  EXPECT_GT(Number(image[2]), 0);
  // Video: CPU seconds per minute, defaults faster than the baseline.
  std::vector<std::string> video = Row(md, "|  |  | HashVideo defaults |");
  ASSERT_EQ(video.size(), 7u) << md;
  EXPECT_GT(Number(video[3]), 0);
  EXPECT_GT(Number(video[6]), 1);
  EXPECT_NE(md.find("### Targets (not judged: --quick)"), std::string::npos);
  // The hand-written Markdown file is untouched.
  EXPECT_EQ(Slurp(doc_), absl::StrCat(kPrefix, kSuffix));

  Struct report;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(Slurp(json), &report).ok());
  EXPECT_EQ(At(report, "git_commit").string_value(), "test-commit");
  EXPECT_TRUE(At(report, "quick").bool_value());
  const Struct& index = At(report, "index").struct_value();
  EXPECT_GT(At(At(index, "mih_warm").struct_value(), "mean_us").number_value(),
            0);
  EXPECT_GT(At(index, "ratio_faiss_to_mih_warm").number_value(), 0);
  const auto& levels =
      At(At(report, "rpc").struct_value(), "levels").list_value();
  ASSERT_GE(levels.values_size(), 1);
  EXPECT_GT(At(levels.values(0).struct_value(), "ok_rps").number_value(), 0);
  EXPECT_GT(
      At(report, "machine").struct_value().fields().at("cores").number_value(),
      0);
}

// --update_docs (never with --quick): small sizes given explicitly, one
// benchmark, so the test stays fast.
TEST_F(PerfCliTest, UpdateDocsWritesTheBlockOnceAndReplacesIt) {
  const std::string json = dir_ + "/perf.json";
  const std::vector<std::string> small = {
      "eval",      "perf",         "--update_docs",
      "--out",     doc_,           "--json",
      json,        "--benchmarks", "index",
      "--index_n", "1000",         "--index_queries",
      "4",         "--git_commit", "test-commit"};
  RunResult r = RunBinary(HASHMATCH_BINARY, small);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + json + " and " + doc_), std::string::npos)
      << r.out;
  // The report goes into the file, not to stdout.
  EXPECT_EQ(r.out.find("### Search index"), std::string::npos) << r.out;
  std::string md = Slurp(doc_);
  ASSERT_EQ(Count(md, perf::kBeginMarker), 1u) << md;
  ASSERT_EQ(Count(md, perf::kEndMarker), 1u);
  // Outside the markers: byte for byte the hand-written text.
  const size_t begin = md.find(perf::kBeginMarker);
  const size_t end = md.find(perf::kEndMarker) + strlen(perf::kEndMarker);
  EXPECT_EQ(md.substr(0, begin), kPrefix);
  EXPECT_EQ(md.substr(end), absl::StrCat("\n\n", kSuffix));
  EXPECT_NE(md.find("```sh\nhashmatch eval perf --update_docs --out " + doc_),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("commit test-commit"), std::string::npos);
  EXPECT_EQ(Count(md, "### Search index"), 1u);
  EXPECT_EQ(Row(md, "| MihIndex, warm |").size(), 6u) << md;
  Struct report;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(Slurp(json), &report).ok());
  EXPECT_EQ(At(report, "git_commit").string_value(), "test-commit");
  EXPECT_FALSE(At(report, "quick").bool_value());

  // A second run replaces the block: one pair of markers, the first run's
  // command gone, the text outside unchanged.
  std::vector<std::string> again = small;
  again[10] = "2000";  // --index_n
  r = RunBinary(HASHMATCH_BINARY, again);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  md = Slurp(doc_);
  EXPECT_EQ(Count(md, perf::kBeginMarker), 1u) << md;
  EXPECT_EQ(Count(md, perf::kEndMarker), 1u);
  EXPECT_EQ(Count(md, "### Search index"), 1u);
  EXPECT_EQ(Count(md, "--index_n 1000"), 0u) << md;
  EXPECT_EQ(Count(md, "--index_n 2000"), 1u) << md;
  EXPECT_EQ(md.substr(0, md.find(perf::kBeginMarker)), kPrefix);
  EXPECT_EQ(md.substr(md.find(perf::kEndMarker) + strlen(perf::kEndMarker)),
            absl::StrCat("\n\n", kSuffix));
}

TEST_F(PerfCliTest, Errors) {
  // A missing bench directory: NOT_FOUND naming the program and the build.
  const std::string json = dir_ + "/perf.json";
  RunResult r =
      RunBinary(HASHMATCH_BINARY, {"eval", "perf", "--quick", "--json", json,
                                   "--bench_dir", dir_ + "/no-such-dir"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND: benchmark hashing_benchmark not found at " +
                       dir_ + "/no-such-dir/hashing_benchmark"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cmake --build build --target hashing_benchmark"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(json));

  // Malformed markers: refused before anything runs, file untouched.
  const std::string broken =
      absl::StrCat(kPrefix, perf::kBeginMarker, "\n", kSuffix);
  Write(doc_, broken);
  r = RunBinary(HASHMATCH_BINARY, {"eval", "perf", "--update_docs", "--out",
                                   doc_, "--json", json});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("only one of the markers"), std::string::npos) << r.err;
  EXPECT_EQ(Slurp(doc_), broken);
  EXPECT_FALSE(std::filesystem::exists(json));

  // Without --out, --update_docs needs docs/performance.md in the current
  // directory (the test runs elsewhere).
  if (!std::filesystem::exists("docs/performance.md")) {
    r = RunBinary(HASHMATCH_BINARY,
                  {"eval", "perf", "--update_docs", "--json", json});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("docs/performance.md is not in the current"),
              std::string::npos)
        << r.err;
  }
  // --out naming a file in a missing directory; --json likewise.
  r = RunBinary(HASHMATCH_BINARY, {"eval", "perf", "--update_docs", "--out",
                                   dir_ + "/nodir/p.md", "--json", json});
  EXPECT_EQ(r.exit_code, 1);
  r = RunBinary(HASHMATCH_BINARY,
                {"eval", "perf", "--quick", "--json", dir_ + "/nodir/p.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the directory of --json"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(json));

  // `hashmatch help` documents the command.
  r = RunBinary(HASHMATCH_BINARY, {"help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("hashmatch eval perf [--quick | --update_docs [--out "
                       "FILE]] [--json FILE]"),
            std::string::npos);
  EXPECT_NE(r.out.find("<!-- BEGIN eval perf -->"), std::string::npos);

  // Usage errors: exit 2, nothing written. --quick never rewrites the docs;
  // --out only names the file --update_docs rewrites.
  Write(doc_, absl::StrCat(kPrefix, kSuffix));
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"eval", "perf", "--quick", "--update_docs"},
           {"eval", "perf", "--update_docs", "--quick", "--out", doc_},
           {"eval", "perf", "--quick", "--out", doc_},
           {"eval", "perf", "--out", doc_},
           {"eval", "perf", "--benchmarks", "hashing,disk"},
           {"eval", "perf", "--benchmarks", ","},
           {"eval", "perf", "--video_seconds", "15"},
           {"eval", "perf", "--index_n", "5"},
           {"eval", "perf", "--hashes_concurrency", "1,x"},
           {"eval", "perf", "extra"}}) {
    r = RunBinary(HASHMATCH_BINARY, args);
    EXPECT_EQ(r.exit_code, 2) << args[2] << "\n" << r.err;
  }
  r = RunBinary(HASHMATCH_BINARY, {"eval", "perf", "--quick", "--update_docs"});
  EXPECT_NE(r.err.find("--update_docs"), std::string::npos) << r.err;
  EXPECT_EQ(Slurp(doc_), absl::StrCat(kPrefix, kSuffix));
}

}  // namespace
}  // namespace hashmatch
