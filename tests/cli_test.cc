// End-to-end tests of the `hashmatch` binary: runs it as a subprocess and
// checks stdout, stderr and the exit code. HASHMATCH_BINARY is set by
// tests/CMakeLists.txt. Tests that need Debian-packaged photos skip when they
// are not installed.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/reference_rows.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

using testing_util::LoadReferenceRows;
using testing_util::ReadInstalledFile;
using testing_util::ReadWholeFile;
using testing_util::ReferenceRow;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/cli_test_", getpid(), "_", name);
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

using testing_util::RunResult;

RunResult RunHashmatch(const std::vector<std::string>& args) {
  return testing_util::RunBinary(HASHMATCH_BINARY, args);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Installed golden rows of the given format with a full-resolution PDQ.
std::vector<ReferenceRow> InstalledRows(const std::string& format) {
  std::vector<ReferenceRow> out;
  for (ReferenceRow& row : LoadReferenceRows()) {
    if (row.format != format || row.pdq_full.empty()) continue;
    if (ReadInstalledFile(row).has_value()) out.push_back(std::move(row));
  }
  return out;
}

constexpr char kPhotoSkip[] =
    "Debian photos not installed (mate-backgrounds, "
    "plasma-workspace-wallpapers, gnome-backgrounds, python3-skimage)";

// ---- hash ----

TEST(CliHashTest, TextOutputMatchesGoldenValues) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const ReferenceRow& row = rows[0];
  RunResult r =
      RunHashmatch({"hash", "--algo", "pdq,pdq-cli512,md5", row.path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            absl::StrCat(row.path, "\tpdq\t", row.pdq_full, "\t",
                         row.quality_full, "\n", row.path, "\tpdq-cli512\t",
                         row.pdq_cli512, "\t", row.quality_cli512, "\n",
                         row.path, "\tmd5\t", row.md5, "\t-\n"));
}

TEST(CliHashTest, DefaultAlgorithmIsPdq) {
  const std::vector<ReferenceRow> rows = InstalledRows("PNG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const ReferenceRow& row = rows[0];
  RunResult r = RunHashmatch({"hash", row.path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat(row.path, "\tpdq\t", row.pdq_full, "\t",
                                row.quality_full, "\n"));
}

TEST(CliHashTest, JsonOutputMatchesGoldenValues) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const ReferenceRow& row = rows[0];
  RunResult r = RunHashmatch({"hash", "--json", "--algo=pdq,md5", row.path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      absl::StrCat("{\"path\":\"", row.path,
                   "\",\"format\":\"jpeg\",\"width\":", row.width,
                   ",\"height\":", row.height,
                   ",\"hashes\":[{\"algorithm\":\"pdq\",\"hex\":\"",
                   row.pdq_full, "\",\"quality\":", row.quality_full,
                   "},{\"algorithm\":\"md5\",\"hex\":\"", row.md5, "\"}]}\n"));
}

TEST(CliHashTest, JsonEscapesPaths) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const std::string path = TempPath("we\"ird\\name\t.jpg");
  WriteFile(path, *ReadWholeFile(rows[0].path));
  RunResult r = RunHashmatch({"hash", "--json", "--algo", "md5", path});
  std::remove(path.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string escaped = path;
  escaped = absl::StrReplaceAll(
      escaped, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\t", "\\t"}});
  EXPECT_EQ(r.out, absl::StrCat("{\"path\":\"", escaped,
                                "\",\"hashes\":[{\"algorithm\":\"md5\","
                                "\"hex\":\"",
                                rows[0].md5, "\"}]}\n"));
}

TEST(CliHashTest, DihedralAddsEightVariants) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const ReferenceRow& row = rows[0];
  RunResult r =
      RunHashmatch({"hash", "--dihedral", "--algo", "pdq,md5", row.path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  const std::vector<std::string> pdq = absl::StrSplit(lines[0], '\t');
  ASSERT_EQ(pdq.size(), 5u);
  EXPECT_EQ(pdq[2], row.pdq_full);
  ASSERT_TRUE(absl::StartsWith(pdq[4], "dihedral="));
  const std::vector<std::string> variants =
      absl::StrSplit(pdq[4].substr(9), ',');
  ASSERT_EQ(variants.size(), 8u);
  EXPECT_EQ(variants[0], row.pdq_full);
  for (const std::string& v : variants) EXPECT_EQ(v.size(), 64u);
  const std::vector<std::string> md5 = absl::StrSplit(lines[1], '\t');
  EXPECT_EQ(md5.size(), 4u) << "md5 has no variants";

  RunResult j = RunHashmatch({"hash", "--json", "--dihedral", row.path});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_TRUE(absl::StrContains(
      j.out, absl::StrCat("\"dihedral\":{\"original\":\"", variants[0],
                          "\",\"rotate90\":\"", variants[1], "\"")))
      << j.out;
  EXPECT_TRUE(absl::StrContains(
      j.out, absl::StrCat("\"flipminus1\":\"", variants[7], "\"}")))
      << j.out;
}

TEST(CliHashTest, BadFilesAreReportedAndTheOthersHashed) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.size() < 2) GTEST_SKIP() << kPhotoSkip;
  const std::string jpeg = *ReadWholeFile(rows[0].path);
  const std::string missing = TempPath("missing.jpg");
  const std::string text = TempPath("text.jpg");
  const std::string truncated = TempPath("truncated.jpg");
  WriteFile(text, "this is not an image\n");
  WriteFile(truncated, jpeg.substr(0, jpeg.size() / 2));

  RunResult r = RunHashmatch({"hash", "--threads", "3", rows[0].path, missing,
                              text, truncated, rows[1].path});
  std::remove(text.c_str());
  std::remove(truncated.c_str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            absl::StrCat(rows[0].path, "\tpdq\t", rows[0].pdq_full, "\t",
                         rows[0].quality_full, "\n", rows[1].path, "\tpdq\t",
                         rows[1].pdq_full, "\t", rows[1].quality_full, "\n"));
  const std::vector<std::string> err = Lines(r.err);
  ASSERT_EQ(err.size(), 3u) << r.err;
  EXPECT_TRUE(absl::StartsWith(err[0], "hashmatch: " + missing + ": "))
      << err[0];
  EXPECT_TRUE(absl::StrContains(err[0], "No such file")) << err[0];
  EXPECT_TRUE(absl::StartsWith(err[1], "hashmatch: " + text + ": ")) << err[1];
  EXPECT_TRUE(absl::StartsWith(err[2], "hashmatch: " + truncated + ": "))
      << err[2];
}

TEST(CliHashTest, LimitsRejectLargeFiles) {
  const std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.empty()) GTEST_SKIP() << kPhotoSkip;
  const ReferenceRow& row = rows[0];
  RunResult bytes = RunHashmatch({"hash", "--max_image_bytes=1000", row.path});
  EXPECT_EQ(bytes.exit_code, 1);
  EXPECT_EQ(bytes.out, "");
  EXPECT_TRUE(absl::StartsWith(bytes.err, "hashmatch: " + row.path + ": "));
  EXPECT_TRUE(absl::StrContains(bytes.err, "over the limit of 1000 bytes"))
      << bytes.err;

  RunResult pixels =
      RunHashmatch({"hash", "--max_image_pixels", "1000", row.path});
  EXPECT_EQ(pixels.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(pixels.err, "over the limit of 1000 pixels"))
      << pixels.err;
}

TEST(CliHashTest, OutputKeepsInputOrderWithManyThreads) {
  std::vector<ReferenceRow> rows = InstalledRows("JPEG");
  if (rows.size() < 8) GTEST_SKIP() << kPhotoSkip;
  rows.resize(8);
  std::vector<std::string> args = {"hash", "--threads=4"};
  std::string expected;
  for (const ReferenceRow& row : rows) {
    args.push_back(row.path);
    absl::StrAppend(&expected, row.path, "\tpdq\t", row.pdq_full, "\t",
                    row.quality_full, "\n");
  }
  RunResult r = RunHashmatch(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
}

TEST(CliHashTest, UsageErrorsExitWith2) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"hash"},
      {"hash", "--algo", "pdq,nope", "x.jpg"},
      {"hash", "--unknown", "x.jpg"},
      {"hash", "-j", "x.jpg"},
      {"hash", "--threads", "0", "x.jpg"},
      {"hash", "--threads", "four", "x.jpg"},
      {"hash", "--threads=1x", "x.jpg"},
      {"hash", "--json=yes", "x.jpg"},
      {"hash", "--json", "--json", "x.jpg"},
      {"hash", "x.jpg", "--algo"},
      {"hash", "--max_image_bytes", "-5", "x.jpg"},
      {"pairs", "--algo", "md5", "x.jpg"},
      {"pairs", "--algo", "pdq,dhash", "x.jpg"},
      {"compare", "abcd"},
      {"compare", "--threshold", "300", std::string(64, 'a'),
       std::string(64, 'a')},
  };
  for (const std::vector<std::string>& args : cases) {
    RunResult r = RunHashmatch(args);
    const std::string cmd = absl::StrJoin(args, " ");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_TRUE(absl::StrContains(r.err, "usage:")) << cmd << "\n" << r.err;
  }
  RunResult unknown = RunHashmatch({"hash", "--algo", "pdq,nope", "x.jpg"});
  EXPECT_TRUE(
      absl::StartsWith(unknown.err, "hashmatch: unknown algorithm 'nope'"))
      << unknown.err;
}

