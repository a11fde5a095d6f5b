#include "src/eval/report.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "src/common/file_util.h"
#include "src/eval/test_corpus.h"

namespace hashmatch {
namespace eval {
namespace {

// A result built by hand from the metrics test's distances.
AccuracyResult HandResult() {
  AccuracyResult r;
  r.originals = 4;
  r.vetted = 2;
  r.innocent = 2;
  r.groups = 4;
  r.target_precision = 0.9999;
  r.max_side = 1024;
  r.seed = 1;
  r.transforms = {"jpeg50"};
  MethodScore m;
  m.method = "pdq+dihedral";
  m.bits = 10;
  m.default_threshold = 5;
  TransformScore t;
  t.transform = "jpeg50";
  t.distances.bits = 10;
  t.distances.positives = {{0, 9}, {2, 8}, {4, 3}, {6, 10}};
  t.distances.negatives = {5, 7, 9};
  t.at_target = PointAtPrecision(t.distances, 0.9999);
  t.at_default = PointAt(t.distances, 5);
  t.at_pooled = PointAt(t.distances, 2);
  m.all = t;
  m.all.transform = "all";
  m.all.distances.pairs = {3, 10};
  m.all.at_target = PointAtPrecision(m.all.distances, 0.9999);
  m.all.at_default = PointAt(m.all.distances, 5);
  m.transforms.push_back(t);
  r.methods.push_back(m);
  r.failures = {"/x: bad \"quote\""};
  return r;
}

TEST(ReportTest, MarkdownHasTheCommandAndTheHandNumbers) {
  const std::string md =
      FormatAccuracyMarkdown(HandResult(), "hashmatch eval x");
  EXPECT_NE(md.find("```sh\nhashmatch eval x\n```"), std::string::npos);
  // jpeg50 at the pooled T* = 2: recall 2/4.
  EXPECT_NE(md.find("| jpeg50 | 50.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("T*: pdq+dihedral 2."), std::string::npos) << md;
  EXPECT_NE(md.find("| hasher | T* (P>=99.99%) |"), std::string::npos) << md;
  // Default T = 5: recall 2/4, FPR 1/3.
  EXPECT_NE(md.find("| jpeg50 | 50.0% / 0.33 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| pdq+dihedral | 2 | 50.0% | 0 | 0 | 5 | 50.0% | 0.4000 "
                    "| 0.33 | 0.5 |"),
            std::string::npos)
      << md;
}

TEST(ReportTest, JsonAndFilesAreWritten) {
  const std::string json = FormatAccuracyJson(HandResult(), "cmd \"q\"");
  EXPECT_EQ(json.substr(0, 20), "{\"command\":\"cmd \\\"q\\");
  EXPECT_NE(json.find("\"histogram_match\":[1,0,1,0,1,0,1,0,0,0,0]"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"histogram_pairs\":[0,0,0,1,0,0,0,0,0,0,1]"),
            std::string::npos);
  EXPECT_NE(json.find("\"/x: bad \\\"quote\\\"\""), std::string::npos);
  const std::string dir = testing_util::FreshDir("report_files");
  ASSERT_TRUE(WriteAccuracyReport(HandResult(), dir, "cmd").ok());
  for (const char* name : {"accuracy.json", "accuracy.md", "accuracy.html",
                           "roc.svg", "hist_pdq_dihedral.svg"}) {
    absl::StatusOr<std::string> text =
        ReadFileToString(dir + "/" + name, 1 << 20);
    ASSERT_TRUE(text.ok()) << name;
    EXPECT_GT(text->size(), 100u) << name;
  }
  const std::string svg = RocSvg(HandResult());
  EXPECT_EQ(svg.substr(0, 4), "<svg");
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
