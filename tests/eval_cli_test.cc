// End-to-end tests of `hashmatch eval accuracy`: the binary on a corpus of
// generated photos (src/eval/test_corpus.h), its outputs, and its errors.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/eval/test_corpus.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

using testing_util::RunBinary;
using testing_util::RunResult;

RunResult RunHashmatch(const std::vector<std::string>& args) {
  return RunBinary(HASHMATCH_BINARY, args);
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// The profile name the test pictures carry: libpng quotes it in its warning;
// the escape sequence must never reach the terminal.
constexpr char kProfileName[] = "Evil\x1b[31m profile";

class EvalCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = eval::testing_util::FreshDir("eval_cli_test");
    corpus_ = absl::StrCat(root_, "/corpus");
    std::filesystem::create_directories(corpus_);
    // 2 vetted and 2 innocent pictures (the split is by content, so it is
    // the same whatever the directory), each with an iCCP chunk that makes
    // libpng warn whenever it is decoded.
    written_ = eval::testing_util::WriteSyntheticCorpus(
        corpus_, 4, 2, [](const std::string& png) {
          return eval::testing_util::WithBadIccProfile(png, kProfileName);
        });
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_, corpus_;
  std::vector<eval::ManifestEntry> written_;
};

TEST_F(EvalCliTest, WritesManifestThenEvaluatesFromIt) {
  const std::string manifest = absl::StrCat(root_, "/manifest.tsv");
  RunResult r = RunHashmatch(
      {"eval", "accuracy", "--corpus", corpus_, "--write-manifest", manifest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("wrote 4 entries to ", manifest, "\n"));
  // The scan decodes each picture: libpng's warnings are summarised once.
  EXPECT_EQ(Count(r.err, "libpng warning"), 1u) << r.err;
  EXPECT_NE(r.err.find("messages from libpng: libpng warning: iCCP: profile\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("Evil"), std::string::npos) << r.err;
  // The manifest has the written pictures, by MD5 and size.
  const std::string manifest_text = Slurp(manifest);
  ASSERT_EQ(written_.size(), 4u);
  for (const eval::ManifestEntry& e : written_) {
    EXPECT_NE(manifest_text.find(absl::StrCat(e.md5, "\t", e.size, "\t")),
              std::string::npos)
        << e.path;
  }

  const std::string out = absl::StrCat(root_, "/out");
  r = RunHashmatch({"eval", "accuracy", "--manifest", manifest, "--out", out,
                    "--hashers", "pdq,phash", "--transforms", "identity,jpeg50",
                    "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Progress lines pass through; library messages are counted, not printed
  // per image.
  EXPECT_NE(r.err.find("hashmatch eval: 4/4 originals\n"), std::string::npos)
      << r.err;
  EXPECT_EQ(Count(r.err, "libpng warning"), 1u) << r.err;
  EXPECT_EQ(r.err.find("Evil"), std::string::npos) << r.err;
  const std::string md = Slurp(absl::StrCat(out, "/accuracy.md"));
  // The split the corpus was built for, whatever its directory.
  EXPECT_NE(md.find("4 originals in 4 groups (2 vetted, 2 innocent)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find(absl::StrCat("```sh\nhashmatch eval accuracy --manifest ",
                                 manifest, " --out ", out)),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| identity | 100.0% | 100.0% | 100.0% |"),
            std::string::npos)
      << md;
  const std::string json = Slurp(absl::StrCat(out, "/accuracy.json"));
  EXPECT_NE(json.find("\"originals\":4,\"vetted\":2,\"innocent\":2,"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"name\":\"pdq (no gate)\""), std::string::npos);
  EXPECT_NE(Slurp(absl::StrCat(out, "/accuracy.html")).find("<svg"),
            std::string::npos);
  EXPECT_NE(Slurp(absl::StrCat(out, "/hist_phash.svg")).find("<svg"),
            std::string::npos);

  // A file changed after the manifest was written: exit 1, both digests.
  std::filesystem::path first;
  for (const auto& e : std::filesystem::directory_iterator(corpus_)) {
    if (first.empty() || e.path() < first) first = e.path();
  }
  std::ofstream(first, std::ios::binary | std::ios::app) << "x";
  r = RunHashmatch({"eval", "accuracy", "--manifest", manifest, "--out", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("size mismatch"), std::string::npos) << r.err;
}

TEST_F(EvalCliTest, Errors) {
  RunResult r = RunHashmatch({"eval", "accuracy", "--corpus",
                              "/usr/share/wallpapers/no-such-wallpaper",
                              "--out", absl::StrCat(root_, "/o")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("apt-get install plasma-workspace-wallpapers"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(RunHashmatch({"eval", "accuracy", "--corpus", corpus_}).exit_code,
            2);
  EXPECT_EQ(RunHashmatch({"eval", "accuracy", "--corpus", corpus_, "--manifest",
                          "m", "--out", "o"})
                .exit_code,
            2);
  r = RunHashmatch({"eval", "accuracy", "--corpus", corpus_, "--out",
                    absl::StrCat(root_, "/o"), "--hashers", "pdq,md5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown hasher 'md5'"), std::string::npos);
  EXPECT_EQ(RunHashmatch({"eval", "speed"}).exit_code, 2);
}

}  // namespace
}  // namespace hashmatch
