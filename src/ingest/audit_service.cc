#include "src/ingest/audit_service.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace ingest {

namespace v1 = ::hashmatch::v1;

class AuditServiceImpl::Stream
    : public grpc::ServerWriteReactor<v1::AuditRecord> {
 public:
  Stream(AuditServiceImpl* service, grpc::CallbackServerContext* context,
         const v1::ReadAuditLogRequest& request)
      : service_(service), context_(context), request_(request) {}

  void Start() {
    absl::Status status = Admit();
    if (!status.ok()) {
      End(ToGrpcStatus(status));
      return;
    }
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED,
                       "stream cancelled or write failed"));
      return;
    }
    WriteNext();
  }

  // A write is in flight whenever the stream is not finished, so its
  // OnWriteDone(false) finishes a cancelled stream.
  void OnCancel() override { cancelled_.store(true); }

  void OnDone() override {
    service_->active_streams_.fetch_sub(1);
    delete this;
  }

 private:
  absl::Status Admit() {
    absl::StatusOr<v1::Principal> who =
        Authorize(*service_->authenticator_, CredentialsOf(*context_),
                  IngestRpc::kReadAuditLog);
    if (!who.ok()) return who.status();
    if (service_->active_streams_.load() > service_->options_.max_streams) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many ReadAuditLog streams (limit ",
                       service_->options_.max_streams, ")"));
    }
    const uint64_t from = std::max<uint64_t>(request_.from_index(), 1);
    const uint64_t last = service_->log_->last_index();
    if (from > last + 1) {
      return absl::OutOfRangeError(absl::StrCat(
          "from_index ", from, " is past the audit log's head ", last));
    }
    ASSIGN_OR_RETURN(reader_, service_->log_->NewReader(from));
    return absl::OkStatus();
  }

  // Writes the next record, or finishes at the end (or on cancellation or
  // a read error). Called only when no write is in flight.
  void WriteNext() {
    if (cancelled_.load()) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      return;
    }
    absl::StatusOr<bool> more = reader_->Next(&record_);
    if (!more.ok()) {
      End(ToGrpcStatus(more.status()));
      return;
    }
    if (!*more) {
      End(grpc::Status::OK);
      return;
    }
    StartWrite(&record_);
  }

  void End(const grpc::Status& status) { Finish(status); }

  AuditServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::ReadAuditLogRequest request_;
  std::unique_ptr<audit::AuditReader> reader_;
  // Only touched while no write is in flight.
  v1::AuditRecord record_;
  std::atomic<bool> cancelled_{false};
};

AuditServiceImpl::AuditServiceImpl(const audit::AuditLog* log,
                                   const Authenticator* authenticator,
                                   const AuditServiceOptions& options)
    : log_(log), authenticator_(authenticator), options_(options) {}

grpc::ServerWriteReactor<v1::AuditRecord>* AuditServiceImpl::ReadAuditLog(
    grpc::CallbackServerContext* context,
    const v1::ReadAuditLogRequest* request) {
  active_streams_.fetch_add(1);
  auto* stream = new Stream(this, context, *request);
  stream->Start();
  return stream;
}

}  // namespace ingest
}  // namespace hashmatch
