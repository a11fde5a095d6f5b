// match_load: a gRPC load generator for match_server, and the tool that
// prepares a large store for it.
//
//   # 1. A store with 1M realistic PDQ entries (bench/pdq_code_model.h):
//   match_load --make_store=/tmp/store1m --n=1000000
//   # 2. A server on it (another shell):
//   match_server --db /tmp/store1m --listen 127.0.0.1:50051
//   # 3. Load, per RPC and concurrency level:
//   match_load --server=127.0.0.1:50051 --rpc=hashes,image
//              --concurrency=1,4,16,64 --duration_s=10 IMAGE...
//
// Client. `--client_threads` threads (default 1), each with its own channel
// (its own TCP connection) and completion queue, keep `concurrency` unary
// calls in flight in total (closed loop: a call is re-issued as soon as it
// completes) for `duration_s` seconds per level, after a 1 s warm-up. Each
// level prints calls, RPC/s, p50/p95/p99/max latency in ms and the count of
// every non-OK status code, and CPU microseconds per call of the server
// (srv_us, from /proc/PID/stat with --server_pid) and of this client
// (cli_us): on a shared machine, CPU per call is steadier than RPC/s, and
// 2 cores / (srv_us + cli_us) bounds what an idle 2-core machine can do.
//
// Queries. MatchHashes sends one PDQ hash (with quality 100) per call, from
// a pool of 4096 drawn from the realistic code model (new "images": nearly
// all NO_MATCH, the common case) plus `--hit_percent` near-duplicates of
// stored entries (regenerated from the same seed as --make_store);
// --dihedral=off sets MatchOptions.dihedral = false (default: unset, the
// server's default, on: 8 lookups per hash). MatchImage
// sends the IMAGE files in turn (all read into memory first).
//
// In-process baseline. With `image` in --rpc, the same images are decoded
// and hashed in this process (ImageHasher, pdq+md5+sha256, the server's
// default signals, with the dihedral variants as the server computes them)
// on --baseline_threads threads (default: the CPU count) for duration_s,
// before and after the MatchImage levels, and the best level is reported as
// a percentage of the mean of the two rates.
//
// Videos. --rpc=video sends the --video files (comma-separated, read into
// memory first, at most --max_video_file_bytes each) in turn through
// MatchVideo: a header with total_bytes, then --chunk_bytes chunks (1 MiB,
// as `hashmatch match --video`). Per level, `concurrency` threads (one
// channel each) issue calls back to back until duration_s has passed; every
// call started is waited for (deadline --deadline_s, 600), so a level lasts
// at least one call; after a failed call a thread waits --backoff_ms (100)
// before the next, as a client retrying after RESOURCE_EXHAUSTED would.
// It prints calls (OK and failed), OK calls/s over the level's wall time,
// p50/p99/max latency of OK calls, p50 of failed ones, server CPU ms per
// call (OK or failed), the verdict and error counts
// (with one message per error code), and with --server_pid the server's
// RSS before the level and its peak during it: VmHWM from
// /proc/PID/status, reset before the level through /proc/PID/clear_refs
// (hwm_rst says whether that worked; if not, VmHWM is the peak since the
// server started), and VmRSS sampled every 20 ms.
//
// --json=FILE also writes the levels (and the in-process baseline) as one
// JSON object (bench/bench_json.h): {"levels": [{"rpc", "concurrency",
// "calls", "ok_rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "matches",
// "srv_us" (-1 without --server_pid), "cli_us", "errors"}...],
// "image_baseline": {...}}; MatchVideo levels: {"rpc": "MatchVideo",
// "concurrency", "calls", "seconds", "ok_calls_per_s", "p50_ms", "p99_ms",
// "max_ms", "error_p50_ms", "query_frames", "verdicts": {NAME: count},
// "errors", "srv_cpu_ms_per_call", "rss_before_mib", "rss_peak_mib",
// "rss_sampled_peak_mib", "hwm_reset"} (RSS -1 without --server_pid); with
// --make_store: {"entries", "seconds"}.
//
// Store. --make_store writes `n` ACTIVE PDQ entries (realistic codes, seed
// --seed) through HashStore::Put in batches of 10000 (sync off, one flush
// at close), agency "bench", external ids "bench-<i>".
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_json.h"
#include "bench/pdq_code_model.h"
#include "grpcpp/grpcpp.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using Clock = std::chrono::steady_clock;

std::string StringFlag(int argc, char** argv, const char* name,
                       const std::string& def) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return def;
}

long Flag(int argc, char** argv, const char* name, long def) {
  const std::string v = StringFlag(argc, argv, name, "");
  return v.empty() ? def : std::atol(v.c_str());
}

