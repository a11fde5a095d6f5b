// MatchReports: match_server's --report_to wiring. Every MATCH verdict
// becomes a MatchReport (MatchReportOf) appended durably to the ReportQueue
// in --report_queue, and a ReportSender delivers the queue to --report_to.
//
//   absl::StatusOr<std::unique_ptr<MatchReports>> reports =
//       MatchReports::Start(config, metrics.get());
//   service_options.on_match = [r = reports->get()](const auto& response,
//                                                   const auto& platform) {
//     r->OnMatch(response, platform);
//   };
//
// OnMatch runs on the thread that computed the MATCH, before the answer is
// sent, and returns once the report is in a synced group commit (see
// report_queue.h): an answered MATCH's report survives a crash. When the
// queue is full (--report_queue_max) or cannot be written, the MATCH is still
// answered (matching is never blocked), the report is dropped, a
// "report_dropped" warning is logged and hashmatch_reports{what="dropped"}
// counts it. Metrics hashmatch_reports{what=queue_depth|delivered|
// failed_attempts|dropped} are refreshed after every OnMatch and every
// delivery attempt.
//
// Thread safety: OnMatch may be called concurrently. `metrics` must outlive
// this object; destroy it after the MatchService (the sender thread stops in
// the destructor; unacknowledged reports stay queued for the next start).
#ifndef HASHMATCH_SRC_SERVER_MATCH_REPORTS_H_
#define HASHMATCH_SRC_SERVER_MATCH_REPORTS_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "proto/hashmatch/v1/match.pb.h"
#include "src/server/report_queue.h"
#include "src/server/report_sender.h"
#include "src/server/server_config.h"
#include "src/server/server_metrics.h"

namespace hashmatch {
namespace server {

class MatchReports {
 public:
  // Opens --report_queue, reads the credentials, starts the sender.
  static absl::StatusOr<std::unique_ptr<MatchReports>> Start(
      const ServerConfig& config, ServerMetrics* metrics);
  ~MatchReports();

  void OnMatch(const hashmatch::v1::MatchResponse& response,
               const std::string& platform);

 private:
  MatchReports(std::unique_ptr<ReportQueue> queue, ServerMetrics* metrics);
  // Publishes the queue depth and the counters. Serialised by metrics_mu_:
  // two threads (OnMatch, the sender's events) could otherwise publish an
  // older depth last and leave the gauge stale until the next event.
  void UpdateMetrics();

  const std::unique_ptr<ReportQueue> queue_;
  ServerMetrics* const metrics_;
  std::mutex metrics_mu_;
  std::atomic<int64_t> dropped_{0};
  std::unique_ptr<ReportSender> sender_;
  // sender_, for the sender thread's own callbacks (set once, after start).
  std::atomic<ReportSender*> sender_ptr_{nullptr};
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_MATCH_REPORTS_H_
