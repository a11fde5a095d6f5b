#include "src/perf/perf_runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace perf {
namespace {

// What a real `index_benchmark --json` wrote (bench_results_test has it
// whole); enough keys for ParseIndexJson.
constexpr char kIndexJson[] =
    R"({"n":20000,"codes":"realistic","radius":31,"queries":20,)"
    R"("faiss_queries":5,"mih_build_s":0.0056,"mih_rss_mb":8.0,)"
    R"("binary_index_build_s":0.0057,"binary_index_rss_mb":8.6,)"
    R"("mih_interleaved":{"mean_us":9.09,"p50_us":7.6,"p99_us":37.2},)"
    R"("flat_interleaved":{"mean_us":27.2,"p50_us":19.8,"p99_us":96.9},)"
    R"("faiss_interleaved":{"mean_us":191.7,"p50_us":158.3,"p99_us":278.3},)"
    R"("mih_back_to_back":{"mean_us":3.48,"p50_us":3.38,"p99_us":6.16},)"
    R"("flat_back_to_back":{"mean_us":27.0,"p50_us":20.1,"p99_us":148.6},)"
    R"("binary_index_dihedral":{"mean_us":16.4,"p50_us":16.3,"p99_us":34.6},)"
    R"("true_matches":58,"missed":0,"extra":0,"binary_index_mismatches":0,)"
    R"("faiss_mismatches":0})";

// Fake bench programs (shell scripts) in a fresh directory: RunPerf's
// process handling, argument passing and errors without the real ones
// (tests/perf_cli_test runs those).
class RunPerfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/run_perf_test_", getpid());
    std::filesystem::create_directories(dir_);
    options_.bench_dir = dir_;
    options_.benchmarks = {"index"};
    options_.temp_root = dir_;
    options_.progress = [this](absl::string_view line) {
      progress_.emplace_back(line);
    };
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Script(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ASSERT_EQ(chmod(path.c_str(), 0755), 0);
  }

  std::string dir_;
  PerfOptions options_;
  std::vector<std::string> progress_;
};

constexpr char kWriteJsonArg[] =
    "for a in \"$@\"; do case \"$a\" in --json=*) out=\"${a#--json=}\";; "
    "esac; done\n";

TEST_F(RunPerfTest, RunsTheProgramWithTheSizesAndParsesItsJson) {
  Script("index_benchmark", absl::StrCat(kWriteJsonArg, "printf '%s' '",
                                         kIndexJson, "' > \"$out\""));
  options_.index_n = 12345;
  absl::StatusOr<PerfReport> r = RunPerf(options_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->index.has_value());
  EXPECT_DOUBLE_EQ(r->index->mih_back_to_back.mean, 3.48);
  ASSERT_EQ(r->runs.size(), 1u);
  EXPECT_EQ(r->runs[0].name, "index");
  EXPECT_NE(r->runs[0].command.find(
                "index_benchmark --n=12345 --codes=realistic --queries=200 "
                "--faiss_queries=50 --json=$WORK/index.json"),
            std::string::npos)
      << r->runs[0].command;
  EXPECT_GT(r->machine.cores, 0);
  EXPECT_FALSE(progress_.empty());
  // The temporary directory is gone.
  int left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    left += e.path().filename().string().rfind("hashmatch_eval_perf_", 0) == 0;
  }
  EXPECT_EQ(left, 0);
}

TEST_F(RunPerfTest, NonZeroExitCarriesTheStderrTail) {
  Script("index_benchmark",
         "echo line1 >&2; echo 'mismatch: 3 queries' >&2; "
         "exit 2");
  absl::StatusOr<PerfReport> r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("exited with status 2"),
            std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("mismatch: 3 queries"),
            std::string::npos);
}

TEST_F(RunPerfTest, TimeoutAndBadOutput) {
  Script("index_benchmark", "sleep 30");
  options_.timeout = absl::Milliseconds(300);
  absl::StatusOr<PerfReport> r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_NE(r.status().message().find("index: "), std::string::npos);

  Script("index_benchmark",
         absl::StrCat(kWriteJsonArg, "echo 'n=5 not json' > \"$out\""));
  options_.timeout = absl::Seconds(60);
  r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();

  Script("index_benchmark", "exit 0");  // No result file.
  r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_NE(r.status().message().find("no result file"), std::string::npos);
}

TEST_F(RunPerfTest, MissingProgramsAreNamedBeforeAnythingRuns) {
  Script("index_benchmark", absl::StrCat("touch ", dir_, "/ran"));
  options_.benchmarks = {"index", "video"};
  absl::StatusOr<PerfReport> r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("video_hash_bench not found at " + dir_ +
                                      "/video_hash_bench"),
            std::string::npos)
      << r.status();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran"));
  options_.benchmarks = {"rpc"};
  Script("match_load", "exit 0");
  options_.match_server = dir_ + "/no_server";
  r = RunPerf(options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("match_server not found"),
            std::string::npos);
  options_.benchmarks = {"disk"};
  EXPECT_EQ(RunPerf(options_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote({"a/b", "--x=1,2", "two words", "it's", ""}),
            "a/b --x=1,2 'two words' 'it'\\''s' ''");
}

}  // namespace
}  // namespace perf
}  // namespace hashmatch
