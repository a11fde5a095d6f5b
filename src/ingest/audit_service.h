// AuditServiceImpl: hashmatch.v1.AuditService (ingest.proto) on gRPC's
// callback API: auditors read the tamper-evident audit log (src/audit) and
// verify it themselves (`hashmatch audit verify --server`).
//
//   AuditServiceImpl audit_service(audit_log.get(), &authenticator,
//                                  AuditServiceOptions());
//   builder.RegisterService(&audit_service);
//
// ReadAuditLog, per stream: Authorize (auditor or admin; UNAUTHENTICATED /
// PERMISSION_DENIED), RESOURCE_EXHAUSTED past max_streams, OUT_OF_RANGE when
// from_index is past the head + 1 (from_index 0 reads from 1, proto3's
// default). Then the records from from_index up to the head at the time of
// the call, one message each, in index order, and OK. A read error (the file
// no longer holds what was verified at open) ends the stream with DATA_LOSS.
//
// Flow control: one write in flight per stream; the next record is read
// (from the log file, through the stream's own descriptor) only when the
// previous write completed, on the gRPC callback thread that completed it.
//
// Thread safety: all methods may be called concurrently. `log` and
// `authenticator` are not owned and must outlive the service. REQUIRES for
// the destructor: the grpc::Server is shut down.
#ifndef HASHMATCH_SRC_INGEST_AUDIT_SERVICE_H_
#define HASHMATCH_SRC_INGEST_AUDIT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/audit/audit_log.h"
#include "src/ingest/authz.h"

namespace hashmatch {
namespace ingest {

struct AuditServiceOptions {
  // ReadAuditLog streams open at once; more are RESOURCE_EXHAUSTED.
  // Default 8.
  int max_streams = 8;
};

class AuditServiceImpl final
    : public hashmatch::v1::AuditService::CallbackService {
 public:
  AuditServiceImpl(const audit::AuditLog* log,
                   const Authenticator* authenticator,
                   const AuditServiceOptions& options);
  AuditServiceImpl(const AuditServiceImpl&) = delete;
  AuditServiceImpl& operator=(const AuditServiceImpl&) = delete;

  int active_streams() const { return active_streams_.load(); }

  grpc::ServerWriteReactor<hashmatch::v1::AuditRecord>* ReadAuditLog(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ReadAuditLogRequest* request) override;

 private:
  class Stream;

  const audit::AuditLog* const log_;
  const Authenticator* const authenticator_;
  const AuditServiceOptions options_;
  std::atomic<int> active_streams_{0};
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_AUDIT_SERVICE_H_
