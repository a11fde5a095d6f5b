#include "src/server/report_sender.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace server {

namespace v1 = ::hashmatch::v1;

v1::MatchReport MatchReportOf(const v1::MatchResponse& response,
                              const std::string& platform) {
  v1::MatchReport r;
  r.set_platform(platform);
  r.set_content_ref(response.content_ref());
  for (const v1::ComputedHash& h : response.query_hashes()) {
    v1::ReportedHash* out = r.add_query_hashes();
    out->set_signal_type(h.signal_type());
    out->set_hash(absl::HexStringToBytes(h.hex()));
    if (h.has_quality()) out->set_quality(h.quality());
  }
  for (const v1::EntryMatch& m : response.matches()) {
    v1::ReportedMatch* out = r.add_matches();
    out->set_entry_id(m.entry_id());
    out->set_signal_type(m.signal_type());
    out->set_distance(m.distance());
    out->set_source_agency(m.source_agency());
    out->set_classification(m.classification());
  }
  r.set_matched_at_micros(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  r.set_index_sequence(response.index_sequence());
  return r;
}

ReportSender::ReportSender(ReportQueue* queue,
                           const ReportSenderOptions& options)
    : queue_(queue), options_(options) {
  grpc::ChannelArguments args;
  if (!options_.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options_.tls_server_name);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.credentials != nullptr ? options_.credentials
                                      : grpc::InsecureChannelCredentials();
  stub_ = v1::ReportService::NewStub(
      grpc::CreateCustomChannel(options_.target, credentials, args));
  thread_ = std::thread([this] { Loop(); });
}

ReportSender::~ReportSender() { Stop(); }

void ReportSender::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  cv_.notify_all();
}

void ReportSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool ReportSender::Wait(std::chrono::milliseconds d, bool wake_on_notify) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_ || (wake_on_notify && notified_); });
  notified_ = false;
  return !stop_;
}

absl::Status ReportSender::Send(const std::vector<ReportQueue::Item>& items) {
  v1::SubmitReportsRequest request;
  for (const ReportQueue::Item& item : items) {
    *request.add_reports() = item.report;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.token);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return absl::CancelledError("sender stopping");
    in_flight_ = &context;
  }
  v1::SubmitReportsResponse response;
  const grpc::Status status =
      stub_->SubmitReports(&context, request, &response);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = nullptr;
  }
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("SubmitReports to ", options_.target, ": ",
                                     status.error_message()));
  }
  if (response.report_ids_size() != request.reports_size()) {
    return absl::InternalError(
        absl::StrCat("SubmitReports answered ", response.report_ids_size(),
                     " ids for ", request.reports_size(), " reports"));
  }
  return absl::OkStatus();
}

void ReportSender::Loop() {
  auto event = [this](const std::string& what, const absl::Status& s) {
    if (options_.on_event) options_.on_event(what, s);
  };
  std::chrono::milliseconds backoff = options_.initial_backoff;
  int batch = std::max(1, options_.max_batch);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    absl::StatusOr<std::vector<ReportQueue::Item>> items = queue_->Peek(batch);
    if (!items.ok()) {
      failed_attempts_.fetch_add(1);
      event("failed", items.status());
      if (!Wait(backoff, false)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (items->empty()) {
      if (!Wait(options_.idle_poll, true)) return;
      continue;
    }
    absl::Status s = Send(*items);
    if (s.ok()) {
      absl::Status removed = queue_->Remove(items->back().sequence);
      if (removed.ok()) {
        delivered_.fetch_add(static_cast<int64_t>(items->size()));
        event("delivered", s);
        backoff = options_.initial_backoff;
        batch = std::max(1, options_.max_batch);
        continue;
      }
      s = removed;  // delivered but still queued: sent again (stored once)
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    // Refused for good: malformed (INVALID_ARGUMENT, RESOURCE_EXHAUSTED) or
    // not consistent with the ingestion server's store (FAILED_PRECONDITION:
    // an entry it does not hold, another owner or signal type, a sequence
    // ahead of it). Sending it again cannot succeed.
    const bool refused = s.code() == absl::StatusCode::kInvalidArgument ||
                         s.code() == absl::StatusCode::kResourceExhausted ||
                         s.code() == absl::StatusCode::kFailedPrecondition;
    if (refused && items->size() > 1) {
      batch = 1;  // find the one the server refuses
      continue;
    }
    if (refused) {
      // The server will never take this report: drop it, log it.
      if (queue_->Remove(items->front().sequence).ok()) {
        dropped_.fetch_add(1);
        event("dropped", s);
        continue;
      }
    }
    failed_attempts_.fetch_add(1);
    event("failed", s);
    if (!Wait(backoff, false)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace server
}  // namespace hashmatch
