#include "src/server/server_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace server {

struct ServerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = 0;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* latency = nullptr;
  prometheus::Family<prometheus::Counter>* verdicts = nullptr;
  prometheus::Family<prometheus::Gauge>* index_entries = nullptr;
  prometheus::Gauge* index_sequence = nullptr;
  prometheus::Family<prometheus::Counter>* decode_failures = nullptr;
  prometheus::Gauge* inflight = nullptr;
  prometheus::Family<prometheus::Counter>* rejected = nullptr;
  prometheus::Gauge* ready = nullptr;
  prometheus::Family<prometheus::Gauge>* follow = nullptr;
  prometheus::Counter* follow_reconnects = nullptr;
  prometheus::Family<prometheus::Gauge>* reports = nullptr;
  prometheus::Family<prometheus::Counter>* stream_timeouts = nullptr;
};

namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return *buckets;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    const std::string& listen) {
  auto impl = std::make_unique<Impl>();
  try {
    prometheus::Registry& r = *impl->registry;
    impl->requests = &prometheus::BuildCounter()
                          .Name("hashmatch_rpc_requests_total")
                          .Help("RPCs by method and status code")
                          .Register(r);
    impl->latency = &prometheus::BuildHistogram()
                         .Name("hashmatch_rpc_latency_seconds")
                         .Help("RPC latency by method and status code")
                         .Register(r);
    impl->verdicts = &prometheus::BuildCounter()
                          .Name("hashmatch_verdicts_total")
                          .Help("Verdicts by verdict and deciding rule")
                          .Register(r);
    impl->index_entries = &prometheus::BuildGauge()
                               .Name("hashmatch_index_entries")
                               .Help("Matchable (ACTIVE) entries by signal")
                               .Register(r);
    impl->index_sequence = &prometheus::BuildGauge()
                                .Name("hashmatch_index_sequence")
                                .Help("Store change sequence the index applied")
                                .Register(r)
                                .Add({});
    impl->decode_failures =
        &prometheus::BuildCounter()
             .Name("hashmatch_decode_failures_total")
             .Help("Images that failed to decode, by reason")
             .Register(r);
    impl->inflight = &prometheus::BuildGauge()
                          .Name("hashmatch_inflight_rpcs")
                          .Help("MatchService RPCs in flight")
                          .Register(r)
                          .Add({});
    impl->rejected = &prometheus::BuildCounter()
                          .Name("hashmatch_rejected_total")
                          .Help("RPCs refused before any work, by reason")
                          .Register(r);
    impl->ready = &prometheus::BuildGauge()
                       .Name("hashmatch_ready")
                       .Help("1 when the index is loaded and serving")
                       .Register(r)
                       .Add({});
    impl->rejected->Add({{"reason", "capacity"}});
    // Registered always, set only by a follower (--follow): absent series
    // would read as "no lag" on dashboards.
    impl->follow = &prometheus::BuildGauge()
                        .Name("hashmatch_follow")
                        .Help(
                            "Follower state (--follow): applied_sequence, "
                            "primary_sequence, lag_sequences, lag_seconds, "
                            "connected, bootstrapped")
                        .Register(r);
    impl->follow_reconnects =
        &prometheus::BuildCounter()
             .Name("hashmatch_follow_reconnects_total")
             .Help("WatchChanges streams to the primary that ended")
             .Register(r)
             .Add({});
    impl->reports = &prometheus::BuildGauge()
                         .Name("hashmatch_reports")
                         .Help(
                             "Match reports (--report_to): queue_depth, "
                             "delivered, failed_attempts, dropped")
                         .Register(r);
    impl->stream_timeouts =
        &prometheus::BuildCounter()
             .Name("hashmatch_stream_timeouts_total")
             .Help(
                 "Streams ended by a server time limit, by rpc and limit "
                 "(idle: no message in time; upload: total upload time; "
                 "write_stall: the client stopped reading)")
             .Register(r);
    if (!listen.empty()) {
      if (listen.find(':') == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--metrics_listen \"", listen, "\": expected HOST:PORT"));
      }
      impl->exposer = std::make_unique<prometheus::Exposer>(listen, 2);
      impl->exposer->RegisterCollectable(impl->registry);
      std::vector<int> ports = impl->exposer->GetListeningPorts();
      if (ports.empty()) {
        return absl::UnavailableError(
            absl::StrCat("--metrics_listen ", listen, ": no listening port"));
      }
      impl->port = ports[0];
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "metrics endpoint --metrics_listen ", listen, ": ", e.what()));
  } catch (...) {
    return absl::UnavailableError(absl::StrCat(
        "metrics endpoint --metrics_listen ", listen, ": unknown error"));
  }
  return std::unique_ptr<ServerMetrics>(new ServerMetrics(std::move(impl)));
}

ServerMetrics::ServerMetrics(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ServerMetrics::~ServerMetrics() = default;

int ServerMetrics::port() const { return impl_->port; }

void ServerMetrics::ObserveRpc(absl::string_view rpc, absl::string_view code,
                               double seconds) {
  const prometheus::Labels labels = {{"rpc", std::string(rpc)},
                                     {"code", std::string(code)}};
  impl_->requests->Add(labels).Increment();
  impl_->latency->Add(labels, LatencyBuckets()).Observe(seconds);
}

void ServerMetrics::CountVerdict(absl::string_view verdict,
                                 absl::string_view rule) {
  impl_->verdicts
      ->Add({{"verdict", std::string(verdict)}, {"rule", std::string(rule)}})
      .Increment();
}

void ServerMetrics::SetIndexEntries(absl::string_view signal, double entries) {
  impl_->index_entries->Add({{"signal", std::string(signal)}}).Set(entries);
}

void ServerMetrics::SetIndexSequence(uint64_t sequence) {
  impl_->index_sequence->Set(static_cast<double>(sequence));
}

void ServerMetrics::CountDecodeFailure(absl::string_view reason) {
  impl_->decode_failures->Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::AddInflight(int delta) {
  impl_->inflight->Increment(delta);
}

void ServerMetrics::CountStreamTimeout(absl::string_view rpc,
                                       absl::string_view limit) {
  impl_->stream_timeouts
      ->Add({{"rpc", std::string(rpc)}, {"limit", std::string(limit)}})
      .Increment();
}

void ServerMetrics::CountRejected(absl::string_view reason) {
  impl_->rejected->Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::SetReady(bool ready) { impl_->ready->Set(ready ? 1 : 0); }

void ServerMetrics::SetFollow(const FollowMetrics& m) {
  auto set = [this](const char* what, double v) {
    impl_->follow->Add({{"what", what}}).Set(v);
  };
  set("applied_sequence", static_cast<double>(m.applied_sequence));
  set("primary_sequence", static_cast<double>(m.primary_sequence));
  set("lag_sequences", static_cast<double>(m.lag_sequences));
  set("lag_seconds", m.lag_seconds);
  set("connected", m.connected ? 1 : 0);
  set("bootstrapped", m.bootstrapped ? 1 : 0);
}

void ServerMetrics::CountFollowReconnect() {
  impl_->follow_reconnects->Increment();
}

void ServerMetrics::SetReports(const ReportMetrics& m) {
  auto set = [this](const char* what, int64_t v) {
    impl_->reports->Add({{"what", what}}).Set(static_cast<double>(v));
  };
  set("queue_depth", m.queue_depth);
  set("delivered", m.delivered);
  set("failed_attempts", m.failed_attempts);
  set("dropped", m.dropped);
}

std::string ServerMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry->Collect());
}

}  // namespace server
}  // namespace hashmatch
