#include "src/ingest/authz.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

// Authenticates the token "<name>" as a principal with the role named by
// the token's prefix ("agency-...", "admin-", ...); no token: UNAUTHENTICATED.
class FakeAuthenticator : public Authenticator {
 public:
  absl::StatusOr<v1::Principal> Authenticate(
      const CallCredentials& credentials) const override {
    if (credentials.bearer_token.empty()) {
      return absl::UnauthenticatedError("missing credentials");
    }
    v1::Principal p;
    p.set_name(credentials.bearer_token);
    for (int r = v1::ROLE_AGENCY; r <= v1::ROLE_ADMIN; ++r) {
      std::string role = v1::Role_Name(static_cast<v1::Role>(r));
      if (credentials.bearer_token == role) {
        p.add_roles(static_cast<v1::Role>(r));
      }
    }
    return p;
  }
};

TEST(AuthzTest, TableIsInEnumOrderAndEveryRpcHasRoles) {
  const std::vector<IngestRpc>& all = AllIngestRpcs();
  ASSERT_EQ(all.size(), static_cast<size_t>(IngestRpc::kRevokePrincipal) + 1);
  std::set<std::string> names;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(all[i]), i);
    EXPECT_FALSE(AllowedRoles(all[i]).empty()) << RpcName(all[i]);
    EXPECT_TRUE(names.insert(std::string(RpcName(all[i]))).second);
  }
}

TEST(AuthzTest, MatrixOfRoleAndRpc) {
  FakeAuthenticator auth;
  for (IngestRpc rpc : AllIngestRpcs()) {
    for (int r = v1::ROLE_AGENCY; r <= v1::ROLE_ADMIN; ++r) {
      const v1::Role role = static_cast<v1::Role>(r);
      CallCredentials creds;
      creds.bearer_token = v1::Role_Name(role);
      absl::StatusOr<v1::Principal> got = Authorize(auth, creds, rpc);
      const std::vector<v1::Role>& allowed = AllowedRoles(rpc);
      const bool want =
          std::find(allowed.begin(), allowed.end(), role) != allowed.end();
      if (want) {
        EXPECT_TRUE(got.ok()) << RpcName(rpc) << " " << creds.bearer_token;
      } else {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied)
            << RpcName(rpc) << " " << creds.bearer_token;
        EXPECT_TRUE(absl::StrContains(got.status().message(), RpcName(rpc)));
      }
    }
    EXPECT_EQ(Authorize(auth, CallCredentials(), rpc).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
}

TEST(AuthzTest, SpotChecksOfTheTable) {
  auto allowed = [](IngestRpc rpc, v1::Role role) {
    const auto& roles = AllowedRoles(rpc);
    return std::find(roles.begin(), roles.end(), role) != roles.end();
  };
  EXPECT_TRUE(allowed(IngestRpc::kSubmit, v1::ROLE_AGENCY));
  EXPECT_FALSE(allowed(IngestRpc::kSubmit, v1::ROLE_PLATFORM));
  EXPECT_FALSE(allowed(IngestRpc::kSubmit, v1::ROLE_ADMIN));
  EXPECT_TRUE(allowed(IngestRpc::kDispute, v1::ROLE_PLATFORM));
  EXPECT_FALSE(allowed(IngestRpc::kDispute, v1::ROLE_AGENCY));
  EXPECT_TRUE(allowed(IngestRpc::kWatchChanges, v1::ROLE_REPLICA));
  EXPECT_FALSE(allowed(IngestRpc::kWatchChanges, v1::ROLE_AGENCY));
  EXPECT_TRUE(allowed(IngestRpc::kReadAuditLog, v1::ROLE_AUDITOR));
  EXPECT_FALSE(allowed(IngestRpc::kReadAuditLog, v1::ROLE_PLATFORM));
  EXPECT_TRUE(allowed(IngestRpc::kAddPrincipal, v1::ROLE_ADMIN));
  EXPECT_FALSE(allowed(IngestRpc::kAddPrincipal, v1::ROLE_AUDITOR));
}

TEST(AuthzTest, DeniedMessageNamesPrincipalAndRoles) {
  FakeAuthenticator auth;
  CallCredentials creds;
  creds.bearer_token = "ROLE_PLATFORM";
  absl::StatusOr<v1::Principal> got =
      Authorize(auth, creds, IngestRpc::kRetract);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(got.status().message(),
            "IngestService/Retract needs role agency; principal "
            "\"ROLE_PLATFORM\" has none of them");
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