TEST(CliTest, HelpAndVersion) {
  for (const char* help : {"help", "--help"}) {
    RunResult r = RunHashmatch({help});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(absl::StartsWith(r.out, "usage:")) << r.out;
    EXPECT_EQ(r.err, "");
  }
  RunResult sub = RunHashmatch({"hash", "--help"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(sub.out, "usage:"));
  RunResult v = RunHashmatch({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(v.out, "hashmatch ")) << v.out;
}

// ---- compare ----

TEST(CliCompareTest, MatchNoMatchAndBadInput) {
  const std::string a =
      "517f55550aabaa0057ff480057f5aaaa4aa83fff6a80155faa80aaaaffd5d500";
  const std::string b =  // 10 bits from a (the same image, squashed).
      "555f55540aab2a0057ff000057f5aaaa4aa8bfff6a80b55fea80aaaaffd5d500";
  const std::string far =
      "3350dce86667e9e68c32d3df83f6ccace8706b71938d3945a6b838086926565b";

  RunResult same = RunHashmatch({"compare", a, a});
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_EQ(same.out, "distance 0 of 256 bits: match (threshold 31)\n");

  RunResult near = RunHashmatch({"compare", a, b});
  EXPECT_EQ(near.exit_code, 0);
  EXPECT_EQ(near.out, "distance 10 of 256 bits: match (threshold 31)\n");

  RunResult strict = RunHashmatch({"compare", "--threshold=9", a, b});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_EQ(strict.out, "distance 10 of 256 bits: no match (threshold 9)\n");

  RunResult apart = RunHashmatch({"compare", a, far});
  EXPECT_EQ(apart.exit_code, 1);
  EXPECT_TRUE(absl::EndsWith(apart.out, "bits: no match (threshold 31)\n"))
      << apart.out;

  RunResult upper = RunHashmatch({"compare", a, absl::AsciiStrToUpper(a)});
  EXPECT_EQ(upper.exit_code, 0) << upper.err;

  RunResult h64 =
      RunHashmatch({"compare", "ffff000000000000", "0fff000000000000"});
  EXPECT_EQ(h64.exit_code, 0);
  EXPECT_EQ(h64.out, "distance 4 of 64 bits: match (threshold 10)\n");

  RunResult md5 = RunHashmatch({"compare", "d41d8cd98f00b204e9800998ecf8427e",
                                "d41d8cd98f00b204e9800998ecf8427f"});
  EXPECT_EQ(md5.exit_code, 1);
  EXPECT_EQ(md5.out, "distance 1 of 128 bits: no match (threshold 0)\n");

  std::string bad = a;
  bad[10] = 'g';
  RunResult bad_hex = RunHashmatch({"compare", a, bad});
  EXPECT_EQ(bad_hex.exit_code, 2);
  EXPECT_EQ(bad_hex.out, "");
  EXPECT_TRUE(absl::StartsWith(bad_hex.err, "hashmatch: compare: second hash"))
      << bad_hex.err;

  RunResult mismatch = RunHashmatch({"compare", a, "ffff000000000000"});
  EXPECT_EQ(mismatch.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(mismatch.err, "differ in length"))
      << mismatch.err;

  RunResult odd = RunHashmatch({"compare", "abc", "abc"});
  EXPECT_EQ(odd.exit_code, 2);
}

// ---- pairs ----

TEST(CliPairsTest, FindsTheSamePhotoAtTwoSizesOnly) {
  const std::string w = "/usr/share/wallpapers/";
  const std::string big = w + "Autumn/contents/images/2560x1600.jpg";
  const std::string small = w + "Autumn/contents/screenshot.jpg";
  const std::string other = w + "Kite/contents/images/2560x1600.jpg";
  for (const std::string& p : {big, small, other}) {
    if (!ReadWholeFile(p).has_value()) GTEST_SKIP() << kPhotoSkip;
  }
  RunResult r = RunHashmatch({"pairs", "--algo", "pdq", big, small, other});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "MATCH  distance ")) << lines[0];
  EXPECT_TRUE(absl::EndsWith(lines[0], "  " + big + "  " + small)) << lines[0];
  EXPECT_EQ(lines[1],
            "3 files hashed, 1 matching pairs (pdq, threshold 31), 0 with "
            "quality below 50, 0 unreadable");

  RunResult none =
      RunHashmatch({"pairs", "--threshold", "0", big, small, other});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(none.out, "3 files hashed, 0 matching pairs"))
      << none.out;
}

