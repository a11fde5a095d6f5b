#include "src/perf/perf_report.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace perf {
namespace {

constexpr char kDoc[] =
    "# Hashing performance\n\nIntro paragraph.\n\n```sh\n# a comment in "
    "a fence\n```\n\n## Machine\n\nHand-written.\n";

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(ReplaceMarkedBlock, InsertsBeforeTheFirstHeadingThenReplaces) {
  absl::StatusOr<std::string> once = ReplaceMarkedBlock(kDoc, "run 1\n");
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(*once,
            absl::StrCat("# Hashing performance\n\nIntro paragraph.\n\n```sh\n"
                         "# a comment in a fence\n```\n\n",
                         kBeginMarker, "\nrun 1\n", kEndMarker,
                         "\n\n## Machine\n\nHand-written.\n"));
  absl::StatusOr<std::string> twice = ReplaceMarkedBlock(*once, "run 2");
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_EQ(Count(*twice, kBeginMarker), 1u);
  EXPECT_EQ(Count(*twice, "run 1"), 0u);
  std::string expected = *once;
  expected.replace(expected.find("run 1"), 5, "run 2");
  EXPECT_EQ(*twice, expected);
}

TEST(ReplaceMarkedBlock, KeepsEverythingOutsideTheMarkers) {
  const std::string doc = absl::StrCat("prefix \xff\r\n", kBeginMarker, "old\n",
                                       kEndMarker, "  suffix\n\n");
  absl::StatusOr<std::string> out = ReplaceMarkedBlock(doc, "new\n");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, absl::StrCat("prefix \xff\r\n", kBeginMarker, "\nnew\n",
                               kEndMarker, "  suffix\n\n"));
}

TEST(ReplaceMarkedBlock, EmptyOrHeadinglessDocuments) {
  EXPECT_EQ(*ReplaceMarkedBlock("", "x\n"),
            absl::StrCat("# Performance\n\n", kBeginMarker, "\nx\n", kEndMarker,
                         "\n"));
  EXPECT_EQ(*ReplaceMarkedBlock("# Title\ntext", "x\n"),
            absl::StrCat("# Title\ntext\n\n", kBeginMarker, "\nx\n", kEndMarker,
                         "\n"));
}

TEST(ReplaceMarkedBlock, MalformedMarkersAreLeftToAHuman) {
  const std::string b = kBeginMarker, e = kEndMarker;
  for (const std::string& doc :
       {b + "\n", "x\n" + e, e + "\n" + b, b + b + e, b + e + e}) {
    absl::StatusOr<std::string> out = ReplaceMarkedBlock(doc, "x");
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << doc;
  }
}

TEST(MachineInfo, ParsesCpuinfoAndMeminfo) {
  MachineInfo m = ParseMachineInfo(
      "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n\n"
      "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n",
      "MemTotal:       24576000 kB\nMemFree:  100 kB\n");
  EXPECT_EQ(m.cpu_model, "AMD EPYC 7B13");
  EXPECT_EQ(m.cores, 2);
  EXPECT_NEAR(m.memory_gib, 24576000 / 1048576.0, 1e-9);
  MachineInfo none = ParseMachineInfo("", "");
  EXPECT_EQ(none.cores, 0);
  EXPECT_TRUE(none.cpu_model.empty());
  EXPECT_GT(ReadMachineInfo().cores, 0);
}

PerfReport SampleReport() {
  PerfReport r;
  r.build_type = "Release";
  r.command = "hashmatch eval perf";
  r.runs.push_back({"hashing", "bench/h '--f=a|b'", 2.5});
  HashingResult h;
  h.pdq.push_back({"medium_1920x1080", 2.0736, 40.8, 4.7, 8.68, ""});
  h.pdq.push_back({"small_512x512", 0.262144, 3.2, 0.7, 4.57, ""});
  h.hash_bytes.push_back({"pdq-cli512", "medium_1920x1080", 62.5, ""});
  h.hash_bytes.push_back({"pdq-fast", "medium_1920x1080", 37.3, ""});
  r.hashing = h;
  IndexResult x;
  x.n = 1000000;
  x.codes = "realistic";
  x.radius = 31;
  x.mih_back_to_back = {60, 58, 130};
  x.mih_interleaved = {115, 94, 262};
  x.flat_back_to_back = {1680, 1519, 4214};
  x.flat_interleaved = {2415, 1590, 5124};
  x.faiss_interleaved = {10639, 10633, 11463};
  x.binary_index_dihedral = {315, 289, 790};
  x.binary_index_rss_mb = 142;
  x.true_matches = 488;
  r.index = x;
  LoadResult load;
  load.duration_s = 5;
  load.levels.push_back(
      {"MatchHashes", 16, 50000, 9800, 1.6, 2.2, 2.8, 9, 0, 130, 44, 0});
  load.levels.push_back(
      {"MatchHashes", 64, 60000, 11500, 5.5, 8, 9.4, 16, 0, 123, 40, 0});
  load.levels.push_back(
      {"MatchImage", 4, 300, 64.8, 61, 72, 76, 80, 0, 30000, 517, 0});
  load.image_baseline = ImageBaseline{2, 69.8, 64.8, 92.8, 28600};
  r.load = load;
  VideoResult v;
  v.seconds = 20;
  VideoClip clip;
  clip.clip = "phone";
  clip.rows.push_back({"baseline", 1.9, 5.7, 2, 600, 600, 0, 1});
  clip.rows.push_back(
      {"HashVideo defaults", 0.26, 0.79, 0.3, 30, 20, 20, 7.25});
  v.clips.push_back(clip);
  r.video = v;
  return r;
}