std::vector<std::string> Positional(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) != 0) out.push_back(argv[i]);
  }
  return out;
}

// Realistic PDQ codes: entry i of a store made with `seed` is Code(i).
class CodeSource {
 public:
  static absl::StatusOr<CodeSource> Make(const std::string& corpus_path,
                                         uint64_t seed) {
    absl::StatusOr<PdqCorpus> corpus = ReadPdqCorpus(corpus_path);
    if (!corpus.ok()) return corpus.status();
    absl::StatusOr<PdqCodeModel> model = PdqCodeModel::Fit(corpus->photos);
    if (!model.ok()) return model.status();
    std::vector<int> td = corpus->transform_distances;
    std::sort(td.begin(), td.end());
    const double median = td.empty() ? 8 : td[td.size() / 2];
    std::mt19937_64 rng(seed ^ 0x5eed);
    const float sigma = model->CalibrateSigma(median, rng);
    return CodeSource(*std::move(model), seed, sigma);
  }

  // The i-th stored code (deterministic in seed and i).
  Hash256 Code(uint64_t i) const {
    std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ull + i);
    std::vector<float> z(PdqCodeModel::kBits);
    model_.SampleLatent(rng, z.data());
    return PdqCodeModel::Threshold(z.data());
  }

  // A near-duplicate of the i-th stored code (a transformed upload).
  Hash256 NearDuplicate(uint64_t i, std::mt19937_64& noise) const {
    std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ull + i);
    std::vector<float> z(PdqCodeModel::kBits), z2(PdqCodeModel::kBits);
    model_.SampleLatent(rng, z.data());
    PdqCodeModel::Perturb(z.data(), sigma_, noise, z2.data());
    return PdqCodeModel::Threshold(z2.data());
  }

  // A new image, not in the store.
  Hash256 Fresh(std::mt19937_64& rng) const {
    std::vector<float> z(PdqCodeModel::kBits);
    model_.SampleLatent(rng, z.data());
    return PdqCodeModel::Threshold(z.data());
  }

 private:
  CodeSource(PdqCodeModel model, uint64_t seed, float sigma)
      : model_(std::move(model)), seed_(seed), sigma_(sigma) {}
  PdqCodeModel model_;
  uint64_t seed_;
  float sigma_;
};

std::string HashBytes(const Hash256& h) {
  return std::string(reinterpret_cast<const char*>(h.bytes().data()),
                     h.bytes().size());
}

int MakeStore(const std::string& dir, uint64_t n, const CodeSource& codes,
              const std::string& json_path) {
  StoreOptions options;
  options.sync = false;
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(options, dir);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(),
                 store.status().ToString().c_str());
    return 1;
  }
  const auto start = Clock::now();
  constexpr uint64_t kBatch = 10000;
  std::vector<v1::Entry> batch;
  for (uint64_t i = 0; i < n; i += kBatch) {
    batch.clear();
    for (uint64_t k = i; k < std::min(n, i + kBatch); ++k) {
      v1::Entry e;
      e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
      e.set_hash(HashBytes(codes.Code(k)));
      e.set_quality(100);
      e.set_source_agency("bench");
      e.set_external_id(absl::StrCat("bench-", k));
      e.set_classification("bench");
      e.set_state(v1::VETTING_STATE_ACTIVE);
      batch.push_back(std::move(e));
    }
    absl::StatusOr<std::vector<v1::Entry>> stored = (*store)->Put(batch);
    if (!stored.ok()) {
      std::fprintf(stderr, "put: %s\n", stored.status().ToString().c_str());
      return 1;
    }
    if ((i / kBatch) % 10 == 0) {
      std::fprintf(stderr, "\r%llu / %llu entries",
                   static_cast<unsigned long long>(i + batch.size()),
                   static_cast<unsigned long long>(n));
    }
  }
  store->reset();  // Flushes.
  std::fprintf(stderr, "\n");
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("store %s: %llu PDQ entries written in %.1f s\n", dir.c_str(),
              static_cast<unsigned long long>(n), seconds);
  if (!json_path.empty() &&
      !bench::WriteJsonFile(json_path,
                            bench::JsonObject()
                                .Int("entries", static_cast<int64_t>(n))
                                .Num("seconds", seconds)
                                .Done())) {
    return 1;
  }
  return 0;
}

// CPU seconds (user + system) of this process.
double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU seconds of process `pid` from /proc/PID/stat; -1 if unreadable.
double ProcessCpuSeconds(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(f, line)) return -1;
  const size_t close = line.rfind(')');  // The command may hold spaces.
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  if (fields.size() < 13) return -1;
  // Fields after the command: state is [0]; utime [11], stime [12].
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) /
         ticks;
}

