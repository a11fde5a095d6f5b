#include "src/ingest/ingest_server.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_recovery.h"
#include "src/audit/ed25519_key.h"
#include "src/common/file_util.h"
#include "src/common/status_util.h"
#include "src/common/stderr_capture.h"
#include "src/ingest/admin_service.h"
#include "src/ingest/audit_service.h"
#include "src/ingest/ingest_core.h"
#include "src/ingest/ingest_service.h"
#include "src/ingest/principal_authenticator.h"
#include "src/ingest/replication_service.h"
#include "src/ingest/report_service.h"
#include "src/server/json_log.h"
#include "src/server/match_server.h"
#include "src/server/server_credentials.h"

#ifndef HASHMATCH_VERSION
#define HASHMATCH_VERSION "dev"
#endif

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;
using server::LogLine;

absl::Status AtStage(absl::string_view stage, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(stage, ": ", status.message()));
}

// "/hashmatch.v1.AdminService/AddPrincipal" -> "AdminService/AddPrincipal";
// other packages keep their name ("grpc.health.v1.Health/Check").
std::string RpcLabel(const char* method) {
  if (method == nullptr) return "unknown";
  absl::string_view m(method);
  absl::ConsumePrefix(&m, "/");
  absl::ConsumePrefix(&m, "hashmatch.v1.");
  return std::string(m);
}

// Counts and logs every RPC (see ingest_server.h).
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(grpc::experimental::ServerRpcInfo* info,
                  const Authenticator* authenticator,
                  server::ServerMetrics* metrics,
                  std::shared_ptr<std::atomic<int64_t>> active)
      : info_(info),
        authenticator_(authenticator),
        metrics_(metrics),
        active_(std::move(active)),
        rpc_(RpcLabel(info->method())),
        internal_(absl::StartsWith(rpc_, "grpc.")),
        // Watch streams run until cancelled: they do not hold the drain.
        held_(!internal_ && !absl::StrContains(rpc_, "/Watch")),
        start_(std::chrono::steady_clock::now()) {
    if (held_) active_->fetch_add(1);
  }
  ~CallInterceptor() override {
    if (held_) active_->fetch_sub(1);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    const std::string code = GrpcCodeName(status.error_code());
    metrics_->ObserveRpc(rpc_, code, seconds);
    if (internal_) return;
    grpc::ServerContextBase* context = info_->server_context();
    std::string principal = "-";
    std::string peer;
    if (context != nullptr) {
      const CallCredentials credentials = CredentialsOf(*context);
      if (credentials.has_authorization ||
          !credentials.certificate_cn.empty()) {
        absl::StatusOr<v1::Principal> who =
            authenticator_->Authenticate(credentials);
        principal = who.ok() ? who->name() : "unauthenticated";
      } else {
        principal = "anonymous";
      }
      peer = context->peer();
    }
    LogLine line(status.ok() ? "info" : "warning", "rpc");
    line.Str("rpc", rpc_)
        .Str("code", code)
        .Double("latency_ms", seconds * 1e3)
        .Str("principal", principal)
        .Str("peer", peer);
    if (!status.ok()) line.Str("message", status.error_message());
    line.Emit();
  }

  grpc::experimental::ServerRpcInfo* const info_;
  const Authenticator* const authenticator_;
  server::ServerMetrics* const metrics_;
  const std::shared_ptr<std::atomic<int64_t>> active_;
  const std::string rpc_;
  const bool internal_;
  const bool held_;
  const std::chrono::steady_clock::time_point start_;
};

class CallInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallInterceptorFactory(const Authenticator* authenticator,
                         server::ServerMetrics* metrics,
                         std::shared_ptr<std::atomic<int64_t>> active)
      : authenticator_(authenticator),
        metrics_(metrics),
        active_(std::move(active)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(info, authenticator_, metrics_, active_);
  }

 private:
  const Authenticator* const authenticator_;
  server::ServerMetrics* const metrics_;
  const std::shared_ptr<std::atomic<int64_t>> active_;
};

