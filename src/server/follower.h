// Follower: keeps a local HashStore a copy of the primary's (the ingestion
// server's) by following ReplicationService.WatchChanges. What
// `match_server --follow ADDR` runs.
//
//   FollowerOptions options;
//   options.target = "ingest.example:50061";
//   options.token = "...";                       // role replica
//   options.on_applied = [&](uint64_t s) { index->CatchUp(); };
//   Follower follower(store.get(), options);
//   follower.Start();
//   ... follower.status().bootstrapped ...
//   follower.Stop();
//
// On each (re)connection it asks for the changes after the store's own
// LastSequence(); an empty store (LastSequence() == 0) asks for a snapshot
// and loads it with BeginSnapshot / AddSnapshotEntries / FinishSnapshot.
// Continuity: when the store's own log holds its last change L, the
// follower asks from L - 1 and requires the primary's change L to equal its
// own (then drops it): a store from another primary's history is never
// extended (FAILED_PRECONDITION, retried, nothing applied).
// Change batches go to HashStore::ApplyChanges, which persists the applied
// sequence atomically with the data, so a restart or reconnection resumes
// with no gap and no duplicate. After each committed snapshot or batch,
// `on_applied` runs with the new last sequence (match_server catches its
// index up there). The follower writes nothing else to the store.
//
// A stream that ends (primary down, network, OUT_OF_RANGE, a store error)
// is retried after a backoff that doubles from backoff_initial_ms up to
// backoff_max_ms and resets once a message arrives.
//
// Reconnects: a stream whose first message arrives after an earlier stream
// of this Follower had delivered messages and ended is a reconnect: it is
// counted in status().reconnects, reported as the "reconnected" event and
// passed to on_reconnect (match_server counts it in
// hashmatch_follow_reconnects_total). Attempts that get no message (the
// primary still down) are not reconnects, nor is the first connection.
//
// Lag: lag_sequences = primary_sequence - applied_sequence, from the last
// message; lag_seconds = how long the follower has known of a change it has
// not applied (0 while caught up; it keeps growing while the primary is
// unreachable only if a change was already known to be missing).
//
// Thread safety: Start and Stop from one thread; status() from any thread.
// `store` is not owned and must outlive the Follower.
#ifndef HASHMATCH_SRC_SERVER_FOLLOWER_H_
#define HASHMATCH_SRC_SERVER_FOLLOWER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.pb.h"

namespace hashmatch {
namespace server {

struct FollowerOptions {
  // The primary's gRPC address (HOST:PORT). Required.
  std::string target;
  // Channel credentials. Default (null): insecure.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Overrides the TLS server name checked against the primary's
  // certificate. Default empty: the host of `target`.
  std::string tls_server_name;
  // Bearer token sent as "authorization: Bearer TOKEN". Default empty: none
  // (e.g. mTLS only).
  std::string token;
  // WatchChangesRequest.follower: this follower's name in the primary's
  // logs. Default "match_server".
  std::string name = "match_server";
  // Reconnection backoff. Defaults 100 ms doubling to 5000 ms.
  int backoff_initial_ms = 100;
  int backoff_max_ms = 5000;
  // Largest message accepted from the primary. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // Runs on the follower thread after each committed snapshot or change
  // batch, with the store's new last sequence. Default: none.
  std::function<void(uint64_t last_sequence)> on_applied;
  // Runs on the follower thread for each notable event (connected, stream
  // ended, snapshot loaded, apply failed), for logs. Default: none.
  std::function<void(const std::string& event, const absl::Status& status)>
      on_event;
  // Runs on the follower thread at each reconnect (see above), before the
  // message that made it is applied. Default: none.
  std::function<void()> on_reconnect;
};

struct FollowerStatus {
  // The store holds a complete copy at some sequence (it had data at Start,
  // or a snapshot was loaded).
  bool bootstrapped = false;
  // A stream to the primary is open and has delivered a message.
  bool connected = false;
  uint64_t applied_sequence = 0;
  uint64_t primary_sequence = 0;  // From the last message.
  int64_t primary_time_micros = 0;
  uint64_t lag_sequences = 0;
  double lag_seconds = 0;
  uint64_t streams_ended = 0;
  // Reconnects so far (see above).
  uint64_t reconnects = 0;
};

class Follower {
 public:
  Follower(HashStore* store, const FollowerOptions& options);
  // Stops (see Stop).
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Starts the follower thread.
  void Start();
  // Cancels the stream, waits for the thread (a batch being applied is
  // committed or not, never half). Idempotent.
  void Stop();

  FollowerStatus status() const;

 private:
  void Run();
  // One stream, until it ends; the status it ended with.
  absl::Status FollowOnce();
  absl::Status Handle(const hashmatch::v1::WatchChangesResponse& message,
                      bool* loading,
                      std::optional<hashmatch::v1::Change>* overlap);
  void Event(const std::string& event, const absl::Status& status);
  // Sets the applied sequence and recomputes the lag from the last known
  // primary sequence.
  void UpdateLagLocked(uint64_t applied, bool loading)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sleeps up to `d` unless stopped; false if stopped.
  bool SleepUnlessStopped(std::chrono::milliseconds d);

  HashStore* const store_;
  const FollowerOptions options_;
  std::shared_ptr<grpc::Channel> channel_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  FollowerStatus status_ ABSL_GUARDED_BY(mu_);
  // When a change the follower has not applied was first known.
  std::chrono::steady_clock::time_point behind_since_ ABSL_GUARDED_BY(mu_);
  bool behind_ ABSL_GUARDED_BY(mu_) = false;
  // Some stream of this Follower has delivered a message.
  bool ever_connected_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_FOLLOWER_H_