// One outstanding call of either kind.
struct Call {
  grpc::ClientContext context;
  v1::MatchResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::MatchResponse>> reader;
  Clock::time_point start;
};

struct LevelResult {
  std::vector<float> latencies_ms;  // OK and failed calls.
  std::map<int, int64_t> errors;    // grpc::StatusCode -> count.
  int64_t verdict_match = 0;
  double seconds = 0;
  // CPU seconds over the whole level (warm-up included) and the calls
  // completed in it; server_cpu < 0 without --server_pid.
  double client_cpu = 0;
  double server_cpu = -1;
  int64_t all_calls = 0;
};

struct LoadOptions {
  std::string server;
  std::string token;
  bool image = false;  // MatchImage; else MatchHashes.
  int concurrency = 1;
  int client_threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  long server_pid = 0;  // For the server's CPU time; 0: not measured.
  const std::vector<v1::MatchHashesRequest>* hash_requests = nullptr;
  const std::vector<v1::MatchImageRequest>* image_requests = nullptr;
};

void RunWorker(const LoadOptions& o, int worker, int in_flight,
               Clock::time_point measure_from, Clock::time_point stop,
               LevelResult* out) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt("hashmatch.bench.worker", worker);  // A channel of its own.
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      o.server, grpc::InsecureChannelCredentials(), args);
  std::unique_ptr<v1::MatchService::Stub> stub =
      v1::MatchService::NewStub(channel);
  grpc::CompletionQueue cq;
  size_t next = static_cast<size_t>(worker) * 7919;

  // Each call is heap-allocated, its address the completion tag; it is
  // deleted when it completes.
  auto issue = [&] {
    Call* call = new Call();
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    if (!o.token.empty()) {
      call->context.AddMetadata("authorization", "Bearer " + o.token);
    }
    call->start = Clock::now();
    if (o.image) {
      const auto& reqs = *o.image_requests;
      call->reader = stub->PrepareAsyncMatchImage(
          &call->context, reqs[next++ % reqs.size()], &cq);
    } else {
      const auto& reqs = *o.hash_requests;
      call->reader = stub->PrepareAsyncMatchHashes(
          &call->context, reqs[next++ % reqs.size()], &cq);
    }
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  };

  for (int i = 0; i < in_flight; ++i) issue();
  int outstanding = in_flight;
  while (outstanding > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    const Clock::time_point now = Clock::now();
    ++out->all_calls;
    if (call->start >= measure_from && now <= stop) {
      out->latencies_ms.push_back(
          std::chrono::duration<float, std::milli>(now - call->start).count());
      if (!call->status.ok()) {
        ++out->errors[call->status.error_code()];
      } else if (call->response.verdict() == v1::VERDICT_MATCH) {
        ++out->verdict_match;
      }
    }
    if (now < stop) {
      issue();
    } else {
      --outstanding;
    }
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

LevelResult RunLevel(const LoadOptions& o) {
  const double client_cpu0 = SelfCpuSeconds();
  const double server_cpu0 = ProcessCpuSeconds(o.server_pid);
  const int threads = std::max(1, std::min(o.client_threads, o.concurrency));
  const Clock::time_point begin = Clock::now();
  const auto warm = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(o.warmup_s));
  const auto run = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(o.duration_s));
  const Clock::time_point measure_from = begin + warm;
  const Clock::time_point stop = measure_from + run;
  std::vector<LevelResult> parts(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int in_flight =
        o.concurrency / threads + (t < o.concurrency % threads ? 1 : 0);
    workers.emplace_back(RunWorker, std::cref(o), t, in_flight, measure_from,
                         stop, &parts[t]);
  }
  for (std::thread& w : workers) w.join();
  LevelResult all;
  for (LevelResult& p : parts) {
    all.latencies_ms.insert(all.latencies_ms.end(), p.latencies_ms.begin(),
                            p.latencies_ms.end());
    for (const auto& [code, n] : p.errors) all.errors[code] += n;
    all.verdict_match += p.verdict_match;
    all.all_calls += p.all_calls;
  }
  all.seconds = o.duration_s;
  all.client_cpu = SelfCpuSeconds() - client_cpu0;
  const double server_cpu1 = ProcessCpuSeconds(o.server_pid);
  if (server_cpu0 >= 0 && server_cpu1 >= 0) {
    all.server_cpu = server_cpu1 - server_cpu0;
  }
  return all;
}

