#include "src/server/match_reports.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "src/server/json_log.h"
#include "src/server/server_credentials.h"

namespace hashmatch {
namespace server {

absl::StatusOr<std::unique_ptr<MatchReports>> MatchReports::Start(
    const ServerConfig& config, ServerMetrics* metrics) {
  ReportQueueOptions queue_options;
  queue_options.max_reports = config.report_queue_max;
  absl::StatusOr<std::unique_ptr<ReportQueue>> queue =
      ReportQueue::Open(config.report_queue, queue_options);
  if (!queue.ok()) {
    return absl::Status(queue.status().code(),
                        absl::StrCat("--report_queue ", config.report_queue,
                                     ": ", queue.status().message()));
  }
  ReportSenderOptions options;
  options.target = config.report_to;
  options.max_batch = config.report_batch;
  options.tls_server_name = config.report_tls_server_name;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeFollowChannelCredentials(config.report_tls_ca, config.report_tls_cert,
                                   config.report_tls_key);
  if (!credentials.ok()) return credentials.status();
  options.credentials = *std::move(credentials);
  if (!config.report_token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadBearerTokenFile("--report_token_file", config.report_token_file);
    if (!token.ok()) return token.status();
    options.token = *std::move(token);
  }
  std::unique_ptr<MatchReports> reports(
      new MatchReports(*std::move(queue), metrics));
  MatchReports* r = reports.get();
  options.on_event = [r](const std::string& event, const absl::Status& s) {
    if (event != "delivered") {
      LogLine("warning", absl::StrCat("report_", event))
          .Str("code", absl::StatusCodeToString(s.code()))
          .Str("message", s.message())
          .Emit();
    }
    r->UpdateMetrics();
  };
  LogLine("info", "report_queue_open")
      .Str("queue_id", r->queue_->queue_id())
      .Int("queued", r->queue_->size())
      .Emit();
  reports->sender_ = std::make_unique<ReportSender>(r->queue_.get(), options);
  reports->sender_ptr_.store(reports->sender_.get());
  reports->UpdateMetrics();
  return reports;
}

MatchReports::MatchReports(std::unique_ptr<ReportQueue> queue,
                           ServerMetrics* metrics)
    : queue_(std::move(queue)), metrics_(metrics) {}

MatchReports::~MatchReports() {
  if (sender_ != nullptr) sender_->Stop();
}

void MatchReports::OnMatch(const hashmatch::v1::MatchResponse& response,
                           const std::string& platform) {
  absl::Status s = queue_->Append(MatchReportOf(response, platform));
  if (!s.ok()) {
    dropped_.fetch_add(1);
    LogLine("warning", "report_dropped")
        .Str("code", absl::StatusCodeToString(s.code()))
        .Str("message", s.message())
        .Emit();
  } else if (ReportSender* sender = sender_ptr_.load()) {
    sender->Notify();
  }
  UpdateMetrics();
}

void MatchReports::UpdateMetrics() {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  ReportMetrics m;
  m.queue_depth = queue_->size();
  m.dropped = dropped_.load();
  if (ReportSender* sender = sender_ptr_.load()) {
    m.dropped += sender->dropped();
    m.delivered = sender->delivered();
    m.failed_attempts = sender->failed_attempts();
  }
  metrics_->SetReports(m);
}

}  // namespace server
}  // namespace hashmatch
