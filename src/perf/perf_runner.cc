#include "src/perf/perf_runner.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/perf/process.h"

namespace hashmatch {
namespace perf {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResultBytes = 16 << 20;

// A fresh directory removed (with its contents) by the destructor.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Make(std::string root) {
    if (root.empty()) {
      const char* env = std::getenv("TMPDIR");
      root = env != nullptr && *env != '\0' ? env : "/tmp";
    }
    std::string tmpl = root + "/hashmatch_eval_perf_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot create a temporary directory in ", root));
    }
    return std::unique_ptr<TempDir>(new TempDir(tmpl));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

std::string BuildHint(absl::string_view target) {
  return absl::StrCat("build it with: cmake --build build --target ", target,
                      " (the benchmarks need -DHASHMATCH_BUILD_BENCH=ON, the "
                      "default), or point --bench_dir at the build's bench/ "
                      "directory");
}

class Runner {
 public:
  Runner(const PerfOptions& options, std::string work)
      : o_(options), work_(std::move(work)) {
    char buf[4096];
    if (getcwd(buf, sizeof(buf)) != nullptr) cwd_ = buf;
  }

  void Progress(absl::string_view line) const {
    if (o_.progress) o_.progress(line);
  }

  // The path of bench binary `name`, or NOT_FOUND naming it.
  absl::StatusOr<std::string> Binary(absl::string_view name) const {
    const std::string path = absl::StrCat(o_.bench_dir, "/", name);
    if (access(path.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(
          "benchmark ", name, " not found at ", path, ": ", BuildHint(name)));
    }
    return path;
  }

  // For the report: the work directory as $WORK (outside quotes, so the
  // line still runs in a shell that sets WORK), the current directory
  // dropped from paths under it.
  std::string Display(const std::vector<std::string>& argv) const {
    constexpr char kWork = '\x01';
    std::vector<std::string> shown;
    for (std::string a : argv) {
      size_t at;
      while (!work_.empty() && (at = a.find(work_)) != std::string::npos) {
        a.replace(at, work_.size(), 1, kWork);
      }
      if (!cwd_.empty() && cwd_ != "/") {
        const std::string prefix = cwd_ + "/";
        while ((at = a.find(prefix)) != std::string::npos) {
          a.erase(at, prefix.size());
        }
      }
      std::string probe = a;
      std::replace(probe.begin(), probe.end(), kWork, 'W');
      std::string quoted;
      if (ShellQuote({probe}) != probe) {
        quoted.push_back('"');
        for (const char c : a) {
          if (c == '"' || c == '\\' || c == '$' || c == '`') {
            quoted.push_back('\\');
          }
          quoted.push_back(c);
        }
        quoted.push_back('"');
      } else {
        quoted = a;
      }
      std::string out;
      for (const char c : quoted) {
        if (c == kWork) {
          out += "$WORK";
        } else {
          out += c;
        }
      }
      shown.push_back(std::move(out));
    }
    return absl::StrJoin(shown, " ");
  }