double Percentile(const std::vector<float>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t k = std::min(sorted.size() - 1,
                            static_cast<size_t>(p / 100.0 * sorted.size()));
  return sorted[k];
}

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// "CODE=n,CODE=n" of the error counts by grpc::StatusCode ("" when none);
// their sum in *total.
std::string ErrorSummary(const std::map<int, int64_t>& errors, int64_t* total) {
  std::string text;
  *total = 0;
  for (const auto& [code, n] : errors) {
    *total += n;
    absl::StrAppend(&text, text.empty() ? "" : ",", CodeName(code), "=", n);
  }
  return text;
}

// Prints one level and appends it to `json`; returns its RPC/s (OK calls
// only).
double PrintLevel(const char* rpc, int concurrency, LevelResult& r,
                  std::vector<std::string>* json) {
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  int64_t errors = 0;
  const std::string error_text = ErrorSummary(r.errors, &errors);
  const int64_t calls = static_cast<int64_t>(r.latencies_ms.size());
  const double qps = static_cast<double>(calls - errors) / r.seconds;
  const double n = static_cast<double>(std::max<int64_t>(1, r.all_calls));
  const double client_us = 1e6 * r.client_cpu / n;
  const double server_us = r.server_cpu < 0 ? -1 : 1e6 * r.server_cpu / n;
  std::printf(
      "%-11s %5d %9lld %10.0f %8.2f %8.2f %8.2f %8.2f %7lld %9.0f %9.0f  "
      "%s\n",
      rpc, concurrency, static_cast<long long>(calls), qps,
      Percentile(r.latencies_ms, 50), Percentile(r.latencies_ms, 95),
      Percentile(r.latencies_ms, 99),
      r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back(),
      static_cast<long long>(r.verdict_match), server_us, client_us,
      error_text.empty() ? "-" : error_text.c_str());
  std::fflush(stdout);
  json->push_back(
      bench::JsonObject()
          .Str("rpc", rpc)
          .Int("concurrency", concurrency)
          .Int("calls", calls)
          .Num("ok_rps", qps)
          .Num("p50_ms", Percentile(r.latencies_ms, 50))
          .Num("p95_ms", Percentile(r.latencies_ms, 95))
          .Num("p99_ms", Percentile(r.latencies_ms, 99))
          .Num("max_ms", r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back())
          .Int("matches", r.verdict_match)
          .Num("srv_us", server_us)
          .Num("cli_us", client_us)
          .Int("errors", errors)
          .Done());
  return qps;
}

// Images decoded+hashed per second in this process on `threads` threads;
// *cpu_us gets the CPU microseconds per image.
double InProcessRate(const std::vector<std::string>& images, int threads,
                     double seconds, double* cpu_us) {
  const double cpu0 = SelfCpuSeconds();
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  const Clock::time_point stop =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      static constexpr Algorithm kAlgos[] = {Algorithm::kPdq, Algorithm::kMd5,
                                             Algorithm::kSha256};
      ImageHasher hasher;
      HashOptions options;
      options.dihedral = true;  // As the server does by default.
      size_t i = static_cast<size_t>(t) * 7919;
      while (Clock::now() < stop) {
        if (!hasher.HashBytes(images[i++ % images.size()], kAlgos, options)
                 .ok()) {
          failed = true;
        }
        ++done;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (failed) std::fprintf(stderr, "warning: some image failed to hash\n");
  *cpu_us = 1e6 * (SelfCpuSeconds() - cpu0) /
            static_cast<double>(std::max<int64_t>(1, done.load()));
  return static_cast<double>(done.load()) / seconds;
}

// Resident set of process `pid` from /proc/PID/status, in KiB: VmRSS (now)
// and VmHWM (peak since start or the last ResetPeakRss); -1 if unreadable.
struct RssKib {
  long rss = -1;
  long hwm = -1;
};

RssKib ReadRss(long pid) {
  RssKib out;
  if (pid <= 0) return out;
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.rss = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) out.hwm = std::atol(line.c_str() + 6);
  }
  return out;
}

