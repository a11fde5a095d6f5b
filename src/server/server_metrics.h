// ServerMetrics: the servers' Prometheus metrics (prometheus-cpp), served
// over HTTP at /metrics (match_server; ingest_server uses the rpc and ready
// metrics). This is the only file that talks to prometheus-cpp;
// its exceptions (e.g. the HTTP port is taken) become absl::Status here.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<ServerMetrics> m,
//                    ServerMetrics::Create("127.0.0.1:9464"));
//   m->ObserveRpc("MatchImage", "OK", 0.012);
//
// Metrics:
//   hashmatch_rpc_requests_total{rpc,code}        counter
//   hashmatch_rpc_latency_seconds{rpc,code}       histogram
//   hashmatch_verdicts_total{verdict,rule}        counter
//   hashmatch_index_entries{signal}               gauge
//   hashmatch_index_sequence                      gauge
//   hashmatch_decode_failures_total{reason}       counter
//   hashmatch_inflight_rpcs                       gauge
//   hashmatch_rejected_total{reason}              counter ("capacity")
//   hashmatch_ready                               gauge (1 when serving)
//   hashmatch_follow{what}                        gauge, with --follow:
//       what = applied_sequence, primary_sequence, lag_sequences,
//       lag_seconds, connected (0/1), bootstrapped (0/1)
//   hashmatch_follow_reconnects_total             counter, with --follow:
//       streams to the primary re-established after one that had delivered
//       messages ended (Follower's reconnects, src/server/follower.h)
//   hashmatch_stream_timeouts_total{rpc,limit}    counter: streams ended by a
//       server time limit; limit = idle (no message within the idle
//       timeout), upload (MatchVideo's whole-upload budget), write_stall (a
//       stream reader that stopped reading)
//
// Thread safety: all methods may be called concurrently.
#ifndef HASHMATCH_SRC_SERVER_SERVER_METRICS_H_
#define HASHMATCH_SRC_SERVER_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace server {

// A follower's state for the hashmatch_follow gauges.
struct FollowMetrics {
  uint64_t applied_sequence = 0;
  uint64_t primary_sequence = 0;
  uint64_t lag_sequences = 0;
  double lag_seconds = 0;
  bool connected = false;
  bool bootstrapped = false;
};

// Match reports (--report_to): queued reports, delivered (acknowledged),
// failed delivery attempts, and MATCH verdicts whose report was dropped
// (queue full or not writable).
struct ReportMetrics {
  int64_t queue_depth = 0;
  int64_t delivered = 0;
  int64_t failed_attempts = 0;
  int64_t dropped = 0;
};

class ServerMetrics {
 public:
  // `listen` is HOST:PORT for the HTTP endpoint (port 0 picks a free one);
  // empty keeps the metrics in memory only. UNAVAILABLE when the address
  // cannot be bound (the message names it), INVALID_ARGUMENT for a
  // malformed address.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      const std::string& listen);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The bound HTTP port; 0 when there is no endpoint.
  int port() const;

  void ObserveRpc(absl::string_view rpc, absl::string_view code,
                  double seconds);
  void CountVerdict(absl::string_view verdict, absl::string_view rule);
  void SetIndexEntries(absl::string_view signal, double entries);
  void SetIndexSequence(uint64_t sequence);
  void CountDecodeFailure(absl::string_view reason);
  void AddInflight(int delta);
  void CountRejected(absl::string_view reason);
  // One stream ended by a server time limit (see hashmatch_stream_timeouts).
  void CountStreamTimeout(absl::string_view rpc, absl::string_view limit);
  void SetReady(bool ready);
  void SetFollow(const FollowMetrics& follow);
  void CountFollowReconnect();
  void SetReports(const ReportMetrics& reports);

  // The text exposition of every metric (what /metrics serves).
  std::string Serialize() const;

 private:
  struct Impl;
  explicit ServerMetrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_SERVER_METRICS_H_