// The audit log in DATA/audit, signed with --audit_key or with
// DATA/audit/signing.key (generated with signing.pub when missing).
absl::StatusOr<std::unique_ptr<audit::AuditLog>> OpenAuditLog(
    const IngestServerConfig& config) {
  const std::string dir = config.data + "/audit";
  if (absl::Status s = CreatePrivateDirectories(dir); !s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", dir, ": ", s.message()));
  }
  std::string key_path = config.audit_key;
  if (key_path.empty()) {
    key_path = dir + "/signing.key";
    struct stat st;
    if (::stat(key_path.c_str(), &st) != 0) {
      absl::StatusOr<audit::SigningKey> key = audit::SigningKey::Generate();
      if (!key.ok()) return key.status();
      absl::Status w = audit::WriteKeyPair(*key, dir + "/signing");
      if (!w.ok()) return w;
      LogLine("info", "audit_key_generated")
          .Str("key", key_path)
          .Str("public_key", dir + "/signing.pub")
          .Emit();
    }
    // Whoever can rewrite the log can also re-sign it with this key: fine
    // for a demo, not for production. Said at every start.
    LogLine("warning", "audit_key_in_data_dir")
        .Str("key", key_path)
        .Str("advice",
             "keep the signing key outside --data and pass --audit_key; "
             "give auditors the public key")
        .Emit();
  }
  audit::AuditLogOptions options;
  absl::StatusOr<audit::SigningKey> key = audit::LoadSigningKey(key_path);
  if (!key.ok()) return key.status();
  options.signing_key = *std::move(key);
  options.checkpoint_interval = config.audit_checkpoint_interval;
  options.verification = config.audit_verify == "full"
                             ? audit::OpenVerification::kFull
                             : audit::OpenVerification::kIncremental;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(std::move(options), dir);
  if (!log.ok()) return log.status();
  const audit::AuditOpenInfo& info = (*log)->open_info();
  if (info.torn_bytes > 0) {
    LogLine("warning", "audit_torn_tail_cut")
        .Int("bytes", static_cast<int64_t>(info.torn_bytes))
        .Emit();
  }
  LogLine line("info", "audit_verified");
  line.Str("verify", info.incremental ? "incremental" : "full")
      .Int("records", static_cast<int64_t>(info.records))
      .Int("records_verified", static_cast<int64_t>(info.records_verified))
      .Int("verified_from", static_cast<int64_t>(info.verified_from))
      .Double("seconds", std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count());
  // Asked for incremental, verified in full: why (no state yet, or one
  // that does not verify).
  if (!info.full_reason.empty()) line.Str("full_reason", info.full_reason);
  line.Emit();
  return log;
}

int StartupError(const absl::Status& status) {
  LogLine("error", "startup_error")
      .Str("code", absl::StatusCodeToString(status.code()))
      .Str("message", status.message())
      .Emit();
  return kExitStartupError;
}

}  // namespace

IngestServer::IngestServer(const IngestServerConfig& config)
    : config_(config),
      active_calls_(std::make_shared<std::atomic<int64_t>>(0)) {}

IngestServer::~IngestServer() {
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_->Wait();
    grpc_server_.reset();
  }
  // Services before what they use.
  {
    std::lock_guard<std::mutex> lock(listeners_mu_);
    commit_listeners_.clear();
  }
  services_.clear();
  store_.reset();
  if (audit_ != nullptr) {
    absl::Status s = audit_->Close();  // Signs the chain head.
    if (!s.ok()) {
      LogLine("error", "audit_close_failed")
          .Str("code", absl::StatusCodeToString(s.code()))
          .Str("message", s.message())
          .Emit();
    }
  }
  audit_.reset();
  metrics_.reset();
}