// Resets VmHWM of `pid` to its current RSS (writing 5 to clear_refs; Linux
// 4.0+, needs the right to ptrace it). Returns whether it did.
bool ResetPeakRss(long pid) {
  if (pid <= 0) return false;
  std::ofstream f(absl::StrCat("/proc/", pid, "/clear_refs"));
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

struct VideoLevelResult {
  std::vector<float> latencies_ms;           // OK calls.
  std::vector<float> error_latencies_ms;     // Failed calls.
  std::map<int, int64_t> verdicts;           // v1::Verdict -> count (OK calls).
  std::map<int, int64_t> errors;             // grpc::StatusCode -> count.
  std::map<int, std::string> error_example;  // A message per code.
  int64_t query_frames = -1;                 // Of the first OK response.
  double seconds = 0;  // From the first call to the last completion.
  double client_cpu = 0;
  double server_cpu = -1;
  RssKib before;       // Just before the level (after the VmHWM reset).
  long peak_kib = -1;  // Max of VmHWM after and the sampled VmRSS.
  long sampled_peak_kib = -1;
  bool hwm_reset = false;
};

// One MatchVideo call: the header (with total_bytes), then `bytes` in
// `chunk_bytes` chunks, as `hashmatch match --video` sends them.
grpc::Status CallVideo(v1::MatchService::Stub& stub, const std::string& token,
                       double deadline_s, const std::string& bytes,
                       size_t chunk_bytes, v1::MatchVideoResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(1000 * deadline_s)));
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoRequest>> writer =
      stub.MatchVideo(&context, response);
  v1::MatchVideoRequest request;
  request.mutable_header()->set_content_ref("match_load");
  request.mutable_header()->set_total_bytes(static_cast<int64_t>(bytes.size()));
  bool ok = writer->Write(request);
  for (size_t at = 0; ok && at < bytes.size(); at += chunk_bytes) {
    request.set_chunk(bytes.substr(at, chunk_bytes));
    ok = writer->Write(request);
  }
  writer->WritesDone();
  return writer->Finish();
}

