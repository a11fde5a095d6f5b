// ReportSender: delivers the match server's ReportQueue to the ingestion
// server's ReportService (--report_to), and MatchReportOf, the one place a
// MATCH response becomes a report.
//
//   ReportSenderOptions options;
//   options.target = "ingest.example:50061";
//   options.token = "...";                       // role replica
//   ReportSender sender(queue.get(), options);   // starts its thread
//   ...  queue->Append(MatchReportOf(response, platform)); sender.Notify();
//   sender.Stop();                               // or the destructor
//
// Delivery: one thread takes up to max_batch of the oldest queued reports,
// sends them in one SubmitReports call (bearer token, deadline rpc_timeout)
// and removes them from the queue only after the OK answer carries one id
// per report: at-least-once. A lost answer means the same reports (same
// report_key) are sent again; the ingestion server stores them once. On an
// error it waits (exponential backoff from initial_backoff, doubled per
// failure up to max_backoff, reset by a success) and tries again, for ever:
// the queue is the buffer. A single report the server refuses for good
// (INVALID_ARGUMENT or RESOURCE_EXHAUSTED: malformed; FAILED_PRECONDITION:
// not consistent with the ingestion server's store, e.g. an entry it does
// not hold or another agency than the entry's; each when sent alone) would
// block the queue for ever, so it is logged and removed (counted as
// dropped); a batch refused so is retried one report at a time.
//
// Thread safety: Notify, Stop and the counters may be called from any
// thread. `queue` is not owned and must outlive the sender.
#ifndef HASHMATCH_SRC_SERVER_REPORT_SENDER_H_
#define HASHMATCH_SRC_SERVER_REPORT_SENDER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.pb.h"
#include "src/server/report_queue.h"

namespace hashmatch {
namespace server {

// The report of one MATCH response: the platform principal, content_ref,
// query hashes (signal, bytes, quality), matched entries (id, signal,
// distance, agency, classification), the index sequence and now as
// matched_at. Never media: the response holds none.
hashmatch::v1::MatchReport MatchReportOf(
    const hashmatch::v1::MatchResponse& response, const std::string& platform);

struct ReportSenderOptions {
  // The ingestion server, HOST:PORT. Required.
  std::string target;
  // Channel credentials. Default (null): insecure.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // TLS name expected in the server's certificate (empty: the host).
  std::string tls_server_name;
  // Bearer token (role replica); empty sends none.
  std::string token;
  // Reports per SubmitReports call. Default 100.
  int max_batch = 100;
  // Retry delays. Defaults 100 ms, doubling, at most 30 s.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
  // Deadline of one SubmitReports call. Default 10 s.
  std::chrono::milliseconds rpc_timeout{10000};
  // When the queue is empty, look again after this long even without
  // Notify. Default 1 s.
  std::chrono::milliseconds idle_poll{1000};
  // Called (on the sender thread) after each attempt: "delivered",
  // "failed" or "dropped", with its status. Optional.
  std::function<void(const std::string&, const absl::Status&)> on_event;
};

class ReportSender {
 public:
  ReportSender(ReportQueue* queue, const ReportSenderOptions& options);
  ~ReportSender();
  ReportSender(const ReportSender&) = delete;
  ReportSender& operator=(const ReportSender&) = delete;

  // A report was queued: wake the thread if it waits.
  void Notify();
  // Ends the thread (an attempt in flight is cancelled; what it sent stays
  // queued unless acknowledged). Idempotent.
  void Stop();

  // Reports delivered, failed attempts, reports dropped. A report leaves
  // the queue before it is counted: an empty queue does not mean the counts
  // are final yet.
  int64_t delivered() const { return delivered_.load(); }
  int64_t failed_attempts() const { return failed_attempts_.load(); }
  int64_t dropped() const { return dropped_.load(); }

 private:
  void Loop();
  // One SubmitReports call for `items`; OK only with one id per report.
  absl::Status Send(const std::vector<ReportQueue::Item>& items);
  // Waits up to `d` or until Stop/Notify. Returns false when stopping.
  bool Wait(std::chrono::milliseconds d, bool wake_on_notify);

  ReportQueue* const queue_;
  const ReportSenderOptions options_;
  std::unique_ptr<hashmatch::v1::ReportService::Stub> stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                         // GUARDED_BY(mu_)
  bool notified_ = false;                     // GUARDED_BY(mu_)
  grpc::ClientContext* in_flight_ = nullptr;  // GUARDED_BY(mu_)
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> failed_attempts_{0};
  std::atomic<int64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_REPORT_SENDER_H_