absl::StatusOr<std::unique_ptr<IngestServer>> IngestServer::Open(
    const IngestServerConfig& config) {
  std::unique_ptr<IngestServer> s(new IngestServer(config));
  // DATA and everything in it are owner-only (0700 directories, 0600
  // files) whatever the umask.
  if (absl::Status d = CreatePrivateDirectories(config.data); !d.ok()) {
    return absl::UnavailableError(absl::StrCat("data: cannot create --data ",
                                               config.data, ": ", d.message()));
  }
  PrincipalStoreOptions principal_options;
  principal_options.max_principals = config.max_principals;
  absl::StatusOr<std::unique_ptr<PrincipalStore>> principals =
      PrincipalStore::Open(config.data + "/principals", principal_options);
  if (!principals.ok()) return AtStage("principals", principals.status());
  s->principals_ = *std::move(principals);
  s->authenticator_ =
      std::make_unique<PrincipalAuthenticator>(s->principals_.get());
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log =
      OpenAuditLog(config);
  if (!audit_log.ok()) return AtStage("audit", audit_log.status());
  audit::AuditLog* log = audit_log->get();
  s->audit_ = *std::move(audit_log);

  absl::Status b = s->Bootstrap();
  if (!b.ok()) return AtStage("bootstrap", b);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      server::MakeServerCredentials(config.tls_cert, config.tls_key,
                                    config.tls_client_ca);
  if (!credentials.ok()) return AtStage("tls", credentials.status());
  s->credentials_ = *std::move(credentials);

  absl::StatusOr<std::unique_ptr<server::ServerMetrics>> metrics =
      server::ServerMetrics::Create(config.metrics_listen);
  if (!metrics.ok()) return AtStage("metrics", metrics.status());
  s->metrics_ = *std::move(metrics);

  StoreOptions store_options;
  store_options.create_if_missing = true;
  IngestServer* self = s.get();
  store_options.on_commit = [self](uint64_t sequence) {
    std::lock_guard<std::mutex> lock(self->listeners_mu_);
    for (const auto& listener : self->commit_listeners_) listener(sequence);
  };
  const std::string store_dir = config.data + "/store";
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(store_options, store_dir);
  if (!store.ok()) {
    return AtStage(
        "store",
        absl::Status(store.status().code(),
                     absl::StrCat(store_dir, ": ", store.status().message())));
  }
  s->store_ = *std::move(store);
  absl::StatusOr<audit::AuditRecovery> recovery =
      audit::AuditUnauditedChanges(*s->store_, log);
  if (!recovery.ok()) return AtStage("audit_recovery", recovery.status());
  if (recovery->records_appended > 0) {
    LogLine("warning", "audit_recovered")
        .Int("records_appended",
             static_cast<int64_t>(recovery->records_appended))
        .Emit();
  }

  s->context_.config = &s->config_;
  s->context_.data_dir = config.data;
  s->context_.store = s->store_.get();
  s->context_.principals = s->principals_.get();
  s->context_.authenticator = s->authenticator_.get();
  s->context_.audit = s->audit_.get();
  s->context_.audit_log = s->audit_.get();
  s->context_.metrics = s->metrics_.get();
  return s;
}

absl::Status IngestServer::Bootstrap() {
  if (principals_->HasActiveAdmin()) {
    if (!config_.bootstrap_admin.empty()) {
      LogLine("info", "bootstrap_skipped")
          .Str("reason", "an active admin exists")
          .Emit();
    }
    return absl::OkStatus();
  }
  if (config_.bootstrap_admin.empty()) {
    LogLine("warning", "no_admin")
        .Str("hint",
             "no active admin principal: restart with --bootstrap_admin NAME "
             "--bootstrap_token_file PATH")
        .Emit();
    return absl::OkStatus();
  }
  // The file must be writable before the admin exists: an admin whose
  // token was lost could never be bootstrapped again.
  absl::Status s =
      server::WriteFileAtomically(config_.bootstrap_token_file, "", 0600);
  if (!s.ok()) return s;
  v1::Principal admin;
  admin.set_name(config_.bootstrap_admin);
  admin.add_roles(v1::ROLE_ADMIN);
  admin.set_note("bootstrap admin");
  absl::StatusOr<PrincipalStore::Added> added = principals_->Add(admin, true);
  if (!added.ok()) return added.status();
  s = server::WriteFileAtomically(config_.bootstrap_token_file,
                                  added->token + "\n", 0600);
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("admin \"", admin.name(),
                               "\" was created but its token could not be "
                               "written: ",
                               s.message()));
  }
  AuditEvent event;
  event.actor = "system";
  event.action = "principal_add";
  event.target = absl::StrCat("principal:", admin.name());
  event.state_after = added->principal.SerializeAsString();
  event.detail = "bootstrap";
  s = audit_->Append({event});
  if (!s.ok()) return s;
  LogLine("info", "bootstrap_admin_created")
      .Str("principal", admin.name())
      .Str("token_file", config_.bootstrap_token_file)
      .Emit();
  return absl::OkStatus();
}

