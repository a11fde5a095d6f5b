#include "src/server/match_server.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "src/common/file_util.h"
#include "src/common/stderr_capture.h"
#include "src/match/demo_seed.h"
#include "src/match/matcher.h"
#include "src/server/follower.h"
#include "src/server/json_log.h"
#include "src/server/match_reports.h"
#include "src/server/match_service.h"
#include "src/server/server_credentials.h"
#include "src/server/server_metrics.h"
#include "src/server/snapshot_saver.h"
#include "src/server/token_auth.h"

#ifndef HASHMATCH_VERSION
#define HASHMATCH_VERSION "dev"
#endif

namespace hashmatch {
namespace server {
namespace {

namespace v1 = hashmatch::v1;

constexpr char kServiceName[] = "hashmatch.v1.MatchService";

int StartupError(const absl::Status& status, absl::string_view stage) {
  LogLine("error", "startup_error")
      .Str("stage", stage)
      .Str("code", absl::StatusCodeToString(status.code()))
      .Str("message", status.message())
      .Emit();
  return kExitStartupError;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string SignalLabel(v1::SignalType s) {
  std::string name = v1::SignalType_Name(s);
  constexpr absl::string_view kPrefix = "SIGNAL_TYPE_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) {
    name = name.substr(kPrefix.size());
  }
  return name;
}

void PublishIndexMetrics(const Matcher& matcher, ServerMetrics* metrics) {
  const v1::IndexInfo info = matcher.GetIndexInfo();
  metrics->SetIndexSequence(info.sequence());
  for (const v1::SignalCount& c : info.counts()) {
    metrics->SetIndexEntries(SignalLabel(c.signal_type()),
                             static_cast<double>(c.entries()));
  }
}

FollowerStatus PublishFollowMetrics(const Follower& follower,
                                    ServerMetrics* metrics) {
  const FollowerStatus s = follower.status();
  FollowMetrics m;
  m.applied_sequence = s.applied_sequence;
  m.primary_sequence = s.primary_sequence;
  m.lag_sequences = s.lag_sequences;
  m.lag_seconds = s.lag_seconds;
  m.connected = s.connected;
  m.bootstrapped = s.bootstrapped;
  metrics->SetFollow(m);
  return s;
}

// How often the follower's metrics and lag-readiness are refreshed.
constexpr int kReadinessMonitorMs = 100;

absl::StatusOr<FollowerOptions> FollowOptionsFrom(const ServerConfig& config) {
  FollowerOptions options;
  if (config.follow.empty()) return options;
  options.target = config.follow;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeFollowChannelCredentials(config.follow_tls_ca, config.follow_tls_cert,
                                   config.follow_tls_key);
  if (!credentials.ok()) return credentials.status();
  options.credentials = *std::move(credentials);
  options.tls_server_name = config.follow_tls_server_name;
  if (!config.follow_token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadBearerTokenFile("--follow_token_file", config.follow_token_file);
    if (!token.ok()) return token.status();
    options.token = *std::move(token);
  }
  options.name = config.follow_name.empty()
                     ? absl::StrCat("match_server@", config.listen)
                     : config.follow_name;
  options.on_event = [](const std::string& event, const absl::Status& status) {
    LogLine(status.ok() ? "info" : "warning", absl::StrCat("follow_", event))
        .Str("code", absl::StatusCodeToString(status.code()))
        .Str("message", status.message())
        .Emit();
  };
  return options;
}

// State shared by the main thread and the loader and catch-up threads.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;         // GUARDED_BY(mu): threads should exit.
  bool loaded = false;       // GUARDED_BY(mu)
  absl::Status load_status;  // GUARDED_BY(mu): non-OK: loading failed.
  std::atomic<bool> loader_done{false};
};

// Main thread: true to stop (signal or failure); `signal_number` 0 when the
// loader failed.
int WaitForSignalOrFailure(const sigset_t& signals, Shared* shared) {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (!shared->load_status.ok()) return 0;
    }
    struct timespec timeout = {0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) return sig;
  }
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        static_cast<mode_t>(mode));
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n =
        ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

