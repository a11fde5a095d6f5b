#include "src/ingest/principal_authenticator.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace ingest {

namespace v1 = ::hashmatch::v1;

absl::StatusOr<v1::Principal> PrincipalAuthenticator::Authenticate(
    const CallCredentials& credentials) const {
  const bool has_cert = !credentials.certificate_cn.empty();
  if (!credentials.has_authorization && !has_cert) {
    return absl::UnauthenticatedError(
        "missing credentials: send metadata \"authorization: Bearer TOKEN\" "
        "or a client certificate (mTLS)");
  }
  if (credentials.has_authorization) {
    if (credentials.bearer_token.empty()) {
      return absl::UnauthenticatedError(
          "malformed authorization metadata (expected \"Bearer TOKEN\")");
    }
    std::optional<v1::Principal> p =
        store_->FindByToken(credentials.bearer_token);
    if (!p) return absl::UnauthenticatedError("unknown bearer token");
    if (p->revoked_at_micros() != 0) {
      return absl::UnauthenticatedError(
          absl::StrCat("principal \"", p->name(), "\" is revoked"));
    }
    if (has_cert && credentials.certificate_cn != p->name()) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the bearer token is principal \"", p->name(),
          "\" but the client certificate is \"",
          absl::CEscape(credentials.certificate_cn), "\": they must agree"));
    }
    return *std::move(p);
  }
  std::optional<v1::Principal> p = store_->Find(credentials.certificate_cn);
  if (!p) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate CN \"", absl::CEscape(credentials.certificate_cn),
        "\" names no principal"));
  }
  if (p->revoked_at_micros() != 0) {
    return absl::UnauthenticatedError(
        absl::StrCat("principal \"", p->name(), "\" is revoked"));
  }
  if (!p->allow_certificate()) {
    return absl::UnauthenticatedError(
        absl::StrCat("principal \"", p->name(),
                     "\" may not authenticate with a client certificate "
                     "(allow_certificate is off); send its bearer token"));
  }
  return *std::move(p);
}

}  // namespace ingest
}  // namespace hashmatch
