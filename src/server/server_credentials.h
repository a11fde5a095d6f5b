// Server transport credentials from the TLS flags: plaintext, TLS
// (--tls_cert/--tls_key) or mTLS (plus --tls_client_ca: client certificates
// are required and verified against that CA).
//
//   ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
//                    MakeServerCredentials(cert, key, client_ca));
//
// The PEM files are read and checked here with OpenSSL (a certificate parses,
// the key parses and belongs to the certificate, the CA file holds at least
// one certificate), so a bad file is a clear startup error naming the flag
// and path rather than a bind failure later.
//
// Thread safety: pure function.
#ifndef HASHMATCH_SRC_SERVER_SERVER_CREDENTIALS_H_
#define HASHMATCH_SRC_SERVER_SERVER_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace server {

// All three empty: insecure credentials. REQUIRES: cert and key both empty
// or both set; client_ca only with them (ParseServerConfig checks this).
// Errors: the file errors of ReadFileToString, INVALID_ARGUMENT for a file
// that is not the PEM it should be or a key that does not match the cert.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_path, const std::string& key_path,
    const std::string& client_ca_path);

// The client side, for match_server --follow: insecure without a CA; with
// --follow_tls_ca, TLS verifying the primary against it; plus a client
// certificate (mTLS) with --follow_tls_cert/--follow_tls_key. Errors name the
// flag and path.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeFollowChannelCredentials(const std::string& ca_path,
                             const std::string& cert_path,
                             const std::string& key_path);

// Reads a bearer token file given by `flag` (e.g. "--follow_token_file"):
// one token on one line (surrounding whitespace stripped), at most 4096
// bytes. Errors name the flag and path.
absl::StatusOr<std::string> ReadBearerTokenFile(absl::string_view flag,
                                                const std::string& path);

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_SERVER_CREDENTIALS_H_
