// IngestServer: the ingest_server process's parts (data directory, principal
// table, authenticator, audit sink, metrics, TLS, gRPC server) and the place
// where the ingestion services are registered.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<IngestServer> server,
//                    IngestServer::Open(config));   // stores, bootstrap
//   RegisterIngestServices(server.get());            // one line per service
//   RETURN_IF_ERROR(server->Start());               // serving, port files
//   ...
//   server->Drain();                                  // SIGTERM
//
// Adding a service. Each ingestion service is a gRPC callback service class
// that takes what it needs from IngestContext (the Authenticator, the store,
// the audit sink, ...). Register it in RegisterIngestServices
// (ingest_server.cc) with one line:
//
//   server->AddService(v1::IngestService::service_full_name(),
//                      std::make_unique<IngestServiceImpl>(c.authenticator,
//                                                          c.store, ...));
//
// with an optional drain hook that ends the service's long-lived streams
// (e.g. WatchChanges: finish with UNAVAILABLE "server draining").
//
// Every RPC of every service passes one interceptor that counts it in
// hashmatch_rpc_requests_total / hashmatch_rpc_latency_seconds {rpc, code}
// (rpc = "Service/Method") and writes one JSON log line (rpc, code,
// latency_ms, principal, peer, message on error; never metadata values such
// as tokens). Health checks are counted but not logged.
//
// Open, in order: DATA (created, mode 0700 if new), DATA/principals, the
// audit log DATA/audit (src/audit; its signing key from --audit_key, or
// DATA/audit/signing.key generated on first start; verified as
// --audit_verify says, logged as "audit_verified"), the bootstrap admin
// (only if no active admin exists: the token is written to
// --bootstrap_token_file with mode 0600 and never logged; its audit event has
// actor "system"), TLS files, the metrics endpoint, DATA/store (the
// HashStore; this process is its only writer: RocksDB's lock refuses a
// second one), then store changes that have no audit record yet (a crash
// between commit and audit) are audited. Each error names its stage
// ("data", "principals", "audit", "bootstrap", "tls", "metrics", "store",
// "audit_recovery").
//
// Thread safety: Open, AddService, Start and Drain are called from one
// thread; the context's members are thread-safe.
#ifndef HASHMATCH_SRC_INGEST_INGEST_SERVER_H_
#define HASHMATCH_SRC_INGEST_INGEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/store/hash_store.h"
#include "src/audit/audit_log.h"
#include "src/ingest/audit_sink.h"
#include "src/ingest/authz.h"
#include "src/ingest/ingest_server_config.h"
#include "src/ingest/principal_store.h"
#include "src/server/server_metrics.h"

namespace hashmatch {
namespace ingest {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitStartupError = 2;

// What a registered service may use; owned by the IngestServer, valid (and
// thread-safe) until it is destroyed, which happens after gRPC shut down.
struct IngestContext {
  const IngestServerConfig* config = nullptr;
  // DATA; each part keeps its files in its own subdirectory of it.
  std::string data_dir;
  HashStore* store = nullptr;
  PrincipalStore* principals = nullptr;
  const Authenticator* authenticator = nullptr;
  AuditSink* audit = nullptr;  // The audit log below, as a sink.
  const audit::AuditLog* audit_log = nullptr;
  server::ServerMetrics* metrics = nullptr;
};

class IngestServer;

class IngestServer {
 public:
  // A status whose message starts with the failing stage.
  static absl::StatusOr<std::unique_ptr<IngestServer>> Open(
      const IngestServerConfig& config);
  // Shuts gRPC down at once if it still runs, then closes everything.
  ~IngestServer();
  IngestServer(const IngestServer&) = delete;
  IngestServer& operator=(const IngestServer&) = delete;

  const IngestContext& context() const { return context_; }

  // Registers `service` (owned) under `full_name` (e.g.
  // "hashmatch.v1.AdminService", for health and the startup log).
  // `on_drain`, if set, runs when draining starts. REQUIRES: before Start.
  void AddService(const std::string& full_name,
                  std::unique_ptr<grpc::Service> service,
                  std::function<void()> on_drain = nullptr);
  // `listener` is called with the store's sequence after every commit
  // (StoreOptions::on_commit: keep it cheap and non-blocking, e.g.
  // ReplicationServiceImpl::NotifyCommitted). REQUIRES: before Start.
  void AddCommitListener(std::function<void(uint64_t)> listener);
  // Registered service names, in registration order.
  std::vector<std::string> service_names() const;

  // Listens on --listen; health "" and every service SERVING; writes the
  // port files. UNAVAILABLE naming the address when it cannot listen.
  absl::Status Start();
  int port() const { return port_; }
  int metrics_port() const;
  // RPCs between arriving and finishing (any service).
  int64_t active_calls() const { return active_calls_->load(); }

  // Health NOT_SERVING, the drain hooks, then gRPC shutdown: new RPCs are
  // refused at once, in-flight ones have --drain_seconds to finish and are
  // cancelled after. Streams that never end by themselves (a health Watch,
  // a service's watch without a drain hook) hold the drain to its deadline.
  // Returns true if it ended before the deadline.
  bool Drain();

 private:
  explicit IngestServer(const IngestServerConfig& config);
  absl::Status Bootstrap();

  struct Registered {
    std::string name;
    std::unique_ptr<grpc::Service> service;
    std::function<void()> on_drain;
  };

  const IngestServerConfig config_;
  std::unique_ptr<PrincipalStore> principals_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::mutex listeners_mu_;
  std::vector<std::function<void(uint64_t)>> commit_listeners_;
  std::unique_ptr<server::ServerMetrics> metrics_;
  std::unique_ptr<HashStore> store_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::vector<Registered> services_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::shared_ptr<std::atomic<int64_t>> active_calls_;
  int port_ = 0;
  IngestContext context_;
};

// Registers every ingestion service (AdminService, IngestService,
// ReplicationService, ReportService over DATA/reports,
// AuditService). A status naming the stage if one cannot open its data.
absl::Status RegisterIngestServices(IngestServer* server);

// The whole process behind main(): Open, RegisterIngestServices, Start, wait
// for SIGTERM/SIGINT, Drain. Returns kExitOk after a drain, or
// kExitStartupError after logging one JSON "startup_error" line.
// REQUIRES: called once, from the main thread, before any other thread.
int RunIngestServer(const IngestServerConfig& config);

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_INGEST_SERVER_H_
