// FakeIngestPrimary: a test fake of the ingestion server's primary side,
// in the test's own process: a real HashStore (the primary store, written
// directly by the test through store()) served by the real
// ReplicationServiceImpl on loopback, with a FakeAuthenticator that knows
// one replica token. It stands in for ingest_server in follower tests and
// benchmarks; it has no IngestService.
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
#include "src/ingest/replication_service.h"
#include "tests/fake_authenticator.h"

namespace hashmatch {
namespace testing_util {

class FakeIngestPrimary {
 public:
  FakeIngestPrimary() = default;
  FakeIngestPrimary(const FakeIngestPrimary&) = delete;
  FakeIngestPrimary& operator=(const FakeIngestPrimary&) = delete;
  ~FakeIngestPrimary() { Stop(); }

  // Opens (or creates) the store at `store_dir` and serves WatchChanges on
  // 127.0.0.1 at `port` (0: any free port) for `replica_token`.
  absl::Status Start(const std::string& store_dir,
                     const std::string& replica_token, int port = 0,
                     ingest::ReplicationServiceOptions options = {}) {
    auth_.Add(replica_token, "replica", hashmatch::v1::ROLE_REPLICA);
    auth_.Add("agency-token", "agency", hashmatch::v1::ROLE_AGENCY);
    StoreOptions store_options;
    store_options.sync = false;
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
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(service_.get());
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
  std::atomic<ingest::ReplicationServiceImpl*> feed_{nullptr};
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<ingest::ReplicationServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_FAKE_PRIMARY_H_
