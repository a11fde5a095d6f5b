#include "src/perf/bench_results.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace perf {
namespace {

// Captured from `hashing_benchmark --benchmark_out_format=json` (context
// trimmed), plus one benchmark in the form Google Benchmark gives a
// SkipWithError (a photo that is not installed) and one in microseconds.
constexpr char kHashingJson[] = R"({
  "context": {"date": "2026-11-29T07:04:16+00:00", "num_cpus": 2,
              "library_build_type": "debug"},
  "benchmarks": [
    {"name": "PdqHash/baseline/medium_1920x1080", "family_index": 2,
     "per_family_instance_index": 0,
     "run_name": "PdqHash/baseline/medium_1920x1080", "run_type": "iteration",
     "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 6,
     "real_time": 40.97512950011151, "cpu_time": 40.79922283333333,
     "time_unit": "ms", "Mpx/s": 50.824497527091374,
     "items_per_second": 24.510270798172925},
    {"name": "PdqHash/optimized/medium_1920x1080", "family_index": 3,
     "per_family_instance_index": 0,
     "run_name": "PdqHash/optimized/medium_1920x1080", "run_type": "iteration",
     "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 54,
     "real_time": 4.712246555552863, "cpu_time": 4.71159340740741,
     "time_unit": "ms", "Mpx/s": 440.1058879019474,
     "items_per_second": 212.24242279222003, "speedup": 8.659328260646062},
    {"name": "PdqHash/optimized/large_5640x3172", "family_index": 5,
     "per_family_instance_index": 0,
     "run_name": "PdqHash/optimized/large_5640x3172", "run_type": "iteration",
     "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 0,
     "real_time": 0, "cpu_time": 0, "time_unit": "ms",
     "error_occurred": true,
     "error_message": "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg: NOT_FOUND"},
    {"name": "HashBytes/pdq-fast/small_512x512", "family_index": 9,
     "per_family_instance_index": 0,
     "run_name": "HashBytes/pdq-fast/small_512x512", "run_type": "iteration",
     "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 190,
     "real_time": 3531.5, "cpu_time": 3530.25, "time_unit": "us",
     "items_per_second": 283.2}
  ]
})";

TEST(GoogleBenchmarkJson, ParsesRunsCountersErrorsAndUnits) {
  absl::StatusOr<std::vector<GbRun>> runs =
      ParseGoogleBenchmarkJson(kHashingJson);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 4u);
  EXPECT_EQ((*runs)[1].name, "PdqHash/optimized/medium_1920x1080");
  EXPECT_EQ((*runs)[1].iterations, 54);
  EXPECT_DOUBLE_EQ((*runs)[1].cpu_ms, 4.71159340740741);
  EXPECT_DOUBLE_EQ((*runs)[1].counters.at("speedup"), 8.659328260646062);
  EXPECT_DOUBLE_EQ((*runs)[1].counters.at("Mpx/s"), 440.1058879019474);
  EXPECT_EQ((*runs)[1].counters.count("items_per_second"), 0u);
  EXPECT_NE((*runs)[2].error.find("NOT_FOUND"), std::string::npos);
  EXPECT_DOUBLE_EQ((*runs)[3].cpu_ms, 3.53025);  // From microseconds.
}

TEST(GoogleBenchmarkJson, HashingRowsPairBaselineAndOptimized) {
  HashingResult h = HashingFromRuns(*ParseGoogleBenchmarkJson(kHashingJson));
  ASSERT_EQ(h.pdq.size(), 2u);
  EXPECT_EQ(h.pdq[0].input, "medium_1920x1080");
  EXPECT_DOUBLE_EQ(h.pdq[0].megapixels, 1920 * 1080 * 1e-6);
  EXPECT_DOUBLE_EQ(h.pdq[0].baseline_ms, 40.79922283333333);
  EXPECT_DOUBLE_EQ(h.pdq[0].optimized_ms, 4.71159340740741);
  EXPECT_DOUBLE_EQ(h.pdq[0].speedup, 8.659328260646062);
  EXPECT_EQ(h.pdq[1].input, "large_5640x3172");
  EXPECT_FALSE(h.pdq[1].error.empty());
  ASSERT_EQ(h.hash_bytes.size(), 1u);
  EXPECT_EQ(h.hash_bytes[0].mode, "pdq-fast");
  EXPECT_EQ(h.hash_bytes[0].input, "small_512x512");
}

TEST(GoogleBenchmarkJson, OptimizedWithoutBaselineRunUsesItsCounter) {
  constexpr char kJson[] = R"({"benchmarks": [
    {"name": "PdqHash/optimized/synthetic_2000x2000", "run_type": "iteration",
     "iterations": 10, "real_time": 12.0, "cpu_time": 10.0, "time_unit": "ms",
     "speedup": 6.5}]})";
  HashingResult h = HashingFromRuns(*ParseGoogleBenchmarkJson(kJson));
  ASSERT_EQ(h.pdq.size(), 1u);
  EXPECT_DOUBLE_EQ(h.pdq[0].baseline_ms, 65.0);
  EXPECT_DOUBLE_EQ(h.pdq[0].megapixels, 4.0);
}