  // Runs argv to completion; a non-zero exit is an error with its stderr.
  absl::StatusOr<ProcessResult> Run(const std::string& name,
                                    const std::vector<std::string>& argv,
                                    PerfReport* report) {
    Progress(absl::StrCat(name, ": ", Display(argv)));
    ProcessOptions po;
    po.timeout = o_.timeout;
    po.cancel = o_.cancel;
    absl::StatusOr<ProcessResult> r = RunProcess(argv, po);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat(name, ": ", r.status().message()));
    }
    if (r->exit_code != 0) {
      return absl::InternalError(
          absl::StrCat(name, ": ", argv[0], " exited with status ",
                       r->exit_code, StderrNote(r->err_tail)));
    }
    report->runs.push_back({name, Display(argv), r->wall_seconds});
    Progress(absl::StrCat(name, ": done in ",
                          absl::StrFormat("%.1f", r->wall_seconds), " s"));
    return r;
  }

  absl::StatusOr<std::string> ReadResult(const std::string& name,
                                         const std::string& path) const {
    absl::StatusOr<std::string> text = ReadFileToString(path, kMaxResultBytes);
    if (!text.ok()) {
      return absl::InternalError(absl::StrCat(name, ": no result file ", path,
                                              ": ", text.status().message()));
    }
    return text;
  }

  // Every program the chosen benchmarks need, before anything runs.
  absl::Status CheckBinaries() const {
    for (const std::string& b : o_.benchmarks) {
      if (b == "hashing") RETURN_IF_ERROR(Binary("hashing_benchmark").status());
      if (b == "index") RETURN_IF_ERROR(Binary("index_benchmark").status());
      if (b == "video") RETURN_IF_ERROR(Binary("video_hash_bench").status());
      if (b == "rpc") {
        RETURN_IF_ERROR(Binary("match_load").status());
        if (access(o_.match_server.c_str(), X_OK) != 0) {
          return absl::NotFoundError(
              absl::StrCat("match_server not found at ", o_.match_server,
                           ": build it with: cmake --build build --target "
                           "match_server, or give --match_server PATH"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Hashing(PerfReport* report) {
    ASSIGN_OR_RETURN(const std::string bin, Binary("hashing_benchmark"));
    const std::string out = work_ + "/hashing.json";
    RETURN_IF_ERROR(
        Run("hashing",
            {bin, "--benchmark_filter=" + o_.hashing_filter,
             absl::StrCat("--benchmark_min_time=", o_.hashing_min_time),
             "--benchmark_out=" + out, "--benchmark_out_format=json"},
            report)
            .status());
    ASSIGN_OR_RETURN(const std::string text, ReadResult("hashing", out));
    ASSIGN_OR_RETURN(const std::vector<GbRun> runs,
                     ParseGoogleBenchmarkJson(text));
    HashingResult h = HashingFromRuns(runs);
    if (h.pdq.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hashing: no PdqHash/optimized benchmark matched the filter '",
          o_.hashing_filter, "'"));
    }
    report->hashing = std::move(h);
    return absl::OkStatus();
  }

  absl::Status Index(PerfReport* report) {
    ASSIGN_OR_RETURN(const std::string bin, Binary("index_benchmark"));
    const std::string out = work_ + "/index.json";
    RETURN_IF_ERROR(
        Run("index",
            {bin, absl::StrCat("--n=", o_.index_n), "--codes=" + o_.index_codes,
             absl::StrCat("--queries=", o_.index_queries),
             absl::StrCat("--faiss_queries=", o_.index_faiss_queries),
             "--json=" + out},
            report)
            .status());
    ASSIGN_OR_RETURN(const std::string text, ReadResult("index", out));
    ASSIGN_OR_RETURN(IndexResult x, ParseIndexJson(text));
    report->index = std::move(x);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> Images() const {
    std::vector<std::string> images;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator(o_.images_dir, ec)) {
      const std::string p = e.path().string();
      if (e.is_regular_file() && absl::EndsWithIgnoreCase(p, ".jpg")) {
        images.push_back(p);
      }
    }
    if (images.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "rpc: no .jpg photos in ", o_.images_dir,
          " for MatchImage (apt-get install mate-backgrounds, or --images "
          "DIR)"));
    }
    std::sort(images.begin(), images.end());
    if (images.size() > static_cast<size_t>(o_.max_images)) {
      images.resize(static_cast<size_t>(o_.max_images));
    }
    return images;
  }

  // Polls until the server's port file names a port and its health check
  // says SERVING; returns the port.
  absl::StatusOr<int> WaitServing(BackgroundProcess* server,
                                  const std::string& port_file,
                                  const std::string& log) {
    const Clock::time_point deadline =
        Clock::now() + absl::ToChronoNanoseconds(o_.timeout);
    auto cancelled = [this] {
      return o_.cancel != nullptr && o_.cancel->load();
    };
    auto died = [&]() {
      absl::StatusOr<std::string> text = ReadFileToString(log, 64 << 20);
      return absl::InternalError(absl::StrCat(
          "rpc: match_server exited before serving; its log ends with:\n",
          TailLines(text.ok() ? *text : "", 20)));
    };
    int port = 0;
    while (port == 0) {
      if (!server->Running()) return died();
      if (cancelled()) return absl::CancelledError("rpc: cancelled");
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(
            "rpc: match_server wrote no port file in time");
      }
      absl::StatusOr<std::string> text = ReadFileToString(port_file, 64);
      if (text.ok() &&
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port)) {
        port = 0;
      }
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                       grpc::InsecureChannelCredentials());
    auto stub = grpc::health::v1::Health::NewStub(channel);
    while (true) {
      if (!server->Running()) return died();
      if (cancelled()) return absl::CancelledError("rpc: cancelled");
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(
            "rpc: match_server did not turn SERVING in time");
      }
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(1));
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      if (stub->Check(&context, request, &response).ok() &&
          response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return port;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  absl::Status Rpc(PerfReport* report) {
    ASSIGN_OR_RETURN(const std::string bin, Binary("match_load"));
    ASSIGN_OR_RETURN(const std::vector<std::string> images, Images());
    const std::string store = work_ + "/store";
    const std::string store_json = work_ + "/store.json";
    RETURN_IF_ERROR(
        Run("rpc: make store",
            {bin, "--make_store=" + store, absl::StrCat("--n=", o_.rpc_store_n),
             "--json=" + store_json},
            report)
            .status());
    ASSIGN_OR_RETURN(const std::string store_text,
                     ReadResult("rpc: make store", store_json));
    ASSIGN_OR_RETURN(StoreResult made, ParseMakeStoreJson(store_text));
    report->store = made;

    const std::string port_file = work_ + "/port";
    const std::string log = work_ + "/match_server.log";
    const std::vector<std::string> server_argv = {o_.match_server,
                                                  "--db",
                                                  store,
                                                  "--listen",
                                                  "127.0.0.1:0",
                                                  "--port_file",
                                                  port_file,
                                                  "--metrics_listen",
                                                  ""};
    Progress(absl::StrCat("rpc: ", Display(server_argv)));
    const Clock::time_point start = Clock::now();
    ASSIGN_OR_RETURN(std::unique_ptr<BackgroundProcess> server,
                     BackgroundProcess::Start(server_argv, log));
    ASSIGN_OR_RETURN(const int port, WaitServing(server.get(), port_file, log));
    report->runs.push_back(
        {"rpc: match_server to SERVING", Display(server_argv),
         std::chrono::duration<double>(Clock::now() - start).count()});
    const std::string address = absl::StrCat("127.0.0.1:", port);
    const std::string pid = absl::StrCat("--server_pid=", server->pid());
    LoadResult all;
    for (const bool image : {false, true}) {
      const std::string out =
          absl::StrCat(work_, "/load_", image ? "image" : "hashes", ".json");
      std::vector<std::string> argv = {
          bin,
          "--server=" + address,
          pid,
          image ? "--rpc=image" : "--rpc=hashes",
          "--concurrency=" +
              (image ? o_.image_concurrency : o_.hashes_concurrency),
          absl::StrCat("--duration_s=", o_.rpc_seconds),
          absl::StrCat("--store_n=", o_.rpc_store_n),
          "--json=" + out};
      if (image) argv.insert(argv.end(), images.begin(), images.end());
      RETURN_IF_ERROR(
          Run(image ? "rpc: MatchImage" : "rpc: MatchHashes", argv, report)
              .status());
      ASSIGN_OR_RETURN(const std::string text, ReadResult("rpc", out));
      ASSIGN_OR_RETURN(LoadResult part, ParseMatchLoadJson(text));
      all.duration_s = part.duration_s;
      all.levels.insert(all.levels.end(), part.levels.begin(),
                        part.levels.end());
      if (part.image_baseline.has_value()) {
        all.image_baseline = part.image_baseline;
      }
    }
    ASSIGN_OR_RETURN(const int code, server->Stop(SIGTERM, absl::Seconds(30)));
    if (code != 0) {
      absl::StatusOr<std::string> text = ReadFileToString(log, 64 << 20);
      return absl::InternalError(
          absl::StrCat("rpc: match_server exited with status ", code,
                       " after SIGTERM; its log ends with:\n",
                       TailLines(text.ok() ? *text : "", 20)));
    }
    report->load = std::move(all);
    return absl::OkStatus();
  }

  absl::Status Video(PerfReport* report) {
    ASSIGN_OR_RETURN(const std::string bin, Binary("video_hash_bench"));
    const std::string out = work_ + "/video.json";
    std::string dir = o_.video_dir;
    if (dir.empty()) {
      dir = work_ + "/clips";
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
    }
    RETURN_IF_ERROR(
        Run("video",
            {bin, "--dir", dir, "--seconds", absl::StrCat(o_.video_seconds),
             "--clips", o_.video_clips, "--modes", "defaults", "--repeats",
             absl::StrCat(o_.video_repeats), "--json", out},
            report)
            .status());
    ASSIGN_OR_RETURN(const std::string text, ReadResult("video", out));
    ASSIGN_OR_RETURN(VideoResult x, ParseVideoJson(text));
    report->video = std::move(x);
    return absl::OkStatus();
  }

 private:
  const PerfOptions& o_;
  std::string work_;
  std::string cwd_;
};

}  // namespace