int RunMatchServer(const ServerConfig& config) {
  // Before any thread exists, so every thread inherits the mask and only
  // sigtimedwait below takes these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  RouteGrpcLogsToJson();  // gRPC's own log lines as JSON lines too.
  // Libraries (libpng, OpenCV, FFmpeg, ...) print warnings to stderr, and
  // some print bytes of the upload (a PNG's ICC profile name): a line that
  // looks like a log line could be forged. The log gets its own descriptor
  // for the real stderr; fd 2 then becomes a pipe whose lines are logged as
  // escaped library_message lines (LogLibraryOutput).
  std::unique_ptr<StderrCapture> library_output;
  int log_fd = STDERR_FILENO;
  if (config.capture_library_output) {
    log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (log_fd < 0) {
      return StartupError(
          absl::InternalError(
              absl::StrCat("cannot duplicate stderr: ", std::strerror(errno))),
          "log");
    }
  }
  {
    LogOptions log_options;
    log_options.fd = log_fd;
    log_options.file = config.log_file;
    log_options.rotate_bytes = config.log_rotate_bytes;
    log_options.keep_files = config.log_keep_files;
    log_options.sample_ok_rpcs = config.log_sample_ok_rpcs;
    absl::Status s = ConfigureLogging(log_options);
    if (!s.ok()) return StartupError(s, "log_file");
  }
  if (config.capture_library_output) {
    absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
        StderrCapture::Start(LogLibraryOutput);
    if (!capture.ok()) return StartupError(capture.status(), "log");
    library_output = *std::move(capture);
  }

  LogLine("info", "config")
      .Str("version", HASHMATCH_VERSION)
      .Str("db", config.db)
      .Bool("seed_demo", config.seed_demo)
      .Str("listen", config.listen)
      .Str("metrics_listen", config.metrics_listen)
      .Int("max_concurrent_rpcs", config.max_concurrent_rpcs)
      .Int("max_request_bytes", config.max_request_bytes)
      .Int("max_image_bytes", config.max_image_bytes)
      .Int("max_pixels", config.max_pixels)
      .Int("max_jpeg_scans", config.max_jpeg_scans)
      .Int("max_decode_ms", config.max_decode_ms)
      .Int("max_queue_wait_ms", config.max_queue_wait_ms)
      .Int("max_calls_per_principal", config.max_calls_per_principal)
      .Int("max_bytes_per_principal", config.max_bytes_per_principal)
      .Int("max_batch", config.max_batch)
      .Int("max_hashes", config.max_hashes)
      .Int("pdq_threshold", config.pdq_threshold)
      .Int("pdq_quality_gate", config.pdq_quality_gate)
      .Bool("dihedral", config.dihedral)
      .Bool("video_frames", config.video_frames)
      .Int("max_video_bytes", config.max_video_bytes)
      .Int("max_video_seconds", config.max_video_seconds)
      .Int("max_video_decode_seconds", config.max_video_decode_seconds)
      .Int("max_video_frames", config.max_video_frames)
      .Int("max_concurrent_videos", config.max_concurrent_videos)
      .Int("video_idle_timeout_seconds", config.video_idle_timeout_seconds)
      .Int("video_upload_timeout_seconds", config.video_upload_timeout_seconds)
      .Bool("auth_tokens", !config.tokens_file.empty())
      .Str("tls", config.tls_client_ca.empty()
                      ? (config.tls_cert.empty() ? "off" : "tls")
                      : "mtls")
      .Int("catch_up_interval_ms", config.catch_up_interval_ms)
      .Int("drain_seconds", config.drain_seconds)
      .Str("follow", config.follow)
      .Str("follow_tls", config.follow.empty()            ? ""
                         : config.follow_tls_ca.empty()   ? "off"
                         : config.follow_tls_cert.empty() ? "tls"
                                                          : "mtls")
      .Bool("follow_token", !config.follow_token_file.empty())
      .Int("follow_max_lag_seconds", config.follow_max_lag_seconds)
      .Str("snapshot_dir", config.snapshot_dir)
      .Int("snapshot_interval_seconds", config.snapshot_interval_seconds)
      .Emit();

  MatcherOptions matcher_options;
  matcher_options.pdq_threshold = config.pdq_threshold;
  matcher_options.pdq_quality_gate = config.pdq_quality_gate;
  matcher_options.dihedral = config.dihedral;
  matcher_options.decode.max_encoded_bytes =
      static_cast<size_t>(config.max_image_bytes);
  matcher_options.decode.max_pixels = config.max_pixels;
  matcher_options.decode.max_jpeg_scans = config.max_jpeg_scans;
  matcher_options.decode.max_decode_ms = config.max_decode_ms;
  matcher_options.max_batch = config.max_batch;
  matcher_options.max_hashes = config.max_hashes;
  matcher_options.server_version = HASHMATCH_VERSION;
  matcher_options.video_frames = config.video_frames;
  VideoMatcherOptions& video = matcher_options.video;
  video.hash.decode.max_bytes = static_cast<size_t>(config.max_video_bytes);
  video.hash.decode.max_duration_seconds = config.max_video_seconds;
  video.hash.decode.max_decode_seconds = config.max_video_decode_seconds;
  video.max_query_frames = config.max_video_frames;
  video.query_match_percent = config.video_query_match_percent;
  video.compared_match_percent = config.video_compared_match_percent;

  std::unique_ptr<TokenTable> tokens;
  if (!config.tokens_file.empty()) {
    absl::StatusOr<TokenTable> table = TokenTable::LoadFile(config.tokens_file);
    if (!table.ok()) return StartupError(table.status(), "tokens");
    tokens = std::make_unique<TokenTable>(*std::move(table));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config.tls_cert, config.tls_key,
                            config.tls_client_ca);
  if (!credentials.ok()) return StartupError(credentials.status(), "tls");
  absl::StatusOr<FollowerOptions> follow_options = FollowOptionsFrom(config);
  if (!follow_options.ok()) {
    return StartupError(follow_options.status(), "follow");
  }
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics_or =
      ServerMetrics::Create(config.metrics_listen);
  if (!metrics_or.ok()) return StartupError(metrics_or.status(), "metrics");
  std::unique_ptr<ServerMetrics> metrics = *std::move(metrics_or);
  metrics->SetReady(false);

  StoreOptions store_options;
  store_options.create_if_missing = true;
  absl::StatusOr<std::unique_ptr<HashStore>> store_or =
      HashStore::Open(store_options, config.db);
  if (!store_or.ok()) {
    return StartupError(absl::Status(store_or.status().code(),
                                     absl::StrCat("--db ", config.db, ": ",
                                                  store_or.status().message())),
                        "store");
  }
  std::unique_ptr<HashStore> store = *std::move(store_or);
  // Set by the loader thread; read by the others only after `loaded`.
  std::unique_ptr<VettedIndex> index;
  std::unique_ptr<Matcher> matcher;
  std::unique_ptr<SnapshotSaver> snapshot_saver;  // With --snapshot_dir.
  // The index once built, for the follower's catch-up after each batch.
  std::atomic<VettedIndex*> live_index{nullptr};
  std::unique_ptr<Follower> follower;
  if (!config.follow.empty()) {
    follow_options->on_applied = [&live_index](uint64_t) {
      if (VettedIndex* i = live_index.load()) {
        absl::Status s = i->CatchUp();
        if (!s.ok()) {
          LogLine("error", "catch_up_failed")
              .Str("code", absl::StatusCodeToString(s.code()))
              .Str("message", s.message())
              .Emit();
        }
      }
    };
    follow_options->on_reconnect = [m = metrics.get()] {
      m->CountFollowReconnect();
    };
    follower = std::make_unique<Follower>(store.get(), *follow_options);
  }

  MatchServiceOptions service_options;
  service_options.max_concurrent_rpcs = config.max_concurrent_rpcs;
  service_options.max_concurrent_videos = config.max_concurrent_videos;
  service_options.principal_limits.max_calls = config.max_calls_per_principal;
  service_options.principal_limits.max_bytes = config.max_bytes_per_principal;
  if (config.image_workers > 0) {
    service_options.worker_threads = config.image_workers;
  }
  service_options.video_idle_timeout_ms =
      config.video_idle_timeout_seconds * 1000;
  service_options.video_upload_timeout_ms =
      config.video_upload_timeout_seconds * 1000;
  std::unique_ptr<MatchReports> reports;  // outlives `service`
  if (!config.report_to.empty()) {
    absl::StatusOr<std::unique_ptr<MatchReports>> started =
        MatchReports::Start(config, metrics.get());
    if (!started.ok()) return StartupError(started.status(), "reports");
    reports = *std::move(started);
    service_options.on_match = [r = reports.get()](
                                   const hashmatch::v1::MatchResponse& response,
                                   const std::string& platform) {
      r->OnMatch(response, platform);
    };
  }
  MatchServiceImpl service(service_options, metrics.get(), tokens.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(config.listen, *credentials, &grpc_port);
  builder.RegisterService(&service);
  // gRPC sets SO_REUSEPORT by default: a second server on the same port (or
  // one given the same port 0 pick) would then silently share its
  // connections. Off, a taken port is a startup error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_request_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_request_bytes));
  grpc::ResourceQuota quota("match_server");
  // Callback handlers do not use the sync-server thread pool this bounds;
  // it caps any thread gRPC would start for synchronous services.
  quota.SetMaxThreads(
      std::max(4, static_cast<int>(std::thread::hardware_concurrency()) * 4));
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || grpc_port == 0) {
    return StartupError(absl::UnavailableError(absl::StrCat(
                            "cannot listen on --listen ", config.listen,
                            " (address in use, malformed, or not permitted)")),
                        "listen");
  }
  grpc::HealthCheckServiceInterface* health =
      grpc_server->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kServiceName, false);

  if (!config.port_file.empty()) {
    absl::Status s =
        WriteFileAtomically(config.port_file, absl::StrCat(grpc_port, "\n"));
    if (!s.ok()) {
      grpc_server->Shutdown();
      return StartupError(s, "port_file");
    }
  }
  if (!config.metrics_port_file.empty() && metrics->port() != 0) {
    absl::Status s = WriteFileAtomically(config.metrics_port_file,
                                         absl::StrCat(metrics->port(), "\n"));
    if (!s.ok()) {
      grpc_server->Shutdown();
      return StartupError(s, "metrics_port_file");
    }
  }
  LogLine("info", "listening")
      .Str("listen", config.listen)
      .Int("port", grpc_port)
      .Int("metrics_port", metrics->port())
      .Emit();

  if (follower != nullptr) {
    follower->Start();
    LogLine("info", "follow_started")
        .Str("follow", config.follow)
        .Int("store_sequence", static_cast<int64_t>(store->LastSequence()))
        .Emit();
  }

  Shared shared;
  std::thread loader([&] {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = [&]() -> absl::Status {
      if (follower != nullptr) {
        // The index is built from a complete store: an empty one waits for
        // the primary's snapshot.
        std::unique_lock<std::mutex> lock(shared.mu);
        while (!shared.stop && !follower->status().bootstrapped) {
          shared.cv.wait_for(lock, std::chrono::milliseconds(20));
        }
        if (shared.stop) return absl::CancelledError("stopping");
        lock.unlock();
        LogLine("info", "follow_bootstrapped")
            .Int("sequence", static_cast<int64_t>(store->LastSequence()))
            .Double("seconds", SecondsSince(start))
            .Emit();
      }
      if (config.seed_demo) {
        auto seeded = SeedDemo(store.get(), DemoSeedOptions());
        if (!seeded.ok()) {
          return absl::Status(
              seeded.status().code(),
              absl::StrCat("--seed_demo: ", seeded.status().message()));
        }
        LogLine("info", "demo_seeded")
            .Int("sequence", static_cast<int64_t>(store->LastSequence()))
            .Double("seconds", SecondsSince(start))
            .Emit();
      }
      VettedIndexOptions index_options;
      index_options.snapshot_dir = config.snapshot_dir;
      absl::StatusOr<std::unique_ptr<VettedIndex>> index_or =
          VettedIndex::Open(store.get(), index_options);
      if (!index_or.ok()) return index_or.status();
      index = *std::move(index_or);
      if (!config.snapshot_dir.empty()) {
        LogSnapshotOpen(*index);
        snapshot_saver = std::make_unique<SnapshotSaver>(
            index.get(), config.snapshot_interval_seconds);
      }
      live_index.store(index.get());
      absl::StatusOr<std::unique_ptr<Matcher>> matcher_or =
          Matcher::Create(store.get(), index.get(), matcher_options);
      if (!matcher_or.ok()) return matcher_or.status();
      matcher = *std::move(matcher_or);
      return absl::OkStatus();
    }();
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(shared.mu);
      if (!shared.stop) shared.load_status = status;
      shared.loader_done.store(true);
      shared.cv.notify_all();
      return;
    }
    // Logged before health turns SERVING, so a client that sees SERVING
    // finds "index_loaded" in the log.
    LogLine line("info", "index_loaded");
    line.Int("sequence", static_cast<int64_t>(index->applied_sequence()));
    for (v1::SignalType s : VettedIndex::kBinarySignals) {
      line.Int(absl::StrCat("entries_", SignalLabel(s)),
               static_cast<int64_t>(index->size(s)));
    }
    line.Double("seconds", SecondsSince(start)).Emit();
    bool serving = false;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      if (!shared.stop) {
        if (follower != nullptr) PublishFollowMetrics(*follower, metrics.get());
        service.SetMatcher(matcher.get());
        health->SetServingStatus("", true);
        health->SetServingStatus(kServiceName, true);
        metrics->SetReady(true);
        shared.loaded = true;
        serving = true;
      }
    }
    shared.cv.notify_all();
    // Outside the lock: GetIndexInfo may scan the store for exact counts.
    if (serving) PublishIndexMetrics(*matcher, metrics.get());
    shared.loader_done.store(true);
  });

  std::thread catch_up([&] {
    std::unique_lock<std::mutex> lock(shared.mu);
    shared.cv.wait(lock, [&] { return shared.stop || shared.loaded; });
    uint64_t published = index != nullptr ? index->applied_sequence() : 0;
    bool failing = false;
    while (!shared.stop) {
      shared.cv.wait_for(lock,
                         std::chrono::milliseconds(config.catch_up_interval_ms),
                         [&] { return shared.stop; });
      if (shared.stop) break;
      lock.unlock();
      absl::Status s = index->CatchUp();
      if (!s.ok() && !failing) {
        LogLine("error", "catch_up_failed")
            .Str("code", absl::StatusCodeToString(s.code()))
            .Str("message", s.message())
            .Emit();
      } else if (s.ok() && failing) {
        LogLine("info", "catch_up_recovered").Emit();
      }
      failing = !s.ok();
      const uint64_t sequence = index->applied_sequence();
      if (sequence != published) {
        published = sequence;
        PublishIndexMetrics(*matcher, metrics.get());
      }
      lock.lock();
    }
  });

  // Readiness once loaded: NOT_SERVING while a follower lags more than
  // --follow_max_lag_seconds, or while an image call has waited longer than
  // --max_queue_wait_ms for a worker (saturated: a load balancer should send
  // uploads elsewhere). With --follow it also publishes the follower's
  // metrics.
  std::thread readiness_monitor([&] {
    std::unique_lock<std::mutex> lock(shared.mu);
    bool lag_ok = true, unsaturated = true;
    while (!shared.stop) {
      FollowerStatus fs;
      if (follower != nullptr)
        fs = PublishFollowMetrics(*follower, metrics.get());
      if (shared.loaded) {
        const bool lag_now = follower == nullptr ||
                             config.follow_max_lag_seconds == 0 ||
                             fs.lag_seconds <= config.follow_max_lag_seconds;
        const double waited = service.OldestQueuedSeconds();
        const bool unsaturated_now = config.max_queue_wait_ms == 0 ||
                                     waited * 1e3 <= config.max_queue_wait_ms;
        if (lag_now != lag_ok) {
          LogLine(lag_now ? "info" : "warning",
                  lag_now ? "follow_lag_recovered" : "follow_lagging")
              .Double("lag_seconds", fs.lag_seconds)
              .Int("lag_sequences", static_cast<int64_t>(fs.lag_sequences))
              .Int("max_lag_seconds", config.follow_max_lag_seconds)
              .Emit();
        }
        if (unsaturated_now != unsaturated) {
          LogLine(unsaturated_now ? "info" : "warning",
                  unsaturated_now ? "saturation_recovered" : "saturated")
              .Double("oldest_queued_ms", waited * 1e3)
              .Int("max_queue_wait_ms", config.max_queue_wait_ms)
              .Int("max_calls_per_principal", config.max_calls_per_principal)
              .Int("max_bytes_per_principal", config.max_bytes_per_principal)
              .Int("in_flight", service.in_flight())
              .Emit();
        }
        const bool was = lag_ok && unsaturated;
        lag_ok = lag_now;
        unsaturated = unsaturated_now;
        const bool ok = lag_ok && unsaturated;
        if (ok != was) {
          health->SetServingStatus("", ok);
          health->SetServingStatus(kServiceName, ok);
          metrics->SetReady(ok);
        }
      }
      shared.cv.wait_for(lock, std::chrono::milliseconds(kReadinessMonitorMs),
                         [&] { return shared.stop; });
    }
  });

  const int sig = WaitForSignalOrFailure(signals, &shared);
  absl::Status load_status;
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.stop = true;
    load_status = shared.load_status;
  }
  shared.cv.notify_all();
  if (sig == 0) {
    grpc_server->Shutdown(std::chrono::system_clock::now());
    catch_up.join();
    readiness_monitor.join();
    if (follower != nullptr) follower->Stop();
    loader.join();
    return StartupError(load_status, "index");
  }

  const auto drain_start = std::chrono::steady_clock::now();
  LogLine("info", "drain_start")
      .Str("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT")
      .Int("in_flight", service.in_flight())
      .Int("drain_seconds", config.drain_seconds)
      .Emit();
  // Refuse new RPCs before health says NOT_SERVING: a client that sees
  // NOT_SERVING and calls at once must get UNAVAILABLE, not a served call.
  service.StartDraining();
  health->Shutdown();  // Every service NOT_SERVING from now on.
  metrics->SetReady(false);
  // Wait for the MatchService calls in flight (new ones are refused), then
  // shut gRPC down at once: that also ends streams that would otherwise hold
  // the drain to its deadline, like health Watch. Calls still running at the
  // deadline are cancelled.
  const auto drain_deadline = std::chrono::steady_clock::now() +
                              std::chrono::seconds(config.drain_seconds);
  while (service.active_calls() > 0 &&
         std::chrono::steady_clock::now() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t unfinished = service.active_calls();
  // Image decodes still running stop at their next check instead of
  // holding Wait() (a crafted JPEG could take minutes).
  service.CancelRunning();
  grpc_server->Shutdown(std::chrono::system_clock::now());
  grpc_server->Wait();
  catch_up.join();
  readiness_monitor.join();
  // Before the index and store go: its batches catch the index up.
  if (follower != nullptr) follower->Stop();
  bool loaded;
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    loaded = shared.loaded;
  }
  if (!loaded && !shared.loader_done.load()) {
    // The index build cannot be interrupted; the store is only read by it
    // (and seeding commits whole batches), so leaving now is safe.
    LogLine("info", "drained")
        .Double("seconds", SecondsSince(drain_start))
        .Str("note", "exited while the index was still loading")
        .Emit();
    _exit(kExitOk);
  }
  loader.join();
  // The index is final now (no catch-up, no follower): one last snapshot,
  // within the drain budget.
  if (snapshot_saver != nullptr &&
      !snapshot_saver->SaveAtDrain(drain_deadline)) {
    _exit(kExitOk);
  }
  snapshot_saver.reset();
  // Close in dependency order: the server (no more calls), the metrics
  // endpoint, then the matcher, the index and the store (RocksDB closed).
  grpc_server.reset();
  metrics.reset();
  matcher.reset();
  index.reset();
  store.reset();
  LogLine("info", "drained")
      .Double("seconds", SecondsSince(drain_start))
      .Int("cancelled_at_deadline", unfinished)
      .Emit();
  return kExitOk;
}

}  // namespace server
}  // namespace hashmatch
