#include "src/common/status_util.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

TEST(StatusUtilTest, MapsEveryAbslCodeOneToOne) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const std::vector<std::pair<absl::Status, grpc::StatusCode>> cases = {
      {absl::CancelledError("c"), grpc::StatusCode::CANCELLED},
      {absl::UnknownError("c"), grpc::StatusCode::UNKNOWN},
      {absl::InvalidArgumentError("c"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::DeadlineExceededError("c"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::NotFoundError("c"), grpc::StatusCode::NOT_FOUND},
      {absl::AlreadyExistsError("c"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::PermissionDeniedError("c"), grpc::StatusCode::PERMISSION_DENIED},
      {absl::ResourceExhaustedError("c"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::FailedPreconditionError("c"),
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::AbortedError("c"), grpc::StatusCode::ABORTED},
      {absl::OutOfRangeError("c"), grpc::StatusCode::OUT_OF_RANGE},
      {absl::UnimplementedError("c"), grpc::StatusCode::UNIMPLEMENTED},
      {absl::InternalError("c"), grpc::StatusCode::INTERNAL},
      {absl::UnavailableError("c"), grpc::StatusCode::UNAVAILABLE},
      {absl::DataLossError("c"), grpc::StatusCode::DATA_LOSS},
      {absl::UnauthenticatedError("c"), grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& [in, want] : cases) {
    grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(out.error_code(), want) << in;
    EXPECT_EQ(out.error_message(), "c");
  }
  absl::Status odd(static_cast<absl::StatusCode>(42), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::UNKNOWN);
}

TEST(StatusUtilTest, CodeNames) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED),
            "RESOURCE_EXHAUSTED");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN_CODE_99");
}

}  // namespace
}  // namespace hashmatch