void IngestServer::AddService(const std::string& full_name,
                              std::unique_ptr<grpc::Service> service,
                              std::function<void()> on_drain) {
  services_.push_back({full_name, std::move(service), std::move(on_drain)});
}

void IngestServer::AddCommitListener(std::function<void(uint64_t)> listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  commit_listeners_.push_back(std::move(listener));
}

std::vector<std::string> IngestServer::service_names() const {
  std::vector<std::string> names;
  for (const Registered& r : services_) names.push_back(r.name);
  return names;
}

int IngestServer::metrics_port() const { return metrics_->port(); }

absl::Status IngestServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, credentials_, &port_);
  for (Registered& r : services_) builder.RegisterService(r.service.get());
  // A taken port is a startup error, not a silently shared one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_request_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_request_bytes));
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<CallInterceptorFactory>(
      authenticator_.get(), metrics_.get(), active_calls_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("listen: cannot listen on --listen ", config_.listen,
                     " (address in use, malformed, or not permitted)"));
  }
  grpc::HealthCheckServiceInterface* health =
      grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const Registered& r : services_) {
    health->SetServingStatus(r.name, true);
  }
  metrics_->SetReady(true);
  if (!config_.port_file.empty()) {
    absl::Status s = server::WriteFileAtomically(config_.port_file,
                                                 absl::StrCat(port_, "\n"));
    if (!s.ok()) return AtStage("port_file", s);
  }
  if (!config_.metrics_port_file.empty() && metrics_->port() != 0) {
    absl::Status s = server::WriteFileAtomically(
        config_.metrics_port_file, absl::StrCat(metrics_->port(), "\n"));
    if (!s.ok()) return AtStage("metrics_port_file", s);
  }
  return absl::OkStatus();
}

