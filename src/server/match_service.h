// MatchServiceImpl: hashmatch.v1.MatchService on gRPC's callback API, in
// front of a Matcher (src/match/matcher.h).
//
//   MatchServiceImpl service(options, metrics.get(), tokens.get());
//   builder.RegisterService(&service);     // serve at once: RPCs answer
//   ...                                    // UNAVAILABLE "index loading"
//   service.SetMatcher(matcher.get());     // now they match
//   ...
//   service.StartDraining();               // new RPCs: UNAVAILABLE
//
// Each RPC, in order: refused UNAVAILABLE while draining or before
// SetMatcher; UNAUTHENTICATED without a known token (when `tokens` is set);
// RESOURCE_EXHAUSTED "server at capacity (N in flight)" when
// max_concurrent_rpcs RPCs are already working (no queue); DEADLINE_EXCEEDED
// or CANCELLED when the call is already expired or cancelled; then the
// Matcher, whose absl codes map 1:1 to gRPC codes. Every RPC gets one JSON
// log line (rpc, code, latency_ms, verdict, rule, content_ref, principal,
// peer; never media) and the request/latency/verdict metrics.
//
// Threading: admission runs on the gRPC callback thread that delivered the
// request. MatchHashes and GetIndexInfo (microseconds) then run inline;
// MatchImage and MatchBatch (decode + hash, tens of ms) run on a WorkerPool,
// so gRPC's few callback threads are never tied up by decoding: measured
// with them inline, 8 concurrent MatchImage calls against a limit of 2 were
// all queued inside gRPC (0 refused) instead of 6 being refused at once.
// With the pool, MatchHashes stays fast under image load (2 busy cores, 16
// concurrent MatchImage calls: MatchHashes p50 0.41 ms, p99 5.6 ms). The
// pool's queue holds only admitted calls, so it is bounded by
// max_concurrent_rpcs (memory: up to max_concurrent_rpcs requests of up to
// max_request_bytes each).
//
// Thread safety: all methods may be called concurrently. `metrics` and
// `tokens` (nullable: no auth) are not owned and must outlive the service;
// so must the Matcher passed to SetMatcher.
#ifndef HASHMATCH_SRC_SERVER_MATCH_SERVICE_H_
#define HASHMATCH_SRC_SERVER_MATCH_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/common/deadline_watchdog.h"
#include "src/common/worker_pool.h"
#include "src/match/matcher.h"
#include "src/server/concurrency_limiter.h"
#include "src/server/principal_limiter.h"
#include "src/server/server_metrics.h"
#include "src/server/token_auth.h"

namespace hashmatch {
namespace server {

struct MatchServiceOptions {
  // MatchService RPCs working at once; more are refused. Default 64.
  int max_concurrent_rpcs = 64;
  // Log one line per RPC. Default true.
  bool log_rpcs = true;
  // Threads that decode and hash images (MatchImage, MatchBatch).
  // Default: one per core.
  int worker_threads = static_cast<int>(std::thread::hardware_concurrency());
  // Called with every MATCH response (MatchImage, MatchHashes, each MatchBatch
  // item) and the calling platform (the token's name; "" without tokens)
  // before the answer is sent (match reports: src/server/match_reports.h).
  // It may block (the report queue's synced group commit), so it runs on
  // its own pool of `on_match_threads`, never on a gRPC callback thread or
  // an image worker: a call that did not MATCH never waits behind it.
  // Default: none.
  std::function<void(const hashmatch::v1::MatchResponse&, const std::string&)>
      on_match;
  // Threads running on_match (only created with on_match). Concurrent calls
  // share one fsync in the report queue, so more threads mean larger
  // groups. Default 16.
  int on_match_threads = 16;
  // MatchVideo calls at once (each buffers its upload in memory, up to the
  // Matcher's video max_bytes); more are RESOURCE_EXHAUSTED. Default 4.
  int max_concurrent_videos = 4;
  // Per authenticated caller (token platform, else client certificate;
  // anonymous calls are not limited per caller): calls in flight and the
  // image bytes they hold. Default: no limits.
  PrincipalLimits principal_limits;

