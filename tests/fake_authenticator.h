// FakeAuthenticator: a test fake of ingest::Authenticator holding a fixed
// table of bearer tokens, for tests of ingest_server services before (or
// without) the real principal table.
//
//   testing_util::FakeAuthenticator auth;
//   auth.Add("replica-token", "replica-1", hashmatch::v1::ROLE_REPLICA);
//   ReplicationServiceImpl service(store.get(), &auth, options);
//
// Authenticate: no credentials, or an unknown token, is UNAUTHENTICATED;
// certificates are not looked at. Thread safety: Add before use; then
// Authenticate may be called concurrently.
#ifndef HASHMATCH_TESTS_FAKE_AUTHENTICATOR_H_
#define HASHMATCH_TESTS_FAKE_AUTHENTICATOR_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "proto/hashmatch/v1/ingest.pb.h"
#include "src/ingest/authz.h"

namespace hashmatch {
namespace testing_util {

class FakeAuthenticator : public ingest::Authenticator {
 public:
  void Add(const std::string& token, const std::string& name,
           hashmatch::v1::Role role) {
    hashmatch::v1::Principal p;
    p.set_name(name);
    p.add_roles(role);
    p.set_has_token(true);
    principals_[token] = p;
  }
  // Any principal (several roles, may_submit_media, ...).
  void Add(const std::string& token, const hashmatch::v1::Principal& p) {
    principals_[token] = p;
  }

  absl::StatusOr<hashmatch::v1::Principal> Authenticate(
      const ingest::CallCredentials& credentials) const override {
    if (!credentials.has_authorization) {
      return absl::UnauthenticatedError("no credentials");
    }
    auto it = principals_.find(credentials.bearer_token);
    if (it == principals_.end()) {
      return absl::UnauthenticatedError("unknown token");
    }
    return it->second;
  }

 private:
  std::map<std::string, hashmatch::v1::Principal> principals_;
};

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_FAKE_AUTHENTICATOR_H_
