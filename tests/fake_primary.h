// FakeIngestPrimary: a test fake of the ingestion server's primary side,
// in the test's own process: a real HashStore (the primary store, written
// directly by the test through store(), or through IngestService.Submit)
// served by the real ReplicationServiceImpl and IngestServiceImpl on
// loopback, with a FakeAuthenticator that knows one replica token and the
// agency token kAgencyToken (agency "agency-a"), and an audit sink that
// only counts. It stands in for ingest_server in follower tests and
// benchmarks until ingest_server is the primary there.
//
//   testing_util::FakeIngestPrimary primary;
//   ASSERT_TRUE(primary.Start(dir + "/primary", "replica-token").ok());
//   ... match_server --follow 127.0.0.1:<primary.port()> ...
//   primary.store()->Put({entry});       // pushed to followers on commit
//
// Thread safety: Start/Stop from one thread; store() as HashStore.
#ifndef HASHMATCH_TESTS_FAKE_PRIMARY_H_
#define HASHMATCH_TESTS_FAKE_PRIMARY_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "index/store/hash_store.h"
#include "src/ingest/audit_sink.h"
#include "src/ingest/ingest_core.h"
#include "src/ingest/ingest_service.h"
#include "src/ingest/replication_service.h"
#include "tests/fake_authenticator.h"

namespace hashmatch {
namespace testing_util {

// Counts audit events; keeps nothing.
class CountingAuditSink : public ingest::AuditSink {
 public:
  absl::Status Append(absl::Span<const ingest::AuditEvent> events) override {
    count_.fetch_add(events.size());
    return absl::OkStatus();
  }
  size_t count() const { return count_.load(); }

 private:
  std::atomic<size_t> count_{0};
};

class FakeIngestPrimary {
 public:
  static constexpr char kAgencyToken[] = "agency-token";

  FakeIngestPrimary() = default;
  FakeIngestPrimary(const FakeIngestPrimary&) = delete;
  FakeIngestPrimary& operator=(const FakeIngestPrimary&) = delete;
  ~FakeIngestPrimary() { Stop(); }

  // Opens (or creates) the store at `store_dir` and serves WatchChanges on
  // 127.0.0.1 at `port` (0: any free port) for `replica_token`.
  // `sync`: StoreOptions::sync of the primary store (ingest_server syncs).
  absl::Status Start(const std::string& store_dir,
                     const std::string& replica_token, int port = 0,
                     ingest::ReplicationServiceOptions options = {},
                     bool sync = false) {
    auth_.Add(replica_token, "replica", hashmatch::v1::ROLE_REPLICA);
    auth_.Add(kAgencyToken, "agency-a", hashmatch::v1::ROLE_AGENCY);
    StoreOptions store_options;
    store_options.sync = sync;
    store_options.on_commit = [this](uint64_t s) {
      if (ingest::ReplicationServiceImpl* f = feed_.load()) {
        f->NotifyCommitted(s);
      }
    };
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(store_options, store_dir);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    service_ = std::make_unique<ingest::ReplicationServiceImpl>(
        store_.get(), &auth_, options);
    feed_.store(service_.get());
    ingest_ = std::make_unique<ingest::IngestServiceImpl>(
        std::make_unique<ingest::IngestCore>(ingest::IngestOptions(),
                                             store_.get(), &audit_),
        auth_, ingest::IngestServiceOptions());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(service_.get());
    builder.RegisterService(ingest_.get());
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError("fake primary cannot listen");
    }
    return absl::OkStatus();
  }

  // Ends the streams, stops serving and closes the store.
  void Stop() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
    server_.reset();
    feed_.store(nullptr);
    ingest_.reset();
    service_.reset();
    store_.reset();
  }

  int port() const { return port_; }
  HashStore* store() { return store_.get(); }
  const ingest::ReplicationServiceImpl* service() const {
    return service_.get();
  }

 private:
  FakeAuthenticator auth_;
  CountingAuditSink audit_;
  std::atomic<ingest::ReplicationServiceImpl*> feed_{nullptr};
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<ingest::ReplicationServiceImpl> service_;
  std::unique_ptr<ingest::IngestServiceImpl> ingest_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_FAKE_PRIMARY_H_