TEST(CheckTargets, JudgesEachTargetAgainstTheRun) {
  const std::vector<TargetCheck> t = CheckTargets(SampleReport());
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[0].result, "min 4.57x, median 8.68x over 2 inputs");
  EXPECT_EQ(t[0].met, true);
  // (4.7 / 2.0736 + 0.7 / 0.262144) / 2 * 4.35 = 10.7 ms.
  EXPECT_EQ(t[1].result, "10.7 ms (mean ms per MP over 2 inputs x 4.35)");
  EXPECT_EQ(t[2].met, false);  // pdq-cli512: 16 images/s < 20.
  EXPECT_EQ(t[2].result, "16.0 images/s on the 1920x1080 JPEG");
  EXPECT_EQ(t[3].met, false);  // pdq-fast: 26.8 < 50.
  EXPECT_EQ(t[4].met, true);   // 10639 / 60 = 177x FAISS.
  EXPECT_NE(t[4].result.find("177x back to back"), std::string::npos);
  EXPECT_NE(t[4].target.find("this run: 1,000,000"), std::string::npos);
  EXPECT_EQ(t[5].met, false);  // 1680 / 60 = 28x FlatScan.
  EXPECT_EQ(t[6].met, true);   // 142 MB.
  // The 64 level is faster but its p99 is over 5 ms.
  EXPECT_EQ(t[7].result, "9800 RPC/s at concurrency 16 (p99 2.80 ms)");
  PerfReport with_cores = SampleReport();
  with_cores.machine.cores = 2;
  EXPECT_EQ(CheckTargets(with_cores)[7].result,
            "9800 RPC/s at concurrency 16 (p99 2.80 ms); CPU per call at "
            "concurrency 64: 123 us server + 40 us client, so 2 idle cores "
            "allow at most 12,270 RPC/s");
  EXPECT_EQ(t[7].met, false);
  EXPECT_EQ(t[8].met, true);  // 92.8%.
  EXPECT_EQ(t[9].met, true);  // 0.79 s per minute.

  PerfReport quick = SampleReport();
  quick.quick = true;
  for (const TargetCheck& c : CheckTargets(quick)) {
    EXPECT_FALSE(c.met.has_value()) << c.target;
  }
  PerfReport inexact = SampleReport();
  inexact.index->missed = 1;
  EXPECT_EQ(CheckTargets(inexact)[4].met, false);
}

TEST(RenderMarkdown, TablesAndCommand) {
  const std::string md = RenderMarkdown(SampleReport());
  EXPECT_NE(md.find("```sh\nhashmatch eval perf\n```"), std::string::npos);
  EXPECT_NE(md.find("| hashing | 2.5 | `bench/h '--f=a\\|b'` |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| medium_1920x1080 | 2.07 | 40.8 | 4.70 | 8.68x |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| MihIndex, warm | 60.0 | 58.0 | 130 | 16,667 | 1.00x |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| MatchHashes | 16 | 9800 | 1.60 | 2.80 | 9.0 | 0 | 130 "
                    "| 44 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| phone (1 s GOPs) | 0.0 | baseline | 5.70 | 600 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| **not met** |"), std::string::npos);
  EXPECT_EQ(md.back(), '\n');
  EXPECT_NE(md[md.size() - 2], '\n');
}

TEST(RenderJson, IsJsonWithTheNumbers) {
  const std::string json = RenderJson(SampleReport());
  google::protobuf::Struct s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << json;
  const auto& index = s.fields().at("index").struct_value().fields();
  EXPECT_NEAR(index.at("ratio_faiss_to_mih_warm").number_value(), 10639.0 / 60,
              1e-9);
  EXPECT_EQ(s.fields().at("targets").list_value().values_size(), 10);
  EXPECT_EQ(s.fields().at("build_type").string_value(), "Release");
}

TEST(WriteFileAtomically, ReplacesAndKeepsTheMode) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/atomic_", getpid(), ".md");
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  EXPECT_EQ(text.str(), "two");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::remove(path.c_str());
  EXPECT_EQ(WriteFileAtomically("/nonexistent/dir/x.md", "x").code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace perf
}  // namespace hashmatch
