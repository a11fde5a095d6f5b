// ReplicationServiceImpl: hashmatch.v1.ReplicationService (ingest.proto) on
// gRPC's callback API: the change feed that match servers follow.
//
//   std::atomic<ReplicationServiceImpl*> feed{nullptr};
//   StoreOptions store_options;
//   store_options.on_commit = [&](uint64_t s) {
//     if (ReplicationServiceImpl* f = feed.load()) f->NotifyCommitted(s);
//   };
//   ... open the store ...
//   ReplicationServiceImpl replication(store.get(), &authenticator,
//                                      ReplicationServiceOptions());
//   feed.store(&replication);
//   builder.RegisterService(&replication);
//
// WatchChanges, per stream: Authorize (role replica; UNAUTHENTICATED /
// PERMISSION_DENIED), RESOURCE_EXHAUSTED past max_streams, OUT_OF_RANGE when
// after_sequence is ahead of the store's last sequence. Then, if the request
// asks for a snapshot or the change log no longer holds after_sequence + 1,
// a snapshot: SnapshotEntries messages (entries in id order, tombstones
// included, all read from one store snapshot at sequence S, at most
// max_snapshot_entries / about max_message_bytes each), then SnapshotEnd{S,
// count}. Then ChangeBatch messages of consecutive changes after S (or after
// after_sequence), at most max_batch_changes / about max_message_bytes each,
// and live changes as they commit: NotifyCommitted wakes the feed at once
// (without it, new changes are found at the next heartbeat tick). A stream
// that has written nothing for heartbeat_interval_ms gets a Heartbeat. Every
// message carries the store's last sequence and the clock (primary_sequence,
// primary_time_micros). The stream runs until the client cancels (or the
// server shuts down); a store read error ends it with that error.
//
// Flow control: one write in flight per stream; the next message is read
// from the store only when the previous write completed, so a slow follower
// holds at most one message (plus, during a snapshot, a RocksDB snapshot).
// A follower that stops reading would hold them, and a max_streams slot,
// for ever: a write not complete after write_stall_timeout_ms cancels the
// stream (the client sees CANCELLED; on_stream_timeout is told with limit
// "write_stall"). Idle streams are not affected: heartbeats are written,
// and completed, like any message.
//
// Threading: one internal pump thread wakes streams on NotifyCommitted and
// every heartbeat_interval_ms / 2; writes continue from gRPC's callback
// threads. Thread safety: all public methods may be called concurrently.
// `store` and `authenticator` are not owned and must outlive the service.
// REQUIRES for the destructor: the grpc::Server is shut down (every stream
// done).
#ifndef HASHMATCH_SRC_INGEST_REPLICATION_SERVICE_H_
#define HASHMATCH_SRC_INGEST_REPLICATION_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/deadline_watchdog.h"
#include "src/ingest/authz.h"

namespace hashmatch {
namespace ingest {

struct ReplicationServiceOptions {
  // A stream idle this long gets a Heartbeat. Default 1000 ms.
  int heartbeat_interval_ms = 1000;
  // Most changes in one ChangeBatch. Default 1000.
  size_t max_batch_changes = 1000;
  // Most entries in one SnapshotEntries message. Default 1000.
  size_t max_snapshot_entries = 1000;
  // A message stops growing once its entries/changes reach this many bytes
  // (it always holds at least one). Keep well under the followers' receive
  // limit (gRPC's default is 4 MiB). Default 1 MiB.
  size_t max_message_bytes = 1 << 20;
  // WatchChanges streams open at once; more are RESOURCE_EXHAUSTED.
  // Default 64.
  int max_streams = 64;
  // A write (message to the follower) not complete after this long cancels
  // the stream. Default 30 s (ingest_server --stream_idle_timeout_seconds).
  int write_stall_timeout_ms = 30000;
  // Called (on a watchdog thread; keep it short) when a stream is ended by
  // a time limit: ("WatchChanges", "write_stall"). Default: none.
  std::function<void(absl::string_view rpc, absl::string_view limit)>
      on_stream_timeout;
  // Clock for primary_time_micros (microseconds since the epoch). Default
  // (empty): the system clock.
  std::function<int64_t()> now_micros;
};

class ReplicationServiceImpl final
    : public hashmatch::v1::ReplicationService::CallbackService {
 public:
  ReplicationServiceImpl(const HashStore* store,
                         const Authenticator* authenticator,
                         const ReplicationServiceOptions& options);
  ~ReplicationServiceImpl() override;
  ReplicationServiceImpl(const ReplicationServiceImpl&) = delete;
  ReplicationServiceImpl& operator=(const ReplicationServiceImpl&) = delete;

  // Wakes every stream to send the changes up to `sequence`. Cheap and
  // non-blocking: call it from StoreOptions::on_commit.
  void NotifyCommitted(uint64_t sequence);

  // Ends every open stream with UNAVAILABLE "server draining" (a stream
  // with a write in flight ends when it completes) and refuses new ones the
  // same way: for a server's drain, so followers reconnect elsewhere or
  // later instead of holding the shutdown to its deadline.
  void StartDraining();

  // Streams open now.
  int active_streams() const { return active_streams_.load(); }

  grpc::ServerWriteReactor<hashmatch::v1::WatchChangesResponse>* WatchChanges(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::WatchChangesRequest* request) override;

 private:
  class Stream;
  friend class Stream;

  int64_t NowMicros() const;
  void PumpLoop();
  void Register(Stream* stream);
  void Unregister(Stream* stream);

  const HashStore* const store_;
  const Authenticator* const authenticator_;
  const ReplicationServiceOptions options_;
  std::atomic<int> active_streams_{0};
  std::atomic<bool> draining_{false};

  std::mutex streams_mu_;
  std::set<Stream*> streams_ ABSL_GUARDED_BY(streams_mu_);

  std::mutex pump_mu_;
  std::condition_variable pump_cv_;
  bool notified_ ABSL_GUARDED_BY(pump_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(pump_mu_) = false;
  // Cancels streams whose write stalls (write_stall_timeout_ms).
  DeadlineWatchdog watchdog_;
  std::thread pump_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_REPLICATION_SERVICE_H_
