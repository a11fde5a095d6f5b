#include "src/ingest/admin_service.h"

#include <filesystem>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "src/ingest/principal_authenticator.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

// Records appended events; fails every Append while `fail` is set.
class RecordingSink : public AuditSink {
 public:
  absl::Status Append(absl::Span<const AuditEvent> events) override {
    std::lock_guard<std::mutex> lock(mu);
    if (fail) return absl::UnavailableError("audit disk full");
    recorded.insert(recorded.end(), events.begin(), events.end());
    return absl::OkStatus();
  }
  std::mutex mu;
  bool fail = false;
  std::vector<AuditEvent> recorded;
};

class AdminServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "admin_service_XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    auto store = PrincipalStore::Open(dir_, {});
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    v1::Principal root;
    root.set_name("root");
    root.add_roles(v1::ROLE_ADMIN);
    auto added = store_->Add(root, true);
    ASSERT_TRUE(added.ok());
    admin_ = Token(added->token);
    auth_ = std::make_unique<PrincipalAuthenticator>(store_.get());
    service_ =
        std::make_unique<AdminServiceImpl>(auth_.get(), store_.get(), &sink_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static CallCredentials Token(const std::string& t) {
    CallCredentials c;
    c.has_authorization = true;
    c.bearer_token = t;
    return c;
  }
  static v1::AddPrincipalRequest AddRequest(const std::string& name,
                                            v1::Role role) {
    v1::AddPrincipalRequest r;
    r.mutable_principal()->set_name(name);
    r.mutable_principal()->add_roles(role);
    r.set_issue_token(true);
    return r;
  }

  std::string dir_;
  std::unique_ptr<PrincipalStore> store_;
  std::unique_ptr<PrincipalAuthenticator> auth_;
  RecordingSink sink_;
  std::unique_ptr<AdminServiceImpl> service_;
  CallCredentials admin_;
};

TEST_F(AdminServiceTest, AddListRevokeAreAudited) {
  auto added =
      service_->DoAddPrincipal(admin_, AddRequest("hotline", v1::ROLE_AGENCY));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_FALSE(added->token().empty());
  EXPECT_TRUE(added->principal().has_token());
  ASSERT_EQ(sink_.recorded.size(), 1u);
  const AuditEvent& add = sink_.recorded[0];
  EXPECT_EQ(add.actor, "root");
  EXPECT_EQ(add.action, "principal_add");
  EXPECT_EQ(add.target, "principal:hotline");
  EXPECT_TRUE(add.state_before.empty());
  v1::Principal after;
  ASSERT_TRUE(after.ParseFromString(add.state_after));
  EXPECT_EQ(after.name(), "hotline");
  EXPECT_EQ(add.state_after.find(added->token()), std::string::npos);

  auto list = service_->DoListPrincipals(admin_, {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->principals_size(), 2);
  EXPECT_EQ(list->principals(0).name(), "hotline");
  EXPECT_EQ(list->principals(1).name(), "root");

  v1::RevokePrincipalRequest revoke;
  revoke.set_name("hotline");
  EXPECT_EQ(service_->DoRevokePrincipal(admin_, revoke).status().code(),
            absl::StatusCode::kInvalidArgument);  // No reason.
  revoke.set_reason("left the programme");
  auto revoked = service_->DoRevokePrincipal(admin_, revoke);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_NE(revoked->revoked_at_micros(), 0);
  ASSERT_EQ(sink_.recorded.size(), 2u);
  const AuditEvent& rev = sink_.recorded[1];
  EXPECT_EQ(rev.action, "principal_revoke");
  EXPECT_EQ(rev.detail, "left the programme");
  EXPECT_FALSE(rev.state_before.empty());
  EXPECT_NE(rev.state_before, rev.state_after);

  EXPECT_EQ(service_->DoListPrincipals(admin_, {})->principals_size(), 1);
  v1::ListPrincipalsRequest all;
  all.set_include_revoked(true);
  EXPECT_EQ(service_->DoListPrincipals(admin_, all)->principals_size(), 2);
  // The revoked principal's token no longer works.
  EXPECT_EQ(
      service_->DoListPrincipals(Token(added->token()), {}).status().code(),
      absl::StatusCode::kUnauthenticated);
}

TEST_F(AdminServiceTest, EveryRpcChecksTheRole) {
  auto agency =
      service_->DoAddPrincipal(admin_, AddRequest("agency", v1::ROLE_AGENCY));
  ASSERT_TRUE(agency.ok());
  const CallCredentials a = Token(agency->token());
  EXPECT_EQ(service_->DoAddPrincipal(a, AddRequest("x", v1::ROLE_ADMIN))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->DoListPrincipals(a, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::RevokePrincipalRequest revoke;
  revoke.set_name("root");
  revoke.set_reason("coup");
  EXPECT_EQ(service_->DoRevokePrincipal(a, revoke).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->DoListPrincipals(CallCredentials(), {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(sink_.recorded.size(), 1u);  // Only the agency's addition.
}

TEST_F(AdminServiceTest, TheLastAdminCannotBeRevoked) {
  v1::RevokePrincipalRequest revoke;
  revoke.set_name("root");
  revoke.set_reason("oops");
  absl::Status s = service_->DoRevokePrincipal(admin_, revoke).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("last active admin"), std::string::npos);
  ASSERT_TRUE(
      service_->DoAddPrincipal(admin_, AddRequest("root2", v1::ROLE_ADMIN))
          .ok());
  EXPECT_TRUE(service_->DoRevokePrincipal(admin_, revoke).ok());
  revoke.set_name("nobody");
  auto other =
      service_->DoAddPrincipal(admin_, AddRequest("z", v1::ROLE_ADMIN));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AdminServiceTest, StoreErrorsPassThroughAndAuditFailureIsReported) {
  EXPECT_EQ(service_->DoAddPrincipal(admin_, AddRequest("root", v1::ROLE_ADMIN))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      service_->DoAddPrincipal(admin_, AddRequest("bad name", v1::ROLE_ADMIN))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  v1::RevokePrincipalRequest revoke;
  revoke.set_name("ghost");
  revoke.set_reason("r");
  EXPECT_EQ(service_->DoRevokePrincipal(admin_, revoke).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(sink_.recorded.empty());

  sink_.fail = true;
  auto added =
      service_->DoAddPrincipal(admin_, AddRequest("late", v1::ROLE_AUDITOR));
  EXPECT_EQ(added.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(added.status().message().find(
                "\"late\" was added but its audit record could not be written"),
            std::string::npos)
      << added.status();
  EXPECT_TRUE(store_->Find("late").has_value());
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
