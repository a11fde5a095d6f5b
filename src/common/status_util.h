// Conversions between absl::Status and grpc::Status. The codes are the same
// numbers (absl documents them as gRPC's), so the mapping is 1:1; the
// message is kept.
//
//   reactor->Finish(ToGrpcStatus(matcher.MatchImage(req).status()));
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_COMMON_STATUS_UTIL_H_
#define HASHMATCH_SRC_COMMON_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace hashmatch {

grpc::Status ToGrpcStatus(const absl::Status& status);

// "OK", "INVALID_ARGUMENT", ... ("UNKNOWN_CODE_<n>" outside 0..16). Used as
// the `code` metric label and log field.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_STATUS_UTIL_H_