  // An admitted MatchVideo whose next message (header, chunk or
  // half-close) has not arrived this long after the previous one (or the
  // call's start) ends with DEADLINE_EXCEEDED naming the limit, and its
  // slot is free at once. Default 20 s (--video_idle_timeout_seconds).
  int video_idle_timeout_ms = 20000;
  // The same for a MatchVideo whose upload (start to half-close) takes
  // longer than this in all, however steadily it trickles. Decoding after
  // the upload has its own limit (the Matcher's max_decode_seconds).
  // Default 300 s (--video_upload_timeout_seconds).
  int video_upload_timeout_ms = 300000;
};

// A MatchVideo MATCH as a MatchResponse for on_match (match reports): the
// matched entries (lane VPDQ, or PDQ for a still image) and, as query
// hashes, the PDQ of up to `max_hashes` query frames (matched ones first).
hashmatch::v1::MatchResponse ReportableVideoMatch(
    const hashmatch::v1::MatchVideoResponse& video, int max_hashes);

// The decode-failure metric's reason for a MatchImage error, or "" when the
// error is not about the image (e.g. a bad option). Reasons: "empty",
// "too_large", "too_costly" (a JPEG over the scan limit, decoding over its
// time limit), "unsupported", "corrupt".
std::string DecodeFailureReason(const absl::Status& status);

class MatchServiceImpl final
    : public hashmatch::v1::MatchService::CallbackService {
 public:
  MatchServiceImpl(const MatchServiceOptions& options, ServerMetrics* metrics,
                   const TokenTable* tokens);
  // Runs the image tasks still queued, then joins the worker threads.
  // REQUIRES: the grpc::Server is shut down.
  ~MatchServiceImpl() override;
  MatchServiceImpl(const MatchServiceImpl&) = delete;
  MatchServiceImpl& operator=(const MatchServiceImpl&) = delete;

  // Starts answering with `matcher` (not owned).
  void SetMatcher(const Matcher* matcher);
  // From now on every RPC is refused with UNAVAILABLE "server draining".
  void StartDraining();
  // Image decodes still running stop at their next check (CANCELLED): the
  // drain deadline has come. Idempotent.
  void CancelRunning();

  // Seconds the oldest image task still queued for the worker pool has
  // waited (0 when none waits): readiness turns NOT_SERVING while the pool
  // is saturated (match_server --max_queue_wait_ms).
  double OldestQueuedSeconds() const;

  int64_t in_flight() const { return limiter_.in_flight(); }
  // MatchService calls between entering a handler and finishing (admitted or
  // not). After StartDraining, once this is 0 no call can start work any
  // more: the server may be shut down without waiting for other streams
  // (e.g. health Watch).
  int64_t active_calls() const { return active_calls_.load(); }

  grpc::ServerUnaryReactor* MatchImage(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::MatchImageRequest* request,
      hashmatch::v1::MatchResponse* response) override;
  grpc::ServerUnaryReactor* MatchHashes(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::MatchHashesRequest* request,
      hashmatch::v1::MatchResponse* response) override;
  grpc::ServerUnaryReactor* MatchBatch(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::MatchBatchRequest* request,
      hashmatch::v1::MatchBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetIndexInfo(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::GetIndexInfoRequest* request,
      hashmatch::v1::IndexInfo* response) override;
  // Admission as the others (plus max_concurrent_videos) when the call
  // starts; the chunks are gathered in memory on the callback threads (over
  // the limit: RESOURCE_EXHAUSTED at once), then decoded and matched on the
  // worker pool. While the upload is read, a watchdog thread ends the call
  // with DEADLINE_EXCEEDED when a message is later than
  // video_idle_timeout_ms or the upload outlasts video_upload_timeout_ms
  // (logged as "video_upload_timeout", counted in
  // hashmatch_stream_timeouts_total{rpc="MatchVideo"}): header-only or
  // stalled uploads cannot hold the video slots.
  grpc::ServerReadReactor<hashmatch::v1::MatchVideoRequest>* MatchVideo(
      grpc::CallbackServerContext* context,
      hashmatch::v1::MatchVideoResponse* response) override;

 private:
  struct CallLog;
  struct Call;
  class VideoReactor;
  // Admission (drain, loading, auth, capacity) on the gRPC thread, then,
  // inline or on the worker pool (`offload`), the deadline/cancellation
  // check and `work`; Finish logs, records metrics and finishes the reactor.
  template <typename Work>
  grpc::ServerUnaryReactor* Handle(absl::string_view rpc,
                                   grpc::CallbackServerContext* context,
                                   bool offload, int64_t request_bytes,
                                   Work work);
  grpc::Status Admit(Call* call);
  // The call's deadline and cancellation (the client's, or CancelRunning)
  // for the Matcher. `context` must outlive the returned control.
  MatchControl ControlFor(const grpc::CallbackServerContext* context) const;
  void Finish(Call* call, const grpc::Status& status);
  // Hands the call's MATCH responses to on_match (on its pool) and then
  // finishes it; or finishes it at once.
  void Complete(std::shared_ptr<Call> call, const grpc::Status& status);
  void RecordResponse(const hashmatch::v1::MatchResponse& response,
                      CallLog* log);

  const MatchServiceOptions options_;
  ServerMetrics* const metrics_;
  const TokenTable* const tokens_;
  ConcurrencyLimiter limiter_;
  ConcurrencyLimiter video_limiter_;
  PrincipalLimiter principal_limiter_;
  std::atomic<const Matcher*> matcher_{nullptr};
  std::atomic<bool> draining_{false};
  std::atomic<bool> cancel_running_{false};
  std::atomic<int64_t> active_calls_{0};
  std::unique_ptr<WorkerPool> pool_;
  // Ends MatchVideo uploads that stall (video_idle_timeout_ms,
  // video_upload_timeout_ms).
  DeadlineWatchdog video_watchdog_;
  // Runs on_match and then finishes MATCH calls; declared last so that it is
  // destroyed (running its queued tasks) first.
  std::unique_ptr<WorkerPool> on_match_pool_;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_MATCH_SERVICE_H_
