// Status helpers for absl::Status / absl::StatusOr code paths.
//
// Debian's Abseil (20220623) ships no status macros, so we keep these two:
//
//   absl::Status Load(...) {
//     RETURN_IF_ERROR(CheckHeader(bytes));
//     ASSIGN_OR_RETURN(DecodedImage image, Decode(bytes));
//     ...
//   }
#ifndef HASHMATCH_SRC_COMMON_STATUS_MACROS_H_
#define HASHMATCH_SRC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HM_STATUS_CONCAT_INNER_(a, b) a##b
#define HM_STATUS_CONCAT_(a, b) HM_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status hm_status_ = (expr);      \
    if (!hm_status_.ok()) return hm_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`, which may be a
// declaration ("auto x") or an existing lvalue.
#define ASSIGN_OR_RETURN(lhs, rexpr)                                        \
  HM_ASSIGN_OR_RETURN_IMPL_(HM_STATUS_CONCAT_(hm_statusor_, __LINE__), lhs, \
                            rexpr)

#define HM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // HASHMATCH_SRC_COMMON_STATUS_MACROS_H_