TEST(CliPairsTest, FlagsLowQualityAndReportsBadFiles) {
  // PastelHills hashes at quality 28 (below the trusted 50).
  const std::string w = "/usr/share/wallpapers/PastelHills/contents/";
  const std::string big = w + "images/3200x2000.jpg";
  const std::string small = w + "screenshot.jpg";
  for (const std::string& p : {big, small}) {
    if (!ReadWholeFile(p).has_value()) GTEST_SKIP() << kPhotoSkip;
  }
  const std::string missing = TempPath("missing.png");
  RunResult r = RunHashmatch({"pairs", big, missing, small});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(r.err, "hashmatch: " + missing + ": ")) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "LOW_QUALITY  quality ")) << lines[0];
  EXPECT_TRUE(absl::EndsWith(lines[0], "  " + big)) << lines[0];
  EXPECT_TRUE(absl::EndsWith(lines[1], "  " + small)) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[2], "MATCH  distance ")) << lines[2];
  EXPECT_TRUE(absl::StrContains(lines[2], "(low quality: ")) << lines[2];
  EXPECT_TRUE(absl::StartsWith(lines[3], "2 files hashed, 1 matching pairs"))
      << lines[3];
  EXPECT_TRUE(absl::EndsWith(lines[3], "2 with quality below 50, 1 unreadable"))
      << lines[3];
}

}  // namespace
}  // namespace hashmatch