TEST(GoogleBenchmarkJson, SkipsAggregatesAndRejectsBadText) {
  constexpr char kJson[] = R"({"benchmarks": [
    {"name": "PdqHash/optimized/x_1x1_mean", "run_type": "aggregate",
     "iterations": 3, "real_time": 1, "cpu_time": 1, "time_unit": "ms"}]})";
  EXPECT_TRUE(ParseGoogleBenchmarkJson(kJson)->empty());
  absl::StatusOr<std::vector<GbRun>> bad =
      ParseGoogleBenchmarkJson("PdqHash/optimized 4.7 ms");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("hashing_benchmark"),
            std::string::npos);
  bad = ParseGoogleBenchmarkJson(R"({"context": {}})");
  EXPECT_NE(bad.status().message().find("no array \"benchmarks\""),
            std::string::npos)
      << bad.status();
  bad = ParseGoogleBenchmarkJson(
      R"({"benchmarks": [{"name": "a", "run_type": "iteration"}]})");
  EXPECT_NE(bad.status().message().find("benchmarks[0]: no number"),
            std::string::npos)
      << bad.status();
}

// Captured from `index_benchmark --n=20000 --queries=20 --faiss_queries=5
// --codes=realistic --json=FILE`.
constexpr char kIndexJson[] =
    R"({"n":20000,"codes":"realistic","radius":31,"queries":20,)"
    R"("faiss_queries":5,"mih_build_s":0.005615051,"mih_rss_mb":8.00390625,)"
    R"("mih_chunks":16,"binary_index_build_s":0.00573465,)"
    R"("binary_index_rss_mb":8.6171875,"candidates_mean":135.15,)"
    R"("mih_interleaved":{"mean_us":9.0936,"p50_us":7.627,"p99_us":37.242},)"
    R"("flat_interleaved":{"mean_us":27.1876,"p50_us":19.82,"p99_us":96.862},)"
    R"("faiss_interleaved":{"mean_us":191.7048,"p50_us":158.348,)"
    R"("p99_us":278.261},"mih_back_to_back":{"mean_us":3.4753,)"
    R"("p50_us":3.379,"p99_us":6.161},"flat_back_to_back":{)"
    R"("mean_us":26.9703,"p50_us":20.088,"p99_us":148.592},)"
    R"("binary_index_dihedral":{"mean_us":16.43,"p50_us":16.305,)"
    R"("p99_us":34.61},"true_matches":58,"missed":0,"extra":0,)"
    R"("binary_index_mismatches":0,"faiss_mismatches":0,)"
    R"("mih_qps_1t":191411.3717,"mih_qps_2t":271836.3907,)"
    R"("binary_index_qps_1t":314674.8622,"binary_index_qps_2t":335262.9579,)"
    R"("live_add_mean_us":1.139221,"merge_s":0.024378578})";

TEST(IndexJson, Parses) {
  absl::StatusOr<IndexResult> x = ParseIndexJson(kIndexJson);
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->n, 20000);
  EXPECT_EQ(x->codes, "realistic");
  EXPECT_EQ(x->radius, 31);
  EXPECT_DOUBLE_EQ(x->mih_back_to_back.mean, 3.4753);
  EXPECT_DOUBLE_EQ(x->faiss_interleaved.p99, 278.261);
  EXPECT_DOUBLE_EQ(x->flat_back_to_back.p50, 20.088);
  EXPECT_EQ(x->true_matches, 58);
  EXPECT_DOUBLE_EQ(x->binary_index_qps_2t, 335262.9579);
  EXPECT_DOUBLE_EQ(x->binary_index_rss_mb, 8.6171875);
}

TEST(IndexJson, MissingLatencyIsNamed) {
  std::string text = kIndexJson;
  text.replace(text.find("\"mih_back_to_back\""), 18, "\"renamed_key_here\"");
  absl::StatusOr<IndexResult> x = ParseIndexJson(text);
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find("index_benchmark: no object "
                                      "\"mih_back_to_back\""),
            std::string::npos)
      << x.status();
}

// Captured from match_load --make_store=DIR --n=2000 --json=FILE and from
// match_load --rpc=hashes,image --concurrency=1,2 --duration_s=0.5 --json.
constexpr char kStoreJson[] = R"({"entries":2000,"seconds":0.036249273})";
constexpr char kLoadJson[] =
    R"({"image_baseline":{"threads":2,"images_per_s_before":16,)"
    R"("images_per_s_after":22,"images_per_s_mean":19,"best_image_rps":16,)"
    R"("percent_of_in_process":84.21052632,)"
    R"("cpu_us_per_image_before":42467.25,)"
    R"("cpu_us_per_image_after":37313.81818},"server":"127.0.0.1:33073",)"
    R"("duration_s":0.5,"client_threads":1,"dihedral":"server","images":1,)"
    R"("levels":[{"rpc":"MatchHashes","concurrency":1,"calls":7151,)"
    R"("ok_rps":14302,"p50_ms":0.05455800146,"p95_ms":0.121276997,)"
    R"("p99_ms":0.1880130023,"max_ms":2.934149981,"matches":73,)"
    R"("srv_us":42.21707749,"cli_us":23.57056607,"errors":0},)"
    R"({"rpc":"MatchHashes","concurrency":2,"calls":6587,"ok_rps":13174,)"
    R"("p50_ms":0.08941400051,"p95_ms":0.2562899888,"p99_ms":2.014667034,)"
    R"("max_ms":4.959917068,"matches":68,"srv_us":41.31332898,)"
    R"("cli_us":28.44557513,"errors":0},{"rpc":"MatchImage",)"
    R"("concurrency":2,"calls":8,"ok_rps":16,"p50_ms":102.61409,)"
    R"("p95_ms":117.2112198,"p99_ms":117.2112198,"max_ms":117.2112198,)"
    R"("matches":0,"srv_us":35714.28571,"cli_us":563.4642857,"errors":0}]})";