std::string ShellQuote(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (const std::string& a : argv) {
    if (!a.empty() &&
        a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                            "XYZ0123456789-_./=:,+@%") == std::string::npos) {
      out.push_back(a);
      continue;
    }
    std::string q = "'";
    for (char c : a) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    out.push_back(q + "'");
  }
  return absl::StrJoin(out, " ");
}

PerfOptions QuickOptions(PerfOptions o) {
  o.hashing_filter =
      "PdqHash/.*/small_512x512$|HashBytes/(pdq|pdq-fast)/small_512x512$";
  o.hashing_min_time = 0.01;
  o.index_n = 20000;
  o.index_queries = 20;
  o.index_faiss_queries = 5;
  o.rpc_store_n = 2000;
  o.rpc_seconds = 0.5;
  o.hashes_concurrency = std::string("1,4");
  o.image_concurrency = std::string("1");
  o.max_images = 2;
  o.video_seconds = 1;
  o.video_clips = std::string("camera");
  o.video_repeats = 1;
  return o;
}

absl::StatusOr<PerfReport> RunPerf(const PerfOptions& options) {
  PerfReport report;
  report.machine = ReadMachineInfo();
  report.load_start = ReadLoadAverage();
  const Clock::time_point start = Clock::now();
  for (const std::string& b : options.benchmarks) {
    if (b != "hashing" && b != "index" && b != "rpc" && b != "video") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown benchmark '", b, "' (hashing, index, rpc, video)"));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TempDir> work,
                   TempDir::Make(options.temp_root));
  Runner runner(options, work->path());
  RETURN_IF_ERROR(runner.CheckBinaries());
  for (const std::string& b : options.benchmarks) {
    if (options.cancel != nullptr && options.cancel->load()) {
      return absl::CancelledError("the run was cancelled");
    }
    if (b == "hashing") RETURN_IF_ERROR(runner.Hashing(&report));
    if (b == "index") RETURN_IF_ERROR(runner.Index(&report));
    if (b == "rpc") RETURN_IF_ERROR(runner.Rpc(&report));
    if (b == "video") RETURN_IF_ERROR(runner.Video(&report));
  }
  report.total_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  report.load_end = ReadLoadAverage();
  return report;
}

}  // namespace perf
}  // namespace hashmatch