// `concurrency` threads, each with its own channel, each issuing MatchVideo
// calls back to back (closed loop) until `duration_s` has passed since the
// level began; every call started is counted and waited for.
VideoLevelResult RunVideoLevel(const LoadOptions& o,
                               const std::vector<std::string>& videos,
                               size_t chunk_bytes, double deadline_s,
                               long backoff_ms) {
  VideoLevelResult all;
  all.hwm_reset = ResetPeakRss(o.server_pid);
  all.before = ReadRss(o.server_pid);
  const double client_cpu0 = SelfCpuSeconds();
  const double server_cpu0 = ProcessCpuSeconds(o.server_pid);
  std::atomic<bool> sampling{true};
  std::atomic<long> sampled_peak{all.before.rss};
  std::thread sampler([&] {
    while (sampling.load()) {
      const long rss = ReadRss(o.server_pid).rss;
      if (rss > sampled_peak.load()) sampled_peak = rss;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const Clock::time_point begin = Clock::now();
  const Clock::time_point stop =
      begin + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(o.duration_s));
  std::vector<VideoLevelResult> parts(o.concurrency);
  std::vector<std::thread> workers;
  for (int t = 0; t < o.concurrency; ++t) {
    workers.emplace_back([&, t] {
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(-1);
      args.SetMaxReceiveMessageSize(-1);
      args.SetInt("hashmatch.bench.worker", t);  // A channel of its own.
      std::unique_ptr<v1::MatchService::Stub> stub =
          v1::MatchService::NewStub(grpc::CreateCustomChannel(
              o.server, grpc::InsecureChannelCredentials(), args));
      VideoLevelResult& out = parts[t];
      for (size_t i = static_cast<size_t>(t); Clock::now() < stop; ++i) {
        v1::MatchVideoResponse response;
        const Clock::time_point start = Clock::now();
        const grpc::Status status =
            CallVideo(*stub, o.token, deadline_s, videos[i % videos.size()],
                      chunk_bytes, &response);
        const float ms =
            std::chrono::duration<float, std::milli>(Clock::now() - start)
                .count();
        (status.ok() ? out.latencies_ms : out.error_latencies_ms).push_back(ms);
        if (status.ok()) {
          ++out.verdicts[response.verdict()];
          if (out.query_frames < 0) out.query_frames = response.query_frames();
        } else {
          ++out.errors[status.error_code()];
          out.error_example.emplace(status.error_code(),
                                    status.error_message());
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  all.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  sampling = false;
  sampler.join();
  for (VideoLevelResult& p : parts) {
    all.latencies_ms.insert(all.latencies_ms.end(), p.latencies_ms.begin(),
                            p.latencies_ms.end());
    all.error_latencies_ms.insert(all.error_latencies_ms.end(),
                                  p.error_latencies_ms.begin(),
                                  p.error_latencies_ms.end());
    for (const auto& [v, n] : p.verdicts) all.verdicts[v] += n;
    for (const auto& [code, n] : p.errors) all.errors[code] += n;
    for (const auto& [code, m] : p.error_example) {
      all.error_example.emplace(code, m);
    }
    if (all.query_frames < 0) all.query_frames = p.query_frames;
  }
  all.client_cpu = SelfCpuSeconds() - client_cpu0;
  const double server_cpu1 = ProcessCpuSeconds(o.server_pid);
  if (server_cpu0 >= 0 && server_cpu1 >= 0) {
    all.server_cpu = server_cpu1 - server_cpu0;
  }
  all.sampled_peak_kib = sampled_peak.load();
  all.peak_kib = std::max(all.sampled_peak_kib, ReadRss(o.server_pid).hwm);
  return all;
}

double Mib(long kib) { return kib < 0 ? -1 : static_cast<double>(kib) / 1024; }

// Prints one MatchVideo level and appends it to `json`.
void PrintVideoLevel(int concurrency, VideoLevelResult& r,
                     std::vector<std::string>* json) {
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  std::sort(r.error_latencies_ms.begin(), r.error_latencies_ms.end());
  const int64_t ok_calls = static_cast<int64_t>(r.latencies_ms.size());
  const int64_t calls =
      ok_calls + static_cast<int64_t>(r.error_latencies_ms.size());
  int64_t errors = 0;
  const std::string error_text = ErrorSummary(r.errors, &errors);
  std::string verdict_text;
  bench::JsonObject verdicts;
  for (const auto& [v, n] : r.verdicts) {
    std::string name = v1::Verdict_Name(static_cast<v1::Verdict>(v));
    if (name.rfind("VERDICT_", 0) == 0) name = name.substr(8);
    absl::StrAppend(&verdict_text, verdict_text.empty() ? "" : ",", name, "=",
                    n);
    verdicts.Int(name, n);
  }
  const double ok_rate = static_cast<double>(ok_calls) / r.seconds;
  const double n = static_cast<double>(std::max<int64_t>(1, calls));
  const double server_ms = r.server_cpu < 0 ? -1 : 1e3 * r.server_cpu / n;
  std::printf(
      "%-10s %5d %6lld %7.1f %9.3f %9.0f %9.0f %9.0f %8.0f %10.0f %10.1f "
      "%9.1f %7s  %s  %s\n",
      "MatchVideo", concurrency, static_cast<long long>(calls), r.seconds,
      ok_rate, Percentile(r.latencies_ms, 50), Percentile(r.latencies_ms, 99),
      r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back(),
      Percentile(r.error_latencies_ms, 50), server_ms, Mib(r.before.rss),
      Mib(r.peak_kib), r.hwm_reset ? "yes" : "no",
      verdict_text.empty() ? "-" : verdict_text.c_str(),
      error_text.empty() ? "-" : error_text.c_str());
  for (const auto& [code, m] : r.error_example) {
    std::printf("  %s: %s\n", CodeName(code).c_str(), m.c_str());
  }
  std::fflush(stdout);
  json->push_back(
      bench::JsonObject()
          .Str("rpc", "MatchVideo")
          .Int("concurrency", concurrency)
          .Int("calls", calls)
          .Num("seconds", r.seconds)
          .Num("ok_calls_per_s", ok_rate)
          .Num("p50_ms", Percentile(r.latencies_ms, 50))
          .Num("p99_ms", Percentile(r.latencies_ms, 99))
          .Num("max_ms", r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back())
          .Num("error_p50_ms", Percentile(r.error_latencies_ms, 50))
          .Int("query_frames", r.query_frames)
          .Raw("verdicts", verdicts.Done())
          .Int("errors", errors)
          .Num("srv_cpu_ms_per_call", server_ms)
          .Num("rss_before_mib", Mib(r.before.rss))
          .Num("rss_peak_mib", Mib(r.peak_kib))
          .Num("rss_sampled_peak_mib", Mib(r.sampled_peak_kib))
          .Int("hwm_reset", r.hwm_reset ? 1 : 0)
          .Done());
}

int Main(int argc, char** argv) {
  const std::string corpus =
      StringFlag(argc, argv, "corpus", HASHMATCH_DEFAULT_CORPUS);
  const uint64_t seed = static_cast<uint64_t>(Flag(argc, argv, "seed", 1));
  const std::string make_store = StringFlag(argc, argv, "make_store", "");
  const std::string json_path = StringFlag(argc, argv, "json", "");
  absl::StatusOr<CodeSource> codes = CodeSource::Make(corpus, seed);
  if (!codes.ok()) {
    std::fprintf(stderr, "code model from %s: %s\n", corpus.c_str(),
                 codes.status().ToString().c_str());
    return 1;
  }
  if (!make_store.empty()) {
    return MakeStore(make_store,
                     static_cast<uint64_t>(Flag(argc, argv, "n", 1000000)),
                     *codes, json_path);
  }

  LoadOptions base;
  base.server = StringFlag(argc, argv, "server", "");
  if (base.server.empty()) {
    std::fprintf(stderr,
                 "usage: match_load --make_store=DIR [--n=1000000]"
                 " [--json=FILE]\n"
                 "       match_load --server=HOST:PORT [--rpc=hashes,image]"
                 " [--concurrency=1,4,16,64] [--duration_s=10]"
                 " [--client_threads=1] [--hit_percent=1]"
                 " [--store_n=1000000] [--baseline_threads=N] [--token=T]"
                 " [--dihedral=server|off] [--server_pid=PID] [--json=FILE]"
                 " IMAGE...\n"
                 "       match_load --server=HOST:PORT --rpc=video"
                 " --video=FILE[,FILE] [--concurrency=1,4,8]"
                 " [--duration_s=10] [--chunk_bytes=1048576]"
                 " [--deadline_s=600] [--backoff_ms=100]"
                 " [--max_video_file_bytes=1073741824]"
                 " [--server_pid=PID] [--token=T] [--json=FILE]\n");
    return 2;
  }
  base.token = StringFlag(argc, argv, "token", "");
  base.server_pid = Flag(argc, argv, "server_pid", 0);
  base.duration_s = std::max(
      0.5, std::atof(StringFlag(argc, argv, "duration_s", "10").c_str()));
  base.client_threads =
      static_cast<int>(std::max(1L, Flag(argc, argv, "client_threads", 1)));
  std::vector<int> levels;
  for (absl::string_view s : absl::StrSplit(
           StringFlag(argc, argv, "concurrency", "1,4,16,64"), ',')) {
    levels.push_back(std::max(1, std::atoi(std::string(s).c_str())));
  }
  const std::vector<std::string> rpcs =
      absl::StrSplit(StringFlag(argc, argv, "rpc", "hashes,image"), ',');

  // MatchHashes queries.
  const long hit_percent = Flag(argc, argv, "hit_percent", 1);
  const uint64_t store_n =
      static_cast<uint64_t>(Flag(argc, argv, "store_n", 1000000));
  // "server" leaves MatchOptions.dihedral unset (the server default: on);
  // "off" asks for the hash alone (one search instead of eight).
  const std::string dihedral = StringFlag(argc, argv, "dihedral", "server");
  std::vector<v1::MatchHashesRequest> hash_requests;
  std::mt19937_64 rng(seed + 17);
  for (int i = 0; i < 4096; ++i) {
    const bool hit = static_cast<long>(rng() % 100) < hit_percent;
    const Hash256 h =
        hit ? codes->NearDuplicate(rng() % store_n, rng) : codes->Fresh(rng);
    v1::MatchHashesRequest r;
    v1::QueryHash* q = r.add_hashes();
    q->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    q->set_raw(HashBytes(h));
    q->set_quality(100);
    if (dihedral == "off") r.mutable_options()->set_dihedral(false);
    hash_requests.push_back(std::move(r));
  }
  // MatchImage payloads.
  std::vector<std::string> images;
  std::vector<v1::MatchImageRequest> image_requests;
  for (const std::string& path : Positional(argc, argv)) {
    absl::StatusOr<std::string> bytes = ReadFileToString(path, 64 << 20);
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(),
                   bytes.status().ToString().c_str());
      return 1;
    }
    images.push_back(*bytes);
    v1::MatchImageRequest r;
    r.set_image(*std::move(bytes));
    image_requests.push_back(std::move(r));
  }
  base.hash_requests = &hash_requests;
  base.image_requests = &image_requests;
  // MatchVideo payloads.
  std::vector<std::string> videos;
  const std::string video_list = StringFlag(argc, argv, "video", "");
  const long max_video_file_bytes =
      Flag(argc, argv, "max_video_file_bytes", 1L << 30);
  if (!video_list.empty()) {
    for (absl::string_view path :
         absl::StrSplit(video_list, ',', absl::SkipEmpty())) {
      absl::StatusOr<std::string> bytes = ReadFileToString(
          std::string(path), static_cast<size_t>(max_video_file_bytes));
      if (!bytes.ok()) {
        std::fprintf(stderr, "%s: %s\n", std::string(path).c_str(),
                     bytes.status().ToString().c_str());
        return 1;
      }
      videos.push_back(*std::move(bytes));
    }
  }
  const size_t chunk_bytes = static_cast<size_t>(
      std::max(1L, Flag(argc, argv, "chunk_bytes", 1 << 20)));
  const long video_backoff_ms =
      std::max(0L, Flag(argc, argv, "backoff_ms", 100));
  const double video_deadline_s = std::max(
      1.0, std::atof(StringFlag(argc, argv, "deadline_s", "600").c_str()));

  const bool unary =
      std::any_of(rpcs.begin(), rpcs.end(),
                  [](const std::string& r) { return r != "video"; });
  if (unary) {
    std::printf(
        "# server %s, %d client thread(s), %.1f s per level (+1 s warm-up), "
        "dihedral %s, %d images\n",
        base.server.c_str(), base.client_threads, base.duration_s,
        dihedral.c_str(), static_cast<int>(images.size()));
    std::printf("%-11s %5s %9s %10s %8s %8s %8s %8s %7s %9s %9s  %s\n", "rpc",
                "conc", "calls", "ok_rpc/s", "p50_ms", "p95_ms", "p99_ms",
                "max_ms", "matches", "srv_us", "cli_us", "errors");
  }
  std::vector<std::string> json_levels;
  bench::JsonObject json;
  for (const std::string& rpc : rpcs) {
    if (rpc == "video") {
      if (videos.empty()) {
        std::fprintf(stderr, "--rpc=video needs --video=FILE[,FILE]\n");
        return 2;
      }
      int64_t video_bytes = 0;
      for (const std::string& v : videos) video_bytes += v.size();
      std::printf(
          "# MatchVideo: %d video(s), %.1f MiB in all, %zu-byte chunks, "
          "server pid %ld (RSS in MiB; peak = max of VmHWM after a reset and "
          "VmRSS sampled every 20 ms)\n",
          static_cast<int>(videos.size()),
          static_cast<double>(video_bytes) / (1 << 20), chunk_bytes,
          base.server_pid);
      std::printf(
          "%-10s %5s %6s %7s %9s %9s %9s %9s %8s %10s %10s %9s %7s  %s  %s\n",
          "rpc", "conc", "calls", "secs", "ok_call/s", "p50_ms", "p99_ms",
          "max_ms", "err_p50", "srv_cpu_ms", "rss_before", "rss_peak",
          "hwm_rst", "verdicts", "errors");
      for (int c : levels) {
        LoadOptions o = base;
        o.concurrency = c;
        VideoLevelResult r = RunVideoLevel(o, videos, chunk_bytes,
                                           video_deadline_s, video_backoff_ms);
        PrintVideoLevel(c, r, &json_levels);
      }
      continue;
    }
    const bool image = rpc == "image";
    if (!image && rpc != "hashes") {
      std::fprintf(stderr, "--rpc takes hashes, image and/or video\n");
      return 2;
    }
    if (image && images.empty()) {
      std::fprintf(stderr, "--rpc=image needs IMAGE files\n");
      return 2;
    }
    const long hw = static_cast<long>(std::thread::hardware_concurrency());
    const int baseline_threads = static_cast<int>(
        std::max(1L, Flag(argc, argv, "baseline_threads", hw)));
    // The baseline runs before and after the levels (the machine is shared:
    // the mean of the two is compared).
    double cpu_before = 0, cpu_after = 0;
    const double rate_before = image
                                   ? InProcessRate(images, baseline_threads,
                                                   base.duration_s, &cpu_before)
                                   : 0;
    double best = 0;
    for (int c : levels) {
      LoadOptions o = base;
      o.image = image;
      o.concurrency = c;
      LevelResult r = RunLevel(o);
      best = std::max(best, PrintLevel(image ? "MatchImage" : "MatchHashes", c,
                                       r, &json_levels));
    }
    if (image) {
      const double rate_after =
          InProcessRate(images, baseline_threads, base.duration_s, &cpu_after);
      const double rate = (rate_before + rate_after) / 2;
      std::printf(
          "in-process decode+hash (pdq+dihedral, md5, sha256), %d threads: "
          "%.1f images/s before, %.1f after, mean %.1f; best MatchImage "
          "level %.1f RPC/s = %.0f%% of the mean; CPU per image in process "
          "%.0f / %.0f us (before / after)\n",
          baseline_threads, rate_before, rate_after, rate, best,
          rate > 0 ? 100.0 * best / rate : 0.0, cpu_before, cpu_after);
      json.Raw("image_baseline", bench::JsonObject()
                                     .Int("threads", baseline_threads)
                                     .Num("images_per_s_before", rate_before)
                                     .Num("images_per_s_after", rate_after)
                                     .Num("images_per_s_mean", rate)
                                     .Num("best_image_rps", best)
                                     .Num("percent_of_in_process",
                                          rate > 0 ? 100.0 * best / rate : 0.0)
                                     .Num("cpu_us_per_image_before", cpu_before)
                                     .Num("cpu_us_per_image_after", cpu_after)
                                     .Done());
    }
  }
  json.Str("server", base.server)
      .Num("duration_s", base.duration_s)
      .Int("client_threads", base.client_threads)
      .Str("dihedral", dihedral)
      .Int("images", static_cast<int64_t>(images.size()))
      .Raw("levels", bench::JsonArray(json_levels));
  if (!json_path.empty() && !bench::WriteJsonFile(json_path, json.Done())) {
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