TEST(MatchLoadJson, ParsesStoreLevelsAndBaseline) {
  absl::StatusOr<StoreResult> store = ParseMakeStoreJson(kStoreJson);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->entries, 2000);
  absl::StatusOr<LoadResult> load = ParseMatchLoadJson(kLoadJson);
  ASSERT_TRUE(load.ok()) << load.status();
  ASSERT_EQ(load->levels.size(), 3u);
  EXPECT_EQ(load->levels[1].rpc, "MatchHashes");
  EXPECT_EQ(load->levels[1].concurrency, 2);
  EXPECT_DOUBLE_EQ(load->levels[1].ok_rps, 13174);
  EXPECT_DOUBLE_EQ(load->levels[1].p99_ms, 2.014667034);
  EXPECT_EQ(load->levels[2].rpc, "MatchImage");
  ASSERT_TRUE(load->image_baseline.has_value());
  EXPECT_DOUBLE_EQ(load->image_baseline->percent_of_in_process, 84.21052632);
  EXPECT_DOUBLE_EQ(load->image_baseline->cpu_us_per_image,
                   (42467.25 + 37313.81818) / 2);
  EXPECT_DOUBLE_EQ(load->duration_s, 0.5);
}

TEST(MatchLoadJson, HashesOnlyHasNoBaseline) {
  absl::StatusOr<LoadResult> load =
      ParseMatchLoadJson(R"({"duration_s":5,"levels":[]})");
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_FALSE(load->image_baseline.has_value());
  EXPECT_FALSE(
      ParseMatchLoadJson(R"({"levels":[{"rpc":"MatchHashes"}]})").ok());
}

// Captured from video_hash_bench --seconds 1 --clips camera,phone --modes
// defaults --repeats 1 --json FILE.
constexpr char kVideoJson[] =
    R"({"seconds":1,"repeats":1,"clips":[{"clip":"camera","bytes":356629,)"
    R"("mbit_s":2.853032,"duration_s":1,"rows":[{"mode":"baseline: )"
    R"(decode+convert every frame","cpu_s":0.101513608,)"
    R"("cpu_s_per_min":6.09081648,"wall_s":0.101983353,"decoded":30,)"
    R"("sampled":30,"kept":0,"speedup":1},{"mode":"HashVideo defaults",)"
    R"("cpu_s":0.02152906,"cpu_s_per_min":1.2917436,"wall_s":0.021545286,)"
    R"("decoded":1,"sampled":1,"kept":1,"speedup":4.71518998}]},)"
    R"({"clip":"phone","bytes":294395,"mbit_s":2.35516,"duration_s":1,)"
    R"("rows":[{"mode":"baseline: decode+convert every frame",)"
    R"("cpu_s":0.091472181,"cpu_s_per_min":5.48833086,"wall_s":0.091643727,)"
    R"("decoded":30,"sampled":30,"kept":0,"speedup":1},{"mode":"HashVideo )"
    R"(defaults","cpu_s":0.020557785,"cpu_s_per_min":1.2334671,)"
    R"("wall_s":0.020569975,"decoded":1,"sampled":1,"kept":1,)"
    R"("speedup":4.449515403}]}]})";

TEST(VideoJson, Parses) {
  absl::StatusOr<VideoResult> v = ParseVideoJson(kVideoJson);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->seconds, 1);
  ASSERT_EQ(v->clips.size(), 2u);
  EXPECT_EQ(v->clips[1].clip, "phone");
  ASSERT_EQ(v->clips[0].rows.size(), 2u);
  EXPECT_EQ(v->clips[0].rows[0].decoded, 30);
  EXPECT_DOUBLE_EQ(v->clips[0].rows[1].cpu_s_per_min, 1.2917436);
  EXPECT_DOUBLE_EQ(v->clips[0].rows[1].speedup, 4.71518998);
}

TEST(VideoJson, ClipWithoutDefaultsRowIsAnError) {
  absl::StatusOr<VideoResult> v = ParseVideoJson(
      R"({"seconds":1,"clips":[{"clip":"camera","duration_s":1,"rows":[
         {"mode":"baseline","cpu_s":1,"cpu_s_per_min":60,"decoded":30,
          "sampled":30,"speedup":1}]}]})");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("fewer than 2 rows"), std::string::npos);
}

}  // namespace
}  // namespace perf
}  // namespace hashmatch
