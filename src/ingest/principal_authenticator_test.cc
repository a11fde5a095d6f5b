#include "src/ingest/principal_authenticator.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

class PrincipalAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "principal_auth_XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    auto store = PrincipalStore::Open(dir_, {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    agency_token_ = Add("agency-a", v1::ROLE_AGENCY, true, false);
    both_token_ = Add("both", v1::ROLE_AUDITOR, true, true);
    Add("cert-only", v1::ROLE_REPLICA, false, true);
    revoked_token_ = Add("gone", v1::ROLE_PLATFORM, true, true);
    ASSERT_TRUE(store_->Revoke("gone").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Add(const std::string& name, v1::Role role, bool token,
                  bool cert) {
    v1::Principal p;
    p.set_name(name);
    p.add_roles(role);
    p.set_allow_certificate(cert);
    auto added = store_->Add(p, token);
    EXPECT_TRUE(added.ok()) << added.status();
    return added.ok() ? added->token : "";
  }

  static CallCredentials Token(const std::string& t) {
    CallCredentials c;
    c.has_authorization = true;
    c.bearer_token = t;
    return c;
  }
  static CallCredentials Cert(const std::string& cn) {
    CallCredentials c;
    c.certificate_cn = cn;
    return c;
  }

  // The UNAUTHENTICATED message, or "OK:<name>".
  std::string Outcome(const CallCredentials& c) {
    PrincipalAuthenticator auth(store_.get());
    absl::StatusOr<v1::Principal> p = auth.Authenticate(c);
    if (p.ok()) return "OK:" + p->name();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
    return std::string(p.status().message());
  }

  std::string dir_;
  std::unique_ptr<PrincipalStore> store_;
  std::string agency_token_, both_token_, revoked_token_;
};

TEST_F(PrincipalAuthenticatorTest, TokensAndCertificates) {
  EXPECT_EQ(Outcome(Token(agency_token_)), "OK:agency-a");
  EXPECT_EQ(Outcome(Cert("cert-only")), "OK:cert-only");
  EXPECT_EQ(Outcome(Cert("both")), "OK:both");
  // Token and certificate naming the same principal; the certificate need
  // not be allowed when the token authenticates.
  CallCredentials same = Token(agency_token_);
  same.certificate_cn = "agency-a";
  EXPECT_EQ(Outcome(same), "OK:agency-a");
}

TEST_F(PrincipalAuthenticatorTest, EachFailureHasItsMessage) {
  auto has = [](const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(Outcome(CallCredentials()), "missing credentials"));
  CallCredentials malformed;
  malformed.has_authorization = true;
  EXPECT_TRUE(has(Outcome(malformed), "malformed authorization"));
  EXPECT_EQ(Outcome(Token("hm_not-a-token")), "unknown bearer token");
  EXPECT_EQ(Outcome(Token(revoked_token_)), "principal \"gone\" is revoked");
  EXPECT_EQ(Outcome(Cert("gone")), "principal \"gone\" is revoked");
  EXPECT_TRUE(has(Outcome(Cert("stranger")),
                  "client certificate CN \"stranger\" names no principal"));
  EXPECT_TRUE(has(Outcome(Cert("agency-a")),
                  "may not authenticate with a client certificate"));
  CallCredentials mismatch = Token(agency_token_);
  mismatch.certificate_cn = "cert-only";
  const std::string m = Outcome(mismatch);
  EXPECT_TRUE(has(m, "bearer token is principal \"agency-a\"")) << m;
  EXPECT_TRUE(has(m, "client certificate is \"cert-only\"")) << m;
  // No message ever contains a token.
  for (const std::string& t : {agency_token_, both_token_, revoked_token_}) {
    EXPECT_FALSE(has(Outcome(Token(t + "x")), t));
    EXPECT_FALSE(has(m, t));
  }
}

TEST_F(PrincipalAuthenticatorTest, AuthorizeUsesTheRoleTable) {
  PrincipalAuthenticator auth(store_.get());
  absl::StatusOr<v1::Principal> p =
      Authorize(auth, Token(agency_token_), IngestRpc::kSubmit);
  ASSERT_TRUE(p.ok()) << p.status();
  p = Authorize(auth, Token(agency_token_), IngestRpc::kAddPrincipal);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied);
  p = Authorize(auth, Token(revoked_token_), IngestRpc::kDispute);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