bool IngestServer::Drain() {
  if (grpc_server_ == nullptr) return true;
  grpc_server_->GetHealthCheckService()->Shutdown();
  metrics_->SetReady(false);
  for (Registered& r : services_) {
    if (r.on_drain) r.on_drain();
  }
  // Wait for the RPCs in flight (watch streams excepted), then shut gRPC
  // down at once, which cancels what is left (watch streams, health Watch).
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(config_.drain_seconds);
  while (active_calls_->load() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool in_time = active_calls_->load() == 0;
  grpc_server_->Shutdown(std::chrono::system_clock::now());
  grpc_server_->Wait();
  return in_time;
}

absl::Status RegisterIngestServices(IngestServer* server) {
  const IngestContext& c = server->context();
  server->AddService(v1::AdminService::service_full_name(),
                     std::make_unique<AdminServiceImpl>(c.authenticator,
                                                        c.principals, c.audit));
  const IngestServerConfig& config = *c.config;
  IngestOptions ingest_options;
  ingest_options.quorum = config.quorum;
  ingest_options.max_batch = static_cast<size_t>(config.max_batch);
  ingest_options.allow_platform_suspend = config.allow_platform_suspend;
  ingest_options.image_decode.max_encoded_bytes =
      static_cast<size_t>(config.max_image_bytes);
  ingest_options.image_decode.max_pixels = config.max_image_pixels;
  ingest_options.image_decode.max_jpeg_scans = config.max_jpeg_scans;
  ingest_options.image_decode.max_decode_ms = config.max_decode_ms;
  ingest_options.max_external_id_bytes =
      static_cast<size_t>(config.max_external_id_bytes);
  ingest_options.max_note_bytes = static_cast<size_t>(config.max_note_bytes);
  ingest_options.max_disputes_per_entry =
      static_cast<size_t>(config.max_disputes_per_entry);
  ingest_options.max_page_size = config.max_page_size;
  ingest_options.max_video_frames = config.max_video_frames;
  ingest_options.video_hash.decode.max_bytes =
      static_cast<size_t>(config.max_request_bytes);
  ingest_options.default_page_size =
      std::min(ingest_options.default_page_size, config.max_page_size);
  IngestServiceOptions service_options;
  service_options.worker_threads = config.worker_threads;
  service_options.max_queued_calls = config.max_queued_calls;
  service_options.max_submit_streams = config.max_submit_streams;
  service_options.max_exports = config.max_exports;
  // Streams ended by --stream_idle_timeout_seconds: counted and logged.
  const auto on_stream_timeout =
      [metrics = c.metrics](absl::string_view rpc, absl::string_view limit) {
        metrics->CountStreamTimeout(rpc, limit);
        LogLine("warning", "stream_timeout")
            .Str("rpc", rpc)
            .Str("limit", limit)
            .Emit();
      };
  service_options.stream_idle_timeout_ms =
      config.stream_idle_timeout_seconds * 1000;
  service_options.on_stream_timeout = on_stream_timeout;
  server->AddService(
      v1::IngestService::service_full_name(),
      std::make_unique<IngestServiceImpl>(
          std::make_unique<IngestCore>(ingest_options, c.store, c.audit),
          *c.authenticator, service_options));
  AuditServiceOptions audit_options;
  audit_options.max_streams = config.max_audit_streams;
  server->AddService(v1::AuditService::service_full_name(),
                     std::make_unique<AuditServiceImpl>(
                         c.audit_log, c.authenticator, audit_options));
  ReplicationServiceOptions replication_options;
  replication_options.max_streams = config.max_watch_streams;
  replication_options.write_stall_timeout_ms =
      config.stream_idle_timeout_seconds * 1000;
  replication_options.on_stream_timeout = on_stream_timeout;
  auto replication = std::make_unique<ReplicationServiceImpl>(
      c.store, c.authenticator, replication_options);
  ReplicationServiceImpl* feed = replication.get();
  server->AddCommitListener(
      [feed](uint64_t sequence) { feed->NotifyCommitted(sequence); });
  // Draining ends every watch stream with UNAVAILABLE "server draining" (so
  // followers know to reconnect elsewhere); wait, briefly, until those
  // statuses are out before gRPC's shutdown would cancel them instead.
  server->AddService(
      v1::ReplicationService::service_full_name(), std::move(replication),
      [feed] {
        feed->StartDraining();
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (feed->active_streams() > 0 &&
               std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  ReportServiceOptions report_options;
  report_options.max_reports_per_call = config.max_reports_per_call;
  report_options.max_hashes_per_report = config.max_report_hashes;
  report_options.max_matches_per_report = config.max_report_matches;
  report_options.max_content_ref_bytes = config.max_content_ref_bytes;
  report_options.max_streams = config.max_report_streams;
  report_options.max_page_size = config.max_page_size;
  report_options.default_page_size =
      std::min(report_options.default_page_size, config.max_page_size);
  report_options.worker_threads = config.worker_threads;
  absl::StatusOr<std::unique_ptr<ReportServiceImpl>> reports =
      ReportServiceImpl::Open(c.data_dir + "/reports", c.store, c.authenticator,
                              report_options);
  if (!reports.ok()) return AtStage("reports", reports.status());
  ReportServiceImpl* report_service = reports->get();
  server->AddService(v1::ReportService::service_full_name(),
                     *std::move(reports),
                     [report_service] { report_service->StartDraining(); });
  return absl::OkStatus();
}

int RunIngestServer(const IngestServerConfig& config) {
  // Before any thread exists, so every thread inherits the mask and only
  // sigtimedwait below takes these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  server::RouteGrpcLogsToJson();
  // As match_server: the log writes to its own duplicate of stderr, and fd 2
  // becomes a pipe whose lines (libpng's warnings quote an agency's image
  // bytes, e.g. an ICC profile name) are logged escaped, at a bounded rate.
  std::unique_ptr<StderrCapture> library_output;
  int log_fd = STDERR_FILENO;
  if (config.capture_library_output) {
    log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (log_fd < 0) {
      return StartupError(absl::InternalError(
          absl::StrCat("cannot duplicate stderr: ", std::strerror(errno))));
    }
  }
  {
    server::LogOptions log_options;
    log_options.fd = log_fd;
    log_options.file = config.log_file;
    log_options.rotate_bytes = config.log_rotate_bytes;
    log_options.keep_files = config.log_keep_files;
    absl::Status s = server::ConfigureLogging(log_options);
    if (!s.ok()) return StartupError(s);
  }
  if (config.capture_library_output) {
    absl::StatusOr<std::unique_ptr<StderrCapture>> capture =
        StderrCapture::Start(server::LogLibraryOutput);
    if (!capture.ok()) return StartupError(capture.status());
    library_output = *std::move(capture);
  }

  LogLine("info", "config")
      .Str("version", HASHMATCH_VERSION)
      .Str("data", config.data)
      .Str("listen", config.listen)
      .Str("metrics_listen", config.metrics_listen)
      .Int("max_request_bytes", config.max_request_bytes)
      .Int("quorum", config.quorum)
      .Int("max_batch", config.max_batch)
      .Bool("allow_platform_suspend", config.allow_platform_suspend)
      .Int("max_image_bytes", config.max_image_bytes)
      .Int("max_principals", config.max_principals)
      .Int("max_image_pixels", config.max_image_pixels)
      .Int("max_jpeg_scans", config.max_jpeg_scans)
      .Int("max_decode_ms", config.max_decode_ms)
      .Str("log_file", config.log_file)
      .Bool("capture_library_output", config.capture_library_output)
      .Int("max_external_id_bytes", config.max_external_id_bytes)
      .Int("max_note_bytes", config.max_note_bytes)
      .Int("max_disputes_per_entry", config.max_disputes_per_entry)
      .Int("max_page_size", config.max_page_size)
      .Int("worker_threads", config.worker_threads)
      .Int("max_queued_calls", config.max_queued_calls)
      .Int("max_submit_streams", config.max_submit_streams)
      .Int("max_exports", config.max_exports)
      .Int("max_watch_streams", config.max_watch_streams)
      .Int("max_audit_streams", config.max_audit_streams)
      .Int("max_reports_per_call", config.max_reports_per_call)
      .Int("max_report_hashes", config.max_report_hashes)
      .Int("max_report_matches", config.max_report_matches)
      .Int("max_content_ref_bytes", config.max_content_ref_bytes)
      .Int("max_report_streams", config.max_report_streams)
      .Int("max_video_frames", config.max_video_frames)
      .Str("audit_verify", config.audit_verify)
      .Int("stream_idle_timeout_seconds", config.stream_idle_timeout_seconds)
      .Str("tls", config.tls_client_ca.empty()
                      ? (config.tls_cert.empty() ? "off" : "tls")
                      : "mtls")
      .Str("bootstrap_admin", config.bootstrap_admin)
      .Int("drain_seconds", config.drain_seconds)
      .Emit();

  absl::StatusOr<std::unique_ptr<IngestServer>> opened =
      IngestServer::Open(config);
  if (!opened.ok()) return StartupError(opened.status());
  std::unique_ptr<IngestServer> srv = *std::move(opened);
  absl::Status registered = RegisterIngestServices(srv.get());
  if (!registered.ok()) return StartupError(registered);
  absl::Status started = srv->Start();
  if (!started.ok()) return StartupError(started);
  LogLine("info", "serving")
      .Str("listen", config.listen)
      .Int("port", srv->port())
      .Int("metrics_port", srv->metrics_port())
      .Str("services", absl::StrJoin(srv->service_names(), ","))
      .Int("principals",
           static_cast<int64_t>(srv->context().principals->size()))
      .Int("store_sequence",
           static_cast<int64_t>(srv->context().store->LastSequence()))
      .Emit();

  int sig = 0;
  while (sig <= 0) {
    struct timespec timeout = {1, 0};
    sig = sigtimedwait(&signals, nullptr, &timeout);
  }
  const auto drain_start = std::chrono::steady_clock::now();
  LogLine("info", "drain_start")
      .Str("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT")
      .Int("in_flight", srv->active_calls())
      .Int("drain_seconds", config.drain_seconds)
      .Emit();
  const bool in_time = srv->Drain();
  srv.reset();
  LogLine("info", "drained")
      .Double("seconds", std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - drain_start)
                             .count())
      .Bool("cancelled_at_deadline", !in_time)
      .Emit();
  return kExitOk;
}

}  // namespace ingest
}  // namespace hashmatch
